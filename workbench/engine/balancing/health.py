"""Health: active checks per pool and passive outlier detection from real traffic.

Active: every ``interval`` each backend gets ``GET health.path``; ``fall`` failures in a row take
it down, ``rise`` passes in a row bring it back. Passive: ``consecutive_failures`` failed
requests eject a backend for ``eject_for``, doubling on each repeat (capped at 10×).
Both write only health fields; the pool recomputes states and its balancer.

A check that fails in an unexpected way (any exception, not just a network error) is logged,
counts as a failed check, and the checker goes on: a bug in one probe never stops health checking
for good.
"""

from __future__ import annotations

import asyncio
import logging
import time

from workbench.config.model import HealthConfig
from workbench.engine.balancing.pools import Backend, Pool
from workbench.engine.http.client import UpstreamError
from workbench.engine.http.headers import request_head
from workbench.engine.http.upstream_pool import UpstreamPool

log = logging.getLogger(__name__)


def passive_success(backend: Backend) -> None:
    """A request to ``backend`` succeeded: reset its failure streak (O(1))."""
    backend.consecutive_failures = 0


def passive_failure(pool: Pool, backend: Backend, reason: str) -> None:
    """A request to ``backend`` failed; eject it once the streak reaches the threshold."""
    backend.consecutive_failures += 1
    passive = pool.config.passive
    if (
        passive.consecutive_failures <= 0
        or backend.consecutive_failures < passive.consecutive_failures
    ):
        return
    if backend.ejected_until > time.time():
        return
    backend.eject_count += 1
    duration = passive.eject_for * min(2 ** (backend.eject_count - 1), 10)
    backend.ejected_until = time.time() + duration
    backend.consecutive_failures = 0
    pool.refresh(
        f"ejected for {duration:g}s after {passive.consecutive_failures} failures: {reason}"
    )
    loop = asyncio.get_running_loop()
    loop.call_later(duration + 0.01, pool.refresh, "ejection over")


class HealthChecker:
    """Runs the active checks of one pool in a background task."""

    def __init__(self, pool: Pool, config: HealthConfig) -> None:
        self.pool = pool
        self.config = config
        self._clients: dict[str, UpstreamPool] = {}
        self._task: asyncio.Task[None] | None = None
        self.checks_run = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for client in self._clients.values():
            client.close()

    async def _loop(self) -> None:
        while True:
            try:
                backends = [b for b in self.pool.backends.values() if b.enabled]
                if backends:
                    await asyncio.gather(*(self.check(b) for b in backends))
            except asyncio.CancelledError:
                raise
            except Exception:  # check() handles its own; this is a bug elsewhere: keep going
                log.exception("health checks of pool %s failed; retrying", self.pool.name)
            await asyncio.sleep(self.config.interval)

    def _client(self, backend: Backend) -> UpstreamPool:
        client = self._clients.get(backend.name)
        if client is None or (client.host, client.port) != (backend.host, backend.port):
            client = UpstreamPool(
                backend.host,
                backend.port,
                max_connections=1,
                connect_timeout=self.config.timeout,
                idle_timeout=max(self.config.interval * 3, 5.0),
            )
            self._clients[backend.name] = client
        return client

    async def check(self, backend: Backend) -> bool:
        """Probe one backend once and apply rise/fall; returns whether it passed."""
        cfg = self.config
        try:
            ok, detail = await self._probe(backend)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("health check of %s/%s raised", self.pool.name, backend.name)
            ok, detail = False, f"check error: {type(exc).__name__}: {exc}"[:200]
        self.checks_run += 1
        backend.last_check = (time.time(), ok, detail)
        if ok:
            backend.check_fails = 0
            backend.check_passes += 1
            if not backend.healthy and backend.check_passes >= cfg.rise:
                backend.healthy = True
                self.pool.refresh(f"health check passed {cfg.rise}× ({detail})")
        else:
            backend.check_passes = 0
            backend.check_fails += 1
            if backend.healthy and backend.check_fails >= cfg.fall:
                backend.healthy = False
                self.pool.refresh(f"health check failed {cfg.fall}× ({detail})")
        return ok

    async def _probe(self, backend: Backend) -> tuple[bool, str]:
        cfg = self.config
        client = self._client(backend)
        path = backend.base_path + cfg.path
        head = request_head(
            "GET",
            path,
            [("Host", f"{backend.host}:{backend.port}"), ("User-Agent", "workbench-health")],
        )
        t0 = time.monotonic()
        try:
            conn, _ = await client.acquire()
        except UpstreamError as exc:
            return False, str(exc)
        try:
            resp = await conn.send(head, None, is_head=False, timeout=cfg.timeout)
            while not resp.complete:
                chunk = await asyncio.wait_for(resp.read(), cfg.timeout)
                if not chunk:
                    break
            if resp.complete:
                resp.take_body()
        except (UpstreamError, TimeoutError) as exc:
            conn.close()
            return False, str(exc) or "timed out"
        except OSError as exc:
            conn.close()
            return False, str(exc)
        except BaseException:
            conn.close()  # never hand a connection in an unknown state back to the pool
            raise
        client.release(conn)
        ms = (time.monotonic() - t0) * 1000
        lo, hi = cfg.expect_status
        if lo <= resp.status <= hi:
            return True, f"{resp.status} in {ms:.0f} ms"
        return False, f"status {resp.status}, expected {lo}-{hi}"
