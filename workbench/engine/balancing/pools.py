"""Live state of pools and backends: weights, user switches, health results, the balancer.

One owner per piece of state: the user's weight/enabled/draining are set only through control;
health results (active and passive) live in their own fields, so a check never overwrites a weight.
A pool's balancer is rebuilt (and swapped in one assignment) whenever the eligible set changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from workbench.config.model import BackendConfig, PoolConfig
from workbench.engine.balancing.algorithms import make_balancer
from workbench.engine.http.upstream_pool import UpstreamPool
from workbench.engine.observe.events import Event, EventLog  # noqa: F401 (re-exported)
from workbench.engine.snapshot import expected_share

STATES = ("up", "down", "ejected", "draining", "disabled")


class Backend:
    """One backend server of a pool."""

    def __init__(self, config: BackendConfig, pool: str, upstream: UpstreamPool) -> None:
        parts = urlsplit(config.url)
        self.name = config.name
        self.pool = pool
        self.url = config.url
        self.scheme = parts.scheme or "http"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.weight = config.weight
        self.enabled = True
        self.draining = False
        self.healthy = True
        """Verdict of the active health checks (True when checks are off)."""
        self.ejected_until = 0.0
        self.eject_count = 0
        self.consecutive_failures = 0
        self.check_passes = 0
        self.check_fails = 0
        self.last_check: tuple[float, bool, str] | None = None
        self.inflight = 0
        self.upstream = upstream
        self.state = "up"
        self.state_since = time.time()
        self.state_reason = "configured"

    def release(self, up) -> None:
        """The request that took ``up`` is done with it: one fewer in flight, connection back."""
        self.inflight -= 1
        self.upstream.release(up)

    def compute_state(self, now: float) -> str:
        if not self.enabled:
            return "disabled"
        if self.draining:
            return "draining"
        if self.ejected_until > now:
            return "ejected"
        if not self.healthy:
            return "down"
        return "up"

    def to_dict(self) -> dict:
        last = self.last_check
        return {
            "name": self.name,
            "url": self.url,
            "weight": self.weight,
            "state": self.state,
            "state_since": self.state_since,
            "state_reason": self.state_reason,
            "enabled": self.enabled,
            "draining": self.draining,
            "inflight": self.inflight,
            "ejected_until": self.ejected_until or None,
            "consecutive_failures": self.consecutive_failures,
            "last_check": (
                {"time": last[0], "ok": last[1], "detail": last[2]} if last is not None else None
            ),
            "connections": self.upstream.size,
        }


class Pool:
    """A named group of backends behind one balancer."""

    def __init__(
        self,
        config: PoolConfig,
        upstream_factory: Callable[[BackendConfig, PoolConfig], UpstreamPool],
        events: EventLog,
    ) -> None:
        self.name = config.name
        self.config = config
        self.algorithm = config.algorithm
        self.events = events
        self.backends: dict[str, Backend] = {
            b.name: Backend(b, config.name, upstream_factory(b, config)) for b in config.backends
        }
        self.balancer = self._make_balancer()
        self._pick_steps: dict[str, tuple[str, str, str]] = {}
        self._pick_steps_of: object = None

    def pick_step(self, name: str) -> tuple[str, str, str] | None:
        """The trace step of the balancer's pick of ``name``, made once per backend while the
        balancer stays the same (records share the tuple); None when the explanation depends
        on the pick itself."""
        balancer = self.balancer
        if not balancer.steady:
            return None
        if self._pick_steps_of is not balancer:
            self._pick_steps = {}
            self._pick_steps_of = balancer
        step = self._pick_steps.get(name)
        if step is None:
            step = self._pick_steps[name] = ("balancer", f"→ {name}", balancer.explain(name))
        return step

    def _inflight(self, name: str) -> int:
        b = self.backends.get(name)
        return b.inflight if b is not None else 0

    def _make_balancer(self):
        eligible = {b.name: b.weight for b in self.backends.values() if b.state == "up"}
        return make_balancer(self.algorithm, eligible, inflight=self._inflight)

    def refresh(self, reason: str = "", who: str = "engine") -> None:
        """Recompute every backend's state; log changes; swap in a new balancer."""
        now = time.time()
        for b in self.backends.values():
            new = b.compute_state(now)
            if new != b.state:
                old = b.state
                b.state = new
                b.state_since = now
                b.state_reason = reason or new
                self.events.add(
                    "health" if who == "engine" else "edit",
                    f"{self.name}/{b.name}: {old} → {new}" + (f" ({reason})" if reason else ""),
                    who,
                )
        self.balancer = self._make_balancer()

    def set_algorithm(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.balancer = self._make_balancer()

    def to_dict(self) -> dict:
        up_weights = [b.weight for b in self.backends.values() if b.state == "up"]
        out = []
        for b in self.backends.values():
            d = b.to_dict()
            # The one rule the UI and the admin API share: None when only the traffic decides.
            d["expected_share"] = expected_share(self.algorithm, b.weight, b.state, up_weights)
            out.append(d)
        return {
            "name": self.name,
            "algorithm": self.algorithm,
            "retries": self.config.retries,
            "health": self.config.health is not None,
            "backends": out,
        }
