"""Active health checks keep running when a check raises something nobody expected."""

from __future__ import annotations

import asyncio
import logging
import time

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    HealthConfig,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
)


async def wait_until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_checker_survives_an_unexpected_exception(origins, engine_factory, caplog):
    (web,) = await origins("web-1")
    health = HealthConfig(path="/healthz", interval=0.02, timeout=1.0, rise=1, fall=1)
    cfg = Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            cache=False,
            routes=(RouteConfig(name="site", pool="web"),),
            pools={
                "web": PoolConfig(
                    name="web",
                    backends=(BackendConfig(name="web-1", url=web.url),),
                    health=health,
                )
            },
        )
    )
    eng = await engine_factory(cfg)
    checker = eng.checkers[0]
    backend = eng.pools["web"].backends["web-1"]
    real_probe = checker._probe
    broken = {"on": True}

    async def probe(b):
        if broken["on"]:
            raise KeyError("a bug in the probe")
        return await real_probe(b)

    checker._probe = probe  # a probe with a bug: raises what no network error would
    caplog.set_level(logging.ERROR, logger="workbench.engine.balancing.health")
    await wait_until(lambda: backend.last_check and "KeyError" in backend.last_check[2])
    assert backend.last_check[1] is False
    await wait_until(lambda: backend.state == "down")  # counted as a failed check (fall: 1)
    runs = checker.checks_run
    await wait_until(lambda: checker.checks_run >= runs + 3)  # and the checker goes on
    assert any("raised" in r.getMessage() for r in caplog.records)

    broken["on"] = False
    await wait_until(lambda: backend.state == "up")  # back up once the probe works (rise: 1)
    assert backend.last_check[1] is True
