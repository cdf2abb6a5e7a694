"""Demo traffic: a steady, realistic mix of requests through both proxies.

Reverse-proxy traffic looks like browsers visiting a site (pages, assets, API calls, a language
switch, the odd slow request). Forward-proxy traffic looks like clients browsing through a proxy:
absolute URLs to the demo backends' own addresses, plus an occasional tracker pixel that the
``block-tracker`` rule answers before any name lookup happens.

The generator only ever talks to the configured proxies, and through the forward proxy only to
loopback origins (and the fake ``tracker.test``, which the proxy's rule answers).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import math
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

MAX_RATE = 1000.0
"""Requests per second the generator accepts; more would starve the proxy it is feeding."""

TRACKER_URL = "http://tracker.test/pixel"

_LANGUAGES = (
    "en",
    "fr",
    "de",
    "fr-CA,fr;q=0.9,en;q=0.5",
    "de-DE,de;q=0.9,en;q=0.4",
    "es, en;q=0.8",
)


@dataclass(frozen=True, slots=True)
class Shot:
    """One kind of request in the mix: which proxy, which URL, which extra headers."""

    via: str
    """``reverse`` (URL relative to the reverse proxy) or ``forward`` (absolute URL)."""
    url: str
    headers: tuple[tuple[str, str], ...] = ()


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_mix(reverse: bool, origins: list[str]) -> list[tuple[Shot, float]]:
    """The weighted request mix for the proxies that exist (pure; the tests inspect it)."""
    mix: list[tuple[Shot, float]] = []
    if reverse:
        mix += [
            (Shot("reverse", "/"), 18),
            (Shot("reverse", "/static/app.css"), 10),
            (Shot("reverse", "/static/logo.png"), 8),
            (Shot("reverse", "/api/items"), 12),
            (Shot("reverse", "/api/items/3"), 8),
            (Shot("reverse", "/etag"), 6),
            (Shot("reverse", "/private"), 4),
            (Shot("reverse", "/slow"), 1),
        ]
        share = 6 / len(_LANGUAGES)
        mix += [
            (Shot("reverse", "/lang", (("Accept-Language", lang),)), share) for lang in _LANGUAGES
        ]
    if origins:
        per = 1 / len(origins)
        for origin in origins:
            base = origin.rstrip("/")
            mix += [
                (Shot("forward", base + "/"), 5 * per),
                (Shot("forward", base + "/echo"), 6 * per),
                (Shot("forward", base + "/static/app.css"), 4 * per),
                (Shot("forward", base + "/api/items"), 3 * per),
            ]
        mix.append((Shot("forward", TRACKER_URL), 2))
    return mix


class TrafficGenerator:
    """Sends the demo mix at a steady rate; counts what came back.

    ``ok`` counts answered requests below 500 (a 403 from a block rule is the proxy working);
    ``failed`` counts 5xx answers and requests that got no answer (refused, reset, timed out).
    ``by_class`` breaks both down: ``2xx``..``5xx`` and ``error``. When ``max_in_flight``
    requests are already outstanding a tick is skipped (counted in ``skipped``) rather than
    queued, so a stalled proxy never builds a backlog that floods it when it recovers.
    """

    def __init__(
        self,
        reverse_url: str | None,
        forward_url: str | None = None,
        origins: list[str] | None = None,
        *,
        rate: float = 20.0,
        max_in_flight: int = 50,
        timeout: float = 5.0,
        seed: int | None = None,
    ) -> None:
        origins = list(origins or []) if forward_url else []
        for url in origins:
            if not _is_loopback(url):
                raise ValueError(f"demo traffic only goes to loopback origins, not {url}")
        ok, message = _check_rate(rate)
        if not ok:
            raise ValueError(message)
        self.reverse_url = reverse_url.rstrip("/") if reverse_url else None
        self.forward_url = forward_url
        self.origins = origins
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        mix = build_mix(self.reverse_url is not None, origins)
        if not mix:
            raise ValueError("demo traffic needs a reverse proxy or a forward proxy to talk to")
        self._shots = [shot for shot, _ in mix]
        self._cum_weights = list(itertools.accumulate(w for _, w in mix))
        self._rng = random.Random(seed)
        self._rate = float(rate)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0
        self.ok = 0
        self.failed = 0
        self.skipped = 0
        self.by_class: dict[str, int] = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "error": 0}
        self.last_error: str | None = None

    # -- control ----------------------------------------------------------------------------
    @property
    def rate(self) -> float:
        return self._rate

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def set_rate(self, rate: Any) -> tuple[bool, str]:
        """Change the rate (0 pauses); takes effect at once, without a catch-up burst."""
        ok, message = _check_rate(rate)
        if ok:
            self._rate = float(rate)
            self._wake.set()
            message = f"demo traffic: {self._rate:g} req/s"
        return ok, message

    def start(self) -> None:
        """Start sending (from inside the running event loop). Starting twice is harmless."""
        if self.running:
            return
        self._loop_task = asyncio.get_running_loop().create_task(self._pace())

    async def stop(self) -> None:
        """Stop sending, abandon requests in flight and close the client session."""
        task, self._loop_task = self._loop_task, None
        pending = [t for t in (task, *self._tasks) if t is not None and not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def counters(self) -> dict[str, Any]:
        """Plain data for the UI."""
        return {
            "running": self.running,
            "rate": self._rate,
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "in_flight": self.in_flight,
            "by_class": dict(self.by_class),
            "last_error": self.last_error,
        }

    async def burst(self, n: int, path: str = "/api/items") -> list[int | None]:
        """Send ``n`` concurrent requests for one URL; their statuses (None: no answer).

        The same cacheable URL at once shows request collapsing in the cache; on a pool using
        least-connections it shows requests spreading over the backends.
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.max_in_flight:
            raise ValueError(f"n: expected 1 to {self.max_in_flight}, got {n!r}")
        if self.reverse_url is not None:
            shot = Shot("reverse", path)
        else:
            shot = Shot("forward", self.origins[0].rstrip("/") + path if self.origins else path)
        tasks = [self._spawn(shot) for _ in range(n)]
        return list(await asyncio.gather(*tasks))

    # -- sending ----------------------------------------------------------------------------
    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_in_flight),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": "workbench-demo-traffic/1.0"},
                # A shared cookie jar would make the mix depend on earlier answers.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def pick(self) -> Shot:
        """The next request of the mix."""
        return self._rng.choices(self._shots, cum_weights=self._cum_weights)[0]

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            rate = self._rate
            if rate <= 0:
                self._wake.clear()
                await self._wake.wait()
                next_at = loop.time()
                continue
            delay = next_at - loop.time()
            if delay > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
                else:
                    # The rate changed while waiting: restart the schedule from now.
                    next_at = loop.time()
                    continue
            if len(self._tasks) >= self.max_in_flight:
                self.skipped += 1
            else:
                self._spawn(self.pick())
            # Scheduling from the previous target, not from "now", keeps the rate exact; after
            # a long stall, restart from now instead of firing a catch-up burst.
            next_at += 1.0 / rate
            now = loop.time()
            if now - next_at > 1.0:
                next_at = now

    def _spawn(self, shot: Shot) -> asyncio.Task[int | None]:
        task = asyncio.get_running_loop().create_task(self._send(shot))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _send(self, shot: Shot) -> int | None:
        session = self._ensure_session()
        self.sent += 1
        if shot.via == "reverse":
            url, proxy = f"{self.reverse_url}{shot.url}", None
        else:
            url, proxy = shot.url, self.forward_url
        try:
            async with session.get(
                url, headers=dict(shot.headers) if shot.headers else None, proxy=proxy
            ) as resp:
                await resp.read()
                status = resp.status
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.failed += 1
            self.by_class["error"] += 1
            self.last_error = f"{url}: {exc.__class__.__name__}: {exc}".rstrip(": ")
            return None
        cls = f"{min(max(status // 100, 2), 5)}xx"
        self.by_class[cls] += 1
        if status >= 500:
            self.failed += 1
        else:
            self.ok += 1
        return status


def _check_rate(rate: Any) -> tuple[bool, str]:
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        return False, f"rate: expected a number of requests per second, got {rate!r}"
    if not math.isfinite(rate) or not 0 <= rate <= MAX_RATE:
        return False, f"rate: expected 0 to {MAX_RATE:g} requests per second, got {rate:g}"
    return True, ""
