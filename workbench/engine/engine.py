"""The Engine: lifecycle of the listeners, sweepers and background tasks around the live state.

Recording lives in :mod:`workbench.engine.observe.recorder`, snapshot building in
:mod:`workbench.engine.snapshot`, every change in :mod:`workbench.engine.control`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from workbench.config.model import BackendConfig, Config, PoolConfig
from workbench.engine.balancing.health import HealthChecker
from workbench.engine.balancing.pools import EventLog, Pool
from workbench.engine.cache import HttpCache
from workbench.engine.http.server import HttpServer
from workbench.engine.http.upstream_pool import UpstreamPool
from workbench.engine.observe.history import History
from workbench.engine.observe.recorder import Recorder
from workbench.engine.observe.records import RecordLog
from workbench.engine.observe.stats import Stats
from workbench.engine.pipeline.cache_stage import CacheLayer
from workbench.engine.rules.ruleset import RuleSet
from workbench.engine.snapshot import (
    CacheEntryView,
    EngineSnapshot,
    cache_entries,
)
from workbench.engine.snapshot_data import metrics_data, state_data


class Engine:
    """Both proxies, their shared pipeline state, and the one place live state is changed."""

    def __init__(self, config: Config, *, record_capacity: int = 10_000) -> None:
        self.config = config
        self.records = RecordLog(
            record_capacity,
            body_cap=config.records.body_cap,
            body_budget=config.records.body_budget,
        )
        self.stats = Stats(
            max_origins=config.forward.max_origin_stats if config.forward is not None else 256
        )
        self.history = History()
        """Five minutes of per-second samples for the charts (filled by the sweeper)."""
        self.events = EventLog()
        self.recorder = Recorder(self.records, self.stats, self.events)
        """Record ids, finishing records, error counts (bind its methods once, off the hot path)."""
        self.ruleset = RuleSet.compile(list(config.rules))
        self.rule_configs = list(config.rules)
        self.cache = HttpCache.from_config(config.cache)
        self.cache_layer = CacheLayer(self, self.cache)
        self.pools: dict[str, Pool] = {}
        self.listeners: dict[str, str] = {}
        self.servers: dict[str, HttpServer] = {}
        self.checkers: list[HealthChecker] = []
        self.reverse = None
        self.forward = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.started_at = 0.0
        from workbench.engine.hold import HoldPoint

        self.hold = HoldPoint(config.hold)
        """Intercept filter and the exchanges it holds (``control.set_hold`` and friends)."""
        self.replays: dict[str, tuple[int, int]] = {}
        """Replays in flight: marker token → (original record id, reserved new id)."""
        self.demo = None
        """The classroom's DemoWorld when one runs (set by the runtime)."""
        from workbench.engine.control import Control

        self.control = Control(self)

    # -- lifecycle --------------------------------------------------------------------------
    def _upstream_for(self, backend: BackendConfig, pool: PoolConfig) -> UpstreamPool:
        from urllib.parse import urlsplit

        parts = urlsplit(backend.url)
        ssl = None
        if parts.scheme == "https":
            import ssl as _ssl

            ssl = _ssl.create_default_context()
        limits = self.config.reverse.limits if self.config.reverse else None
        return UpstreamPool(
            parts.hostname or "127.0.0.1",
            parts.port or (443 if parts.scheme == "https" else 80),
            max_connections=limits.max_connections_per_backend if limits else 256,
            connect_timeout=pool.timeouts.connect,
            idle_timeout=pool.timeouts.idle,
            ssl=ssl,
            server_hostname=parts.hostname,
            max_header_size=limits.max_header_size if limits else 65536,
        )

    async def start(self) -> None:
        """Open every configured listener and start health checks."""
        from workbench.engine.modes.reverse import ReverseProxy

        self.started_at = time.time()
        cfg = self.config
        if cfg.reverse is not None:
            for pool_cfg in cfg.reverse.pools.values():
                self.pools[pool_cfg.name] = Pool(pool_cfg, self._upstream_for, self.events)
            self.reverse = ReverseProxy(self, cfg.reverse)
            ssl_ctx = _server_ssl(cfg.reverse.tls)
            server = HttpServer(
                self.reverse.handle,
                cfg.reverse.limits,
                on_error=self.recorder.internal_error,
                on_bad_request=self.recorder.bad_request_recorder("reverse"),
            )
            host, port = await server.start(
                cfg.reverse.listen.host, cfg.reverse.listen.port, ssl_ctx
            )
            self.servers["reverse"] = server
            scheme = "https" if ssl_ctx else "http"
            self.listeners["reverse"] = f"{scheme}://{_fmt_host(host)}:{port}"
            for pool in self.pools.values():
                if pool.config.health is not None:
                    checker = HealthChecker(pool, pool.config.health)
                    checker.start()
                    self.checkers.append(checker)
        if cfg.forward is not None:
            from workbench.engine.modes.forward import ForwardProxy

            self.forward = ForwardProxy(self, cfg.forward)
            server = HttpServer(
                self.forward.handle,
                cfg.forward.limits,
                on_error=self.recorder.internal_error,
                on_bad_request=self.recorder.bad_request_recorder("forward"),
            )
            host, port = await server.start(cfg.forward.listen.host, cfg.forward.listen.port)
            self.servers["forward"] = server
            self.listeners["forward"] = f"http://{_fmt_host(host)}:{port}"
            self.forward.set_own_address(host, port)
            await self.forward.learn_local_addresses()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        for kind, url in self.listeners.items():
            self.events.add("info", f"{kind} proxy listening on {url}")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let in-flight requests finish (up to ``grace``), close everything."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.hold.release_all()
        await asyncio.gather(*(s.stop(grace) for s in self.servers.values()))
        for checker in self.checkers:
            await checker.stop()
        for pool in self.pools.values():
            for b in pool.backends.values():
                b.upstream.close()
        if self.forward is not None:
            self.forward.close()
        for task in list(self._tasks):
            task.cancel()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for pool in self.pools.values():
                for b in pool.backends.values():
                    b.upstream.sweep(now)
            if self.forward is not None:
                self.forward.sweep(now)
            self.sample_history()

    def sample_history(self) -> None:
        """Add the seconds completed since the last call to :attr:`history` (once a second)."""
        names = [name for pool in self.pools.values() for name in pool.backends]
        self.history.sample(self.stats, names, self.cache.stats(), self.stats.clock(), time.time())

    def spawn(self, coro) -> asyncio.Task[Any]:
        """Run a background task and keep a reference so it is not collected mid-flight."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- reading ----------------------------------------------------------------------------
    def records_since(self, cursor: int = 0, limit: int = 1000):
        """Records after ``cursor``, as :meth:`RecordLog.records_since`."""
        return self.records.records_since(cursor, limit)

    def metrics_state(self) -> dict[str, Any]:
        """Input for :func:`workbench.engine.observe.metrics.render_metrics`."""
        return metrics_data(self)

    def snapshot(self) -> EngineSnapshot:
        """Typed, frozen view of everything the UI shows (also a read-only mapping of the dict)."""
        return EngineSnapshot.from_dict(self.snapshot_data())

    def snapshot_data(self) -> dict[str, Any]:
        """Plain-data view of everything the UI and the admin API show (JSON-ready)."""
        return state_data(self)

    def cache_entries(self, limit: int = 200) -> tuple[CacheEntryView, ...]:
        """The most recently used cache entries (each variant of a URL separately)."""
        return cache_entries(self.cache.entries(limit=limit) if self.cache is not None else ())


def _fmt_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _server_ssl(tls):
    if tls is None:
        return None
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if tls.self_signed:
        from workbench.engine.http.tls import self_signed_files

        cert, key = self_signed_files()
        ctx.load_cert_chain(cert, key)
    else:
        ctx.load_cert_chain(tls.cert, tls.key)
    return ctx
