"""Fault injection for the demo backends: the classroom's way of breaking things on purpose.

Every call validates its input and returns ``(ok, message)`` instead of raising, so the UI and
the admin API can show the message as is. On failure nothing changed.
"""

from __future__ import annotations

import math
from typing import Any

from workbench.demo.backends import DEFAULT_FLAP_PERIOD, DemoBackend

MAX_LATENCY = 30.0
"""Seconds of added latency accepted; beyond that every proxy timeout fires anyway."""


class FaultInjector:
    """Kill, revive, slow down or sicken the demo backends by name."""

    def __init__(self, backends: dict[str, DemoBackend]) -> None:
        self.backends = backends

    def _get(self, name: Any) -> DemoBackend | str:
        backend = self.backends.get(name) if isinstance(name, str) else None
        if backend is None:
            known = ", ".join(self.backends) or "none"
            return f"no demo backend named {name!r} (backends: {known})"
        return backend

    async def kill(self, name: str) -> tuple[bool, str]:
        """Stop the backend listening: connections to it are refused until revived."""
        b = self._get(name)
        if isinstance(b, str):
            return False, b
        if b.killed:
            return False, f"{name} is already down"
        await b.kill()
        return True, f"{name} killed: connections to port {b.port} are refused"

    async def revive(self, name: str) -> tuple[bool, str]:
        """Listen again on the same port."""
        b = self._get(name)
        if isinstance(b, str):
            return False, b
        if not b.killed:
            return False, f"{name} is already up"
        try:
            await b.revive()
        except OSError as exc:
            return False, f"{name}: cannot listen on port {b.port} again: {exc.strerror or exc}"
        return True, f"{name} revived on port {b.port}"

    def set_latency(self, name: str, seconds: Any) -> tuple[bool, str]:
        """Add ``seconds`` (0..30) to every response of the backend."""
        b = self._get(name)
        if isinstance(b, str):
            return False, b
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 <= seconds <= MAX_LATENCY
        ):
            return False, f"latency: expected 0 to {MAX_LATENCY:g} seconds, got {seconds!r}"
        b.extra_latency = float(seconds)
        if seconds == 0:
            return True, f"{name}: extra latency removed"
        return True, f"{name}: +{seconds * 1000:.0f} ms on every response"

    def set_error_rate(self, name: str, rate: Any) -> tuple[bool, str]:
        """Answer that share (0..1) of requests with 500."""
        b = self._get(name)
        if isinstance(b, str):
            return False, b
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not math.isfinite(rate)
            or not 0 <= rate <= 1
        ):
            return False, f"error rate: expected a share from 0 to 1, got {rate!r}"
        b.error_rate = float(rate)
        return True, f"{name}: {rate:.0%} of requests answer 500"

    def set_health_fail(self, name: str, fail: Any) -> tuple[bool, str]:
        """Make /healthz answer 503 (the backend still serves everything else)."""
        b = self._get(name)
        if isinstance(b, str):
            return False, b
        if not isinstance(fail, bool):
            return False, f"health fail: expected true or false, got {fail!r}"
        b.health_fail = fail
        return True, f"{name}: /healthz answers {'503' if fail else '200'}"

    def set_flap(self, name: str, flap: Any, period: Any = DEFAULT_FLAP_PERIOD) -> tuple[bool, str]:
        """Make /healthz alternate between failing and passing every ``period`` seconds."""
        b = self._get(name)
        if isinstance(b, str):
            return False, b
        if not isinstance(flap, bool):
            return False, f"flap: expected true or false, got {flap!r}"
        if (
            isinstance(period, bool)
            or not isinstance(period, int | float)
            or not math.isfinite(period)
            or not 0.1 <= period <= 600
        ):
            return False, f"flap period: expected 0.1 to 600 seconds, got {period!r}"
        b.set_flap(float(period) if flap else 0.0)
        if flap:
            return True, f"{name}: health flaps every {period:g} s"
        return True, f"{name}: health stops flapping"

    def state(self) -> dict[str, dict[str, Any]]:
        """Plain data per backend, for the UI and the admin API."""
        return {
            name: {
                "name": name,
                "url": b.url,
                "port": b.port,
                "killed": b.killed,
                "extra_latency": b.extra_latency,
                "error_rate": b.error_rate,
                "health_fail": b.health_fail,
                "flap": b.flap,
                "healthy": not b.killed and b.healthy(),
                "latency_ms": [b.base_ms, b.jitter_ms],
                "requests": b.requests,
                "errors": b.errors,
            }
            for name, b in self.backends.items()
        }
