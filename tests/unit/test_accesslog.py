"""Access log: exact line formats, batched writes off the loop, the last lines flushed at stop."""

from __future__ import annotations

import asyncio
import io
import json
import threading

import pytest

from workbench.engine.observe.accesslog import AccessLogWriter, combined, json_line
from workbench.engine.observe.records import RecordLog, RequestRecord


def make(i: int = 1, **kw: object) -> RequestRecord:
    rec = RequestRecord(
        id=i,
        start=1764583200.25 + i,
        client="127.0.0.1",
        proxy="reverse",
        method="GET",
        url=f"http://shop.test/p/{i}?q=1",
        host="shop.test",
        path=f"/p/{i}?q=1",
        request_headers=[("Host", "shop.test"), ("User-Agent", 'curl/8 "x"'), ("Referer", "r")],
    )
    rec.status = 200
    rec.bytes_out = 42
    rec.backend = "web-1"
    rec.pool = "web"
    rec.t_total = 0.0012345678
    rec.step("route", "site", "prefix / → pool web")
    rec.step("upstream", "200", "web-1 in 1.2 ms")
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


def reference_json(rec: RequestRecord) -> str:
    """What the log printed before it was made fast: json.dumps of the fields."""
    return json.dumps(
        {
            "time": rec.start,
            "id": rec.id,
            "client": rec.client,
            "proxy": rec.proxy,
            "method": rec.method,
            "url": rec.url,
            "status": rec.status,
            "bytes_in": rec.bytes_in,
            "bytes_out": rec.bytes_out,
            "duration": round(rec.t_total, 6),
            "upstream": rec.backend,
            "pool": rec.pool,
            "cache": rec.cache,
            "rule": rec.rule,
            "tags": rec.tags or [],
            "error": rec.error,
            "trace": [list(t) for t in rec.trace],
        },
        separators=(",", ":"),
    )


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"status": None, "backend": None, "pool": None, "error": 'refused "now"\n'},
        {"tags": ["a", "b\u00e9"], "cache": "hit", "rule": "r-1", "url": "http://x/é?\\"},
        {"method": "-", "url": "-", "client": "::1", "t_total": 12.5},
    ],
)
def test_json_line_is_what_json_dumps_wrote(kw: dict[str, object]) -> None:
    """Byte for byte what json.dumps wrote, except that the two times have six decimals
    (fixed-point, microseconds) where json.dumps wrote the shortest float."""
    rec = make(**kw)
    marked = make(**kw)
    marked.start, marked.t_total = 1111111111.5, 7.125  # stand-ins, exact in any format
    expected = (
        reference_json(marked)
        .replace('"time":1111111111.5,', f'"time":{rec.start:.6f},')
        .replace('"duration":7.125,', f'"duration":{rec.t_total:.6f},')
    )
    assert json_line(rec) == expected
    assert json_line(rec) == expected  # from the remembered parts
    got = json.loads(expected)
    assert (got["time"], got["duration"]) == (round(rec.start, 6), round(rec.t_total, 6))


def test_combined_line() -> None:
    line = combined(make(rule="r", error="bad"))
    assert line.startswith("127.0.0.1 - - [") and line.count("[") == 1
    assert line.split("] ", 1)[1] == (
        '"GET /p/1?q=1 HTTP/1.1" 200 42 "r" "curl/8 \\"x\\"" proxy=reverse upstream=web-1 '
        'cache=- duration=0.0012s rule=r error="bad"'
    )
    bare = make(status=None, bytes_out=0, request_headers=[], proxy="forward")
    assert '"GET http://shop.test/p/1?q=1 HTTP/1.1" - - "-" "-" proxy=forward' in combined(bare)


class Source:
    """Stands in for the engine: finished records and a read cursor."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def records_since(self, cursor: int = 0, limit: int = 1000):
        got = self.records[cursor : cursor + limit]
        return got, cursor + len(got), 0


class SlowOut(io.StringIO):
    """An output whose writes block until released (a stalled pipe or terminal)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.writes = 0

    def write(self, s: str) -> int:
        self.writes += 1
        self.release.wait(10)
        return super().write(s)


async def test_writes_are_batched_and_never_block_the_loop() -> None:
    src, out = Source(), SlowOut()
    log = AccessLogWriter(src, out, json_line, batch=7)
    src.records.extend(make(i) for i in range(1, 101))
    flushing = asyncio.ensure_future(log.flush())
    # The write is stuck, yet the loop goes on running other work.
    ticks = 0
    while out.writes == 0 or ticks < 50:
        await asyncio.sleep(0)
        ticks += 1
    assert not flushing.done()
    out.release.set()
    await flushing
    assert out.writes == 1  # one write for a hundred lines, formatted in batches of 7
    lines = out.getvalue().splitlines()
    assert [json.loads(x)["id"] for x in lines] == list(range(1, 101))


async def test_run_flushes_on_a_timer_and_the_rest_at_stop() -> None:
    src, out = Source(), io.StringIO()
    log = AccessLogWriter(src, out, combined, interval=0.01)
    stop = asyncio.Event()
    runner = asyncio.ensure_future(log.run(stop))
    src.records.append(make(1))
    async with asyncio.timeout(5):
        while log.lines < 1:
            await asyncio.sleep(0.005)
    stop.set()
    await runner
    src.records.append(make(2))  # finished while the engine drained its in-flight requests
    await log.flush()
    assert len(out.getvalue().splitlines()) == 2 and log.lines == 2


async def test_formatting_lets_the_proxies_run_between_batches() -> None:
    # A thousand finished requests formatted in one go would hold up every request in flight.
    src, out = Source(), io.StringIO()
    src.records.extend(make(i) for i in range(1, 501))
    log = AccessLogWriter(src, out, json_line, batch=100)
    seen: list[int] = []

    async def other_work() -> None:
        while True:
            seen.append(log.lines)
            await asyncio.sleep(0)

    other = asyncio.ensure_future(other_work())
    await asyncio.sleep(0)
    await log.flush()
    other.cancel()
    assert {100, 200, 300, 400} <= set(seen)  # the loop ran after each batch
    assert [json.loads(x)["id"] for x in out.getvalue().splitlines()] == list(range(1, 501))


async def test_an_idle_writer_wakes_up_less_and_less_and_still_writes_what_comes() -> None:
    loop = asyncio.get_running_loop()
    calls: list[float] = []

    class Watched(Source):
        def records_since(self, cursor: int = 0, limit: int = 1000):
            calls.append(loop.time())
            return super().records_since(cursor, limit)

    src, out = Watched(), io.StringIO()
    log = AccessLogWriter(src, out, json_line, interval=0.01)
    stop = asyncio.Event()
    runner = asyncio.ensure_future(log.run(stop))
    async with asyncio.timeout(10):
        while len(calls) < 5:
            await asyncio.sleep(0.005)
    # Nothing to write: each turn waits twice as long as the one before (a lower bound).
    assert calls[4] - calls[3] >= 0.08 - 0.002
    src.records.append(make(1))
    async with asyncio.timeout(10):
        while log.lines < 1:
            await asyncio.sleep(0.005)
    stop.set()
    async with asyncio.timeout(10):
        await runner  # stop is noticed at once, not after the current pause
    assert json.loads(out.getvalue())["id"] == 1


async def test_more_finished_records_than_a_batch_are_all_logged_in_order() -> None:
    # The engine's own record log as the source: it hands out the newest ``limit`` records
    # after the cursor, so a writer asking for one batch at a time must not lose the older ones.
    src, out = RecordLog(capacity=1000), io.StringIO()
    for i in range(1, 501):
        src.append(make(i))
    log = AccessLogWriter(src, out, json_line, batch=100)
    assert await log.flush() == 500
    assert [json.loads(x)["id"] for x in out.getvalue().splitlines()] == list(range(1, 501))
    for i in range(501, 1701):  # past the ring's capacity: only the evicted ones are missing
        src.append(make(i))
    assert await log.flush() == 1000
    lines = out.getvalue().splitlines()[500:]
    assert lines[0] == "# 200 requests not logged (record buffer overflowed)"
    assert [json.loads(x)["id"] for x in lines[1:]] == list(range(701, 1701))
