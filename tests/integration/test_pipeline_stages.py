"""The stages as a unit: their fixed order, and what a cache hit and a miss on a pooled connection
cost (no coroutine at all)."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import aiohttp
from aiohttp import web
from origin import Origin

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
)
from workbench.engine.pipeline.stages import STAGES

STAGE_CODE = (
    str(Path("workbench", "engine", "pipeline")),
    str(Path("workbench", "engine", "modes")),
)


def test_the_stages_are_the_design_sequence():
    assert [s.__name__ for s in STAGES] == [
        "access_control",
        "auth",
        "destination",
        "request_rules",
        "hold_request",
        "cache_lookup",
        "upstream",
        "response_rules",
        "cache_store",
        "hold_response",
        "respond",
    ]


def cacheable_app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="cached\n", headers={"Cache-Control": "max-age=60"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


def one_pool(origin: Origin, *, cache: bool, rules: tuple[RuleConfig, ...] = ()) -> Config:
    """The reverse proxy with one route to a one-backend pool ``web`` (``web-1`` = ``origin``)."""
    pool = PoolConfig(name="web", backends=(BackendConfig("web-1", origin.url),))
    return Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            cache=cache,
            routes=(RouteConfig(name="site", pool="web"),),
            pools={"web": pool},
        ),
        rules=rules,
    )


async def coroutines_run_by(
    session: aiohttp.ClientSession, url: str, where: tuple[str, ...] = STAGE_CODE
) -> set[str]:
    """Names of the pipeline/mode coroutines (or those under ``where``) that ran while ``url``
    was fetched."""
    seen: set[str] = set()

    def profile(frame, event, arg) -> None:
        code = frame.f_code
        if (
            event == "call"
            and code.co_flags & inspect.CO_COROUTINE
            and any(part in code.co_filename for part in where)
        ):
            seen.add(code.co_name)

    sys.setprofile(profile)
    try:
        async with session.get(url) as r:
            assert r.status == 200
            await r.read()
    finally:
        sys.setprofile(None)
    return seen


async def test_a_cache_hit_runs_no_coroutine(engine_factory):
    origin = await Origin("cacheable", cacheable_app()).start()
    try:
        rule = RuleConfig(
            name="tag-it",
            phase="response",
            when="~c 200",
            action="set_header",
            header="X-Seen",
            value="yes",
        )
        eng = await engine_factory(one_pool(origin, cache=True, rules=(rule,)))
        url = eng.listeners["reverse"] + "/page"
        async with aiohttp.ClientSession() as s:
            miss = await coroutines_run_by(s, url)
            hit = await coroutines_run_by(s, url)
        assert "fetch" in miss  # the upstream stage waits for the origin
        assert hit == set(), hit  # a hit is answered by plain calls: not even a handler task
        records, _, _ = eng.records_since(0, 10)
        assert [r.cache for r in records] == ["miss", "hit"]
        assert ("X-Seen", "yes") in records[1].response_headers
    finally:
        await origin.stop()


async def test_a_miss_on_a_pooled_connection_runs_no_coroutine(engine_factory):
    """The upstream stage sends at once and the pipeline goes on from the response's future:
    no coroutine in the engine (not even the server's handler task) for the usual miss."""
    origin = await Origin("plain", cacheable_app()).start()
    try:
        eng = await engine_factory(one_pool(origin, cache=False))
        url = eng.listeners["reverse"] + "/page"
        engine_code = (str(Path("workbench", "engine")),)
        async with aiohttp.ClientSession() as s:
            first = await coroutines_run_by(s, url, engine_code)
            pooled = await coroutines_run_by(s, url, engine_code)
        assert "fetch" in first  # a new connection is awaited
        assert pooled == set(), pooled
        records, _, _ = eng.records_since(0, 10)
        assert [(r.status, r.trace[-1][2]) for r in records] == [
            (200, "web-1 answered on a new connection"),
            (200, "web-1 answered on a pooled connection"),
        ]
    finally:
        await origin.stop()


async def test_a_pooled_miss_after_a_delay_rule(engine_factory):
    """The upstream stage's future met inside the coroutine that a delay started: awaited there
    (and its retry too, when the pooled connection turns out closed)."""
    origin = await Origin("plain", cacheable_app()).start()
    try:
        rule = RuleConfig(name="slow", when="~u /page", action="delay", delay=0.01)
        eng = await engine_factory(one_pool(origin, cache=False, rules=(rule,)))
        url = eng.listeners["reverse"] + "/page"
        async with aiohttp.ClientSession() as s:
            for _ in range(3):
                async with s.get(url) as r:
                    assert r.status == 200 and await r.text() == "cached\n"
        records, _, _ = eng.records_since(0, 10)
        assert [r.trace[-1][2] for r in records] == ["web-1 answered on a new connection"] + [
            "web-1 answered on a pooled connection"
        ] * 2
    finally:
        await origin.stop()


class BrokenMode:
    """A mode with a bug in its destination stage (the rest is the real pipeline)."""

    client_allowed = None
    auth = None
    cache_enabled = False

    def __init__(self, engine) -> None:
        self.engine = engine

    def exchange(self, req, conn):
        from workbench.engine.pipeline.exchange import Exchange, new_record

        rec = new_record(self.engine, req, conn, "reverse", req.target, "t", req.target)
        return Exchange(req, conn, rec, self)

    def destination(self, x):
        raise RuntimeError("boom: internal detail <secret>")


async def test_an_internal_error_is_one_sentence_and_the_record_has_the_exception():
    from workbench.config.model import Limits
    from workbench.engine.engine import Engine
    from workbench.engine.http.server import HttpServer
    from workbench.engine.pipeline.stages import make_handler

    eng = Engine(Config())
    server = HttpServer(
        make_handler(BrokenMode(eng)), Limits(), on_error=eng.recorder.internal_error
    )
    host, port = await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://{host}:{port}/x") as r:
            assert r.status == 500
            text = await r.text()
        assert "secret" not in text and "RuntimeError" not in text and len(text) < 120
        rec = eng.records_since(0, 10)[0][-1]
        assert rec.error == "RuntimeError: boom: internal detail <secret>"
        assert eng.recorder.internal_errors == 1
    finally:
        await server.stop(0.1)
