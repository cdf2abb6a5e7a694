"""Cache hits on the wire: a hit's response is made once a second and shared by the hits of that
second, so these tests read the raw bytes of many hits and check that each is still exactly the
response for its own request (its Connection line, its method, the rules in force now) and that
every hit has its own complete record."""

from __future__ import annotations

import asyncio

from rawhttp import RawOrigin, response

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
)

BODY = b"stored body " * 20


async def _origin() -> RawOrigin:
    async def handler(req, reader, writer) -> bool:
        writer.write(
            response(200, BODY, [("Cache-Control", "max-age=600"), ("Content-Type", "text/x-t")])
        )
        await writer.drain()
        return True

    return await RawOrigin.answering(handler).start()


async def _proxy(engine_factory, rules: tuple[RuleConfig, ...] = ()):
    origin = await _origin()
    cfg = Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            cache=True,
            routes=(RouteConfig(name="all", pool="o"),),
            pools={
                "o": PoolConfig(name="o", backends=(BackendConfig(name="o-1", url=origin.url),))
            },
        ),
        rules=rules,
    )
    eng = await engine_factory(cfg)
    host, port = eng.listeners["reverse"].removeprefix("http://").split(":")
    return origin, eng, host, int(port)


async def _read_response(reader: asyncio.StreamReader, head_only: bool = False):
    """(status line, [(name, value)], body) of one response read off the socket."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    fields = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ln]
    length = int(next(v for n, v in fields if n.lower() == "content-length"))
    body = b"" if head_only else await reader.readexactly(length)
    return lines[0], fields, body


def _value(fields, name: str) -> str | None:
    return next((v for n, v in fields if n.lower() == name.lower()), None)


async def _fill(host: str, port: int, path: str) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: h.test\r\n\r\n".encode())
    await _read_response(reader)
    writer.close()


async def test_pipelined_hits_each_get_their_own_complete_response_and_record(engine_factory):
    origin, eng, host, port = await _proxy(engine_factory)
    try:
        await _fill(host, port, "/a")
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /a HTTP/1.1\r\nHost: h.test\r\n\r\n" * 6)
        answers = [await _read_response(reader) for _ in range(6)]
        writer.close()
        assert len(origin.requests) == 1
        for line, fields, body in answers:
            assert line == "HTTP/1.1 200 OK" and body == BODY
            names = [n.lower() for n, _ in fields]
            # The stored fields, then Age and Cache-Status, then the length; no Connection line.
            assert names[-3:] == ["age", "cache-status", "content-length"]
            assert "connection" not in names
            assert _value(fields, "Content-Length") == str(len(BODY))
            ttl = int(_value(fields, "Cache-Status").split("ttl=")[1])
            assert _value(fields, "Cache-Status") == f"workbench; hit; ttl={ttl}"
            assert 598 <= ttl + int(_value(fields, "Age")) <= 600
        recs, _, _ = eng.records_since(0, 100)
        hits = [r for r in recs if r.cache == "hit"]
        assert len(hits) == 6 and len({r.id for r in hits}) == 6
        for rec, (_, fields, _) in zip(hits, answers, strict=True):
            assert rec.status == 200 and rec.bytes_out == len(BODY)
            assert rec.content_type == "text/x-t"
            assert rec.response_body == BODY
            assert [list(f) for f in rec.response_headers] == [list(f) for f in fields[:-1]]
            steps = [(s, v) for s, v, _ in rec.trace]
            assert steps == [("route", "all"), ("cache", "HIT")]
            assert rec.trace[-1][2].startswith("hit: fresh, ttl ")
    finally:
        await origin.stop()


async def test_each_hit_gets_the_connection_line_and_body_its_request_asks_for(engine_factory):
    origin, eng, host, port = await _proxy(engine_factory)
    try:
        await _fill(host, port, "/b")
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /b HTTP/1.1\r\nHost: h.test\r\n\r\n")
        _, kept, _ = await _read_response(reader)
        assert _value(kept, "Connection") is None
        writer.write(b"HEAD /b HTTP/1.1\r\nHost: h.test\r\n\r\n")
        line, head_fields, _ = await _read_response(reader, head_only=True)
        assert line == "HTTP/1.1 200 OK"
        assert _value(head_fields, "Content-Length") == str(len(BODY))
        writer.write(b"GET /b HTTP/1.0\r\nHost: h.test\r\nConnection: keep-alive\r\n\r\n")
        _, ten, body = await _read_response(reader)
        assert _value(ten, "Connection") == "keep-alive" and body == BODY
        writer.write(b"GET /b HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n")
        _, closing, body = await _read_response(reader)
        assert _value(closing, "Connection") == "close" and body == BODY
        assert await reader.read() == b""  # closed after it, with nothing more
        writer.close()
        assert len(origin.requests) == 1
    finally:
        await origin.stop()


async def test_response_rules_edit_every_hit_including_rules_added_later(engine_factory):
    tag = RuleConfig(
        name="tag", phase="response", when="~u /c", action="set_header", header="X-Tag", value="1"
    )
    origin, eng, host, port = await _proxy(engine_factory, (tag,))
    try:
        await _fill(host, port, "/c")
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /c HTTP/1.1\r\nHost: h.test\r\n\r\n" * 3)
        for _ in range(3):
            _, fields, body = await _read_response(reader)
            assert _value(fields, "X-Tag") == "1" and body == BODY
        more = RuleConfig(
            name="more", phase="response", when="~all", action="set_header", header="X-M", value="2"
        )
        assert eng.control.add_rule(more).ok
        assert eng.control.delete_rule("tag").ok
        writer.write(b"GET /c HTTP/1.1\r\nHost: h.test\r\n\r\n" * 2)
        for _ in range(2):
            _, fields, body = await _read_response(reader)
            assert _value(fields, "X-M") == "2" and _value(fields, "X-Tag") is None
            assert _value(fields, "Cache-Status").startswith("workbench; hit; ttl=")
            assert body == BODY
        writer.close()
        assert len(origin.requests) == 1
    finally:
        await origin.stop()
