"""Headers in the request detail: the before/after comparison of the Overview, header lines,
and the raw heads (as received, as sent upstream, and back) of the Raw section."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from rich.text import Text

from workbench.tui.widgets.palette import role

if TYPE_CHECKING:
    from workbench.engine.observe.records import Headers, RequestRecord


STRIPPED = "details no longer kept for old records"
NO_UPSTREAM = "(no upstream side: the proxy answered by itself — cache, rule or error)"

NOTE = role("muted", "italic")
"""Style of the notes that stand in for missing data."""


def header_diff(before: Headers | None, after: Headers | None) -> tuple[Text, Text]:
    """Two header columns; lines only on the left are removed (-), only on the right added (+)."""
    if before is None and after is None:
        return Text(STRIPPED, style=NOTE), Text(STRIPPED, style=NOTE)
    left_keys = {(n.lower(), v) for n, v in before or ()}
    right_keys = {(n.lower(), v) for n, v in after or ()}

    def column(
        headers: Headers | None, others: set[tuple[str, str]], mark: str, style: str
    ) -> Text:
        text = Text()
        if headers is None:
            text.append("(not sent)" if mark == "+" else NO_UPSTREAM, style=NOTE)
            return text
        if not headers:
            text.append("(none)", style=NOTE)
            return text
        for i, (name, value) in enumerate(headers):
            if i:
                text.append("\n")
            changed = (name.lower(), value) not in others
            text.append(f"{mark} " if changed else "  ", style=style if changed else "")
            text.append(f"{name}: ", style=f"bold {style}" if changed else "bold")
            text.append(value, style=style if changed else "")
        return text

    return (
        column(before, right_keys, "-", role("bad")),
        column(after, left_keys, "+", role("ok")),
    )


def headers_text(headers: Headers | None, missing: str = STRIPPED) -> Text:
    """Header lines, names in bold."""
    text = Text()
    if headers is None:
        text.append(missing, style=NOTE)
        return text
    if not headers:
        text.append("(none)", style=NOTE)
    for i, (name, value) in enumerate(headers):
        if i:
            text.append("\n")
        text.append(f"{name}: ", style="bold")
        text.append(value)
    return text


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _why_not_upstream(rec: RequestRecord) -> str:
    if rec.cache in ("hit", "stale"):
        return f"answered from the cache ({rec.cache})"
    if rec.rule:
        return f"answered by rule {rec.rule}"
    if rec.error:
        return rec.error
    return "the workbench answered it itself"


def raw_text(rec: RequestRecord) -> Text:
    """Request line and head as received and as sent upstream; response heads both sides."""
    text = Text()
    stripped = not rec.request_headers and rec.upstream_headers is None and rec.status is not None

    def title(words: str) -> None:
        if text:
            text.append("\n\n")
        text.append(words + "\n", style="bold underline")

    def head(first_line: str, headers: Headers | None, missing: str = STRIPPED) -> None:
        text.append(first_line + "\n", style=role("info", "bold"))
        text.append_text(headers_text(headers, missing))

    title("Request as the client sent it")
    target = rec.target if rec.target is not None else (rec.path or rec.url)
    head(f"{rec.method} {target} HTTP/{rec.version}", None if stripped else rec.request_headers)
    if rec.bytes_in:
        text.append(f"\n\n[{rec.bytes_in:,}-byte body: see Request]", style=role("muted"))
    title("Request as sent upstream")
    if rec.upstream_target is None and rec.upstream_headers is None:
        text.append(f"(not sent upstream: {_why_not_upstream(rec)})", style=NOTE)
    else:
        upstream_target = rec.upstream_target or "(target not recorded)"
        head(f"{rec.method} {upstream_target} HTTP/1.1", rec.upstream_headers)
    if rec.backend_response_headers is not None:
        title("Response head as the upstream sent it")
        head(f"HTTP/1.1 {rec.status}", rec.backend_response_headers)
    title("Response head as the client received it")
    if rec.status is None:
        text.append("(no response was sent)", style=NOTE)
    else:
        head(f"HTTP/1.1 {rec.status} {_reason(rec.status)}".rstrip(), rec.response_headers)
    return text
