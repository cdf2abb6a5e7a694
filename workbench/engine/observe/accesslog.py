"""Access-log lines for headless mode: Combined Log Format plus proxy fields, or JSON lines."""

from __future__ import annotations

import json
import time

from workbench.engine.http.headers import get_header
from workbench.engine.observe.records import RequestRecord


def _q(value: str | None) -> str:
    if not value:
        return "-"
    return value.replace("\\", "\\\\").replace('"', '\\"')


def combined(rec: RequestRecord) -> str:
    """Combined Log Format, then ``upstream=… cache=… rule=… duration=…s``."""
    ts = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(rec.start))
    target = rec.url if rec.proxy == "forward" else rec.path
    request_line = f"{rec.method} {target} HTTP/1.1" if rec.method != "-" else "-"
    size = str(rec.bytes_out) if rec.bytes_out else "-"
    referer = get_header(rec.request_headers, "referer")
    agent = get_header(rec.request_headers, "user-agent")
    line = (
        f'{rec.client or "-"} - - [{ts}] "{_q(request_line)}" {rec.status or "-"} {size} '
        f'"{_q(referer)}" "{_q(agent)}" proxy={rec.proxy} upstream={rec.backend or "-"} '
        f"cache={rec.cache or '-'} duration={rec.t_total:.4f}s"
    )
    if rec.rule:
        line += f" rule={rec.rule}"
    if rec.error:
        line += f' error="{_q(rec.error)}"'
    return line


def json_line(rec: RequestRecord) -> str:
    """One JSON object per request (no headers or trace bodies, to keep lines short)."""
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
