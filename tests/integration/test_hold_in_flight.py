"""Intercept filters set while the hold stages are being skipped: a request that started with no
filter and waits upstream, and a cache hit right after a filter was set, are still held."""

from __future__ import annotations

import asyncio

from configs import reverse_proxy
from origin import wait_for
from rawhttp import RawOrigin, connect, read_response, response

from workbench.config.model import Config


async def test_a_response_filter_set_while_a_request_waits_upstream_holds_it(engine_factory):
    answer = asyncio.Event()

    async def handle(req, reader, writer) -> bool:
        await answer.wait()
        writer.write(response(200, b"late", [("X-Origin", "raw")]))
        await writer.drain()
        return True

    origin = await RawOrigin.answering(handle).start()
    try:
        engine = await engine_factory(Config(reverse=reverse_proxy([origin.url])))
        reader, writer = await connect(engine.listeners["reverse"])
        writer.write(b"GET /slow HTTP/1.1\r\nHost: site.test\r\n\r\n")
        await wait_for(lambda: len(origin.requests) == 1)  # started with no filter set
        assert engine.control.set_hold("~u /slow", "response").ok
        answer.set()
        await wait_for(lambda: len(engine.control.held()) == 1)
        (held,) = engine.control.held()
        assert held["phase"] == "response" and held["status"] == 200
        assert engine.control.resume_held(held["id"]).ok
        resp = await read_response(reader)
        assert (resp.status, resp.body) == (200, b"late")
        writer.close()
    finally:
        await origin.stop()


async def test_a_cache_hit_right_after_a_filter_is_set_is_held(engine_factory):
    async def handle(req, reader, writer) -> bool:
        writer.write(response(200, b"stored", [("Cache-Control", "max-age=600")]))
        await writer.drain()
        return True

    origin = await RawOrigin.answering(handle).start()
    try:
        engine = await engine_factory(Config(reverse=reverse_proxy([origin.url], cache=True)))
        reader, writer = await connect(engine.listeners["reverse"])
        get = b"GET /c HTTP/1.1\r\nHost: site.test\r\n\r\n"
        for _ in range(2):  # a miss that stores, then a hit with no filter
            writer.write(get)
            resp = await read_response(reader)
            assert (resp.status, resp.body) == (200, b"stored")
        for phase in ("request", "response"):
            assert engine.control.set_hold("~u /c", phase).ok
            writer.write(get)
            await wait_for(lambda: len(engine.control.held()) == 1)
            (held,) = engine.control.held()
            assert held["phase"] == phase
            assert engine.control.set_hold(None).ok
            assert engine.control.resume_held(held["id"]).ok
            resp = await read_response(reader)
            assert (resp.status, resp.body) == (200, b"stored")
        assert len(origin.requests) == 1  # every later answer was the stored one
        writer.close()
    finally:
        await origin.stop()
