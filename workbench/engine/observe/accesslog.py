"""Access-log lines for headless mode (Combined Log Format plus proxy fields, or JSON lines), and
the writer that drains finished records in batches.

Cost matters: the log runs for every request. Lines are built with f-strings and the C string
escaper of :mod:`json` instead of ``json.dumps`` on a dict (which builds an encoder per call);
trace steps and the other parts that repeat from request to request are encoded once and
remembered; times are fixed-point (six decimals) rather than shortest-repr floats; the
timestamp of the Combined format is formatted once per second. Nothing is written per request:
:class:`AccessLogWriter` takes the records the engine finished since its last turn, a few times a
second, and hands the whole batch to one ``write`` on a thread, so a slow terminal or pipe never
blocks the proxies' loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _js  # type: ignore[attr-defined]
from typing import Any, Protocol, TextIO

from workbench.engine.observe.records import RequestRecord, TraceStep

__all__ = ["FORMATS", "AccessLogWriter", "combined", "json_line"]

Formatter = Callable[[RequestRecord], str]


def _q(value: str | None) -> str:
    if not value:
        return "-"
    return value.replace("\\", "\\\\").replace('"', '\\"')


_ts_second = -1
_ts_text = ""


def _timestamp(start: float) -> str:
    """``01/Dec/2026:10:00:00 +0000`` for ``start``; formatted once per second."""
    global _ts_second, _ts_text
    sec = int(start)
    if sec != _ts_second:
        _ts_text = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(sec))
        _ts_second = sec
    return _ts_text


def combined(rec: RequestRecord) -> str:
    """Combined Log Format, then ``upstream=… cache=… rule=… duration=…s``."""
    target = rec.url if rec.proxy == "forward" else rec.path
    request_line = f"{rec.method} {target} HTTP/1.1" if rec.method != "-" else "-"
    referer = agent = None
    for name, value in rec.request_headers:
        n = name.lower()
        if n == "user-agent":
            if agent is None:
                agent = value
        elif n == "referer" and referer is None:
            referer = value
    line = (
        f'{rec.client or "-"} - - [{_timestamp(rec.start)}] "{_q(request_line)}" '
        f'{rec.status or "-"} {rec.bytes_out or "-"} "{_q(referer)}" "{_q(agent)}" '
        f"proxy={rec.proxy} upstream={rec.backend or '-'} cache={rec.cache or '-'} "
        f"duration={rec.t_total:.4f}s"
    )
    if rec.rule:
        line += f" rule={rec.rule}"
    if rec.error:
        line += f' error="{_q(rec.error)}"'
    return line


_steps: dict[TraceStep, str] = {}
_MAX_STEPS = 4096


def _step(step: TraceStep) -> str:
    text = _steps.get(step)
    if text is None:
        try:
            text = "[" + ",".join(map(_js, step)) + "]"
        except TypeError:  # not all strings: let json say it
            text = json.dumps(list(step), separators=(",", ":"), default=str)
        if len(_steps) >= _MAX_STEPS:
            _steps.clear()  # details that never repeat (ids, sizes) would fill it
        _steps[step] = text
    return text


_who: dict[tuple[str, str, str], str] = {}
_ends: dict[tuple[Any, ...], tuple[str, str]] = {}
"""The line's client/proxy/method part, and its upstream/pool/cache/rule and trace parts (by
those four and the trace's steps): they repeat from request to request, so they are encoded
once (bounded like the trace steps)."""


def json_line(rec: RequestRecord) -> str:
    """One JSON object per request (no headers or bodies, to keep lines short).

    ``time`` and ``duration`` have six decimals (microseconds): a fixed-point format costs
    half of the shortest round-trip ``repr`` of a float.
    """
    tags = rec.tags
    status = rec.status
    error = rec.error
    key = (rec.client, rec.proxy, rec.method)
    who = _who.get(key)
    if who is None:
        if len(_who) >= _MAX_STEPS:
            _who.clear()
        who = _who[key] = (
            f'"client":{_js(rec.client)},"proxy":{_js(rec.proxy)},"method":{_js(rec.method)}'
        )
    trace = rec.trace
    end_key = (rec.backend, rec.pool, rec.cache, rec.rule, *trace)
    end = _ends.get(end_key)
    if end is None:
        end = _end(end_key, trace)
    where, steps = end
    # Helpers inlined: a Python call per field would cost as much as the rest of the line.
    return (
        f'{{"time":{rec.start:.6f},"id":{rec.id},{who},"url":{_js(rec.url)},'
        f'"status":{"null" if status is None else status},"bytes_in":{rec.bytes_in},'
        f'"bytes_out":{rec.bytes_out},"duration":{rec.t_total:.6f},{where},'
        f'"tags":[{",".join(map(_js, tags)) if tags else ""}],'
        f'"error":{"null" if error is None else _js(error)},'
        f'"trace":[{steps}]}}'
    )


def _end(key: tuple[Any, ...], trace: list[TraceStep]) -> tuple[str, str]:
    """The upstream/pool/cache/rule fields and the trace's steps, encoded (and remembered)."""
    where = ",".join(
        f'"{name}":{"null" if value is None else _js(value)}'
        for name, value in zip(("upstream", "pool", "cache", "rule"), key[:4], strict=True)
    )
    end = where, ",".join([_steps.get(s) or _step(s) for s in trace])
    if len(_ends) >= _MAX_STEPS:
        _ends.clear()
    _ends[key] = end
    return end


FORMATS: dict[str, Formatter] = {"combined": combined, "json": json_line}
"""``--log-format`` name → line formatter."""


class _RecordSource(Protocol):
    def records_since(self, cursor: int = 0, limit: int = 1000) -> Any: ...


class AccessLogWriter:
    """Drains finished records into ``out`` in batches (see the module doc).

    ``await writer.run(stop)`` until ``stop`` is set, then ``await writer.flush()`` once the
    engine has finished its in-flight requests, so the last lines are written too.
    """

    def __init__(
        self,
        source: _RecordSource,
        out: TextIO,
        fmt: Formatter,
        *,
        interval: float = 0.1,
        batch: int = 200,
    ) -> None:
        self.source = source
        self.out = out
        self.fmt = fmt
        self.interval = interval
        self.batch = batch
        self.cursor = 0
        self.lines = 0
        """Lines written so far."""

    def _pending(self, parts: list[str]) -> list[RequestRecord]:
        """Every record finished since the last call, oldest first (in one call: the source
        hands out the newest ``limit`` records after the cursor, so asking for one batch at a
        time would drop the older ones); a line in ``parts`` for those evicted meanwhile."""
        records, self.cursor, skipped = self.source.records_since(self.cursor, _ALL)
        if skipped:
            parts.append(f"# {skipped} requests not logged (record buffer overflowed)")
        return records

    def _format(self, parts: list[str], records: list[RequestRecord]) -> None:
        parts.extend(map(self.fmt, records))
        self.lines += len(records)

    def _collect(self) -> str:
        """Every record finished since the last call, formatted, as one string."""
        parts: list[str] = []
        self._format(parts, self._pending(parts))
        return _text(parts)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    async def flush(self) -> int:
        """Write whatever finished since the last turn; returns the number of lines.

        Formatted one batch at a time with the loop running in between (a busy proxy finishes
        a thousand requests in a tenth of a second: formatting them in one go would hold up
        every request in flight for milliseconds), then written on a thread, so the loop never
        blocks on the output.
        """
        parts: list[str] = []
        before = self.lines
        records = self._pending(parts)
        batch = self.batch
        for start in range(0, len(records), batch):
            if start:
                await asyncio.sleep(0)
            self._format(parts, records[start : start + batch])
        if parts:
            await asyncio.to_thread(self._write, _text(parts))
        return self.lines - before

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``interval`` seconds until ``stop`` is set.

        While nothing finishes, the turns grow apart (up to :data:`IDLE_INTERVAL`): an idle
        proxy does not wake up fifty times a second for nothing (on a shared core it would
        take that time from a busy neighbour). Traffic brings the short turns back at once.
        """
        stopped = asyncio.ensure_future(stop.wait())
        wait = self.interval
        try:
            while not stopped.done():
                await asyncio.wait((stopped,), timeout=wait)
                if await self.flush():
                    wait = self.interval
                else:
                    wait = min(wait * 2, max(IDLE_INTERVAL, self.interval))
        finally:
            stopped.cancel()


_ALL = 1 << 62
"""``limit`` for the source: every record after the cursor (the ring bounds how many)."""

IDLE_INTERVAL = 0.2
"""Longest pause between two turns of an :class:`AccessLogWriter` that finds nothing to write.

Short enough that the first turn after an idle spell finds the requests of a sudden burst still
in the record ring (10,000 records: 0.2 s at 50k requests a second, above the proxy's top rate),
so none of them is reported as not logged; long enough that an idle proxy wakes up only five
times a second."""


def _text(parts: list[str]) -> str:
    """Lines as one string, each ending with a newline ("" without lines)."""
    if not parts:
        return ""
    parts.append("")
    return "\n".join(parts)
