"""Request detail: what the client sent vs what the upstream got, timing, body, and the trace.

The side-by-side header comparison is where privacy modes, forwarding headers and header rules
become visible: lines the proxy removed are marked ``-``, lines it added ``+``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from workbench.tui.actions import bindings
from workbench.tui.views.traffic import duration_ms, human_size, status_style

if TYPE_CHECKING:
    from workbench.engine.observe.records import Headers, RequestRecord

BODY_CAP = 16 * 1024
"""Bytes of body preview shown; more would make the screen slow to scroll and hard to read."""
STRIPPED = "details no longer kept for old records"

_VERDICT_STYLES = {
    "allow": "green",
    "hit": "green",
    "store": "green",
    "ok": "green",
    "block": "bold red",
    "deny": "bold red",
    "error": "bold red",
    "miss": "yellow",
    "stale": "yellow",
}


def header_diff(before: Headers | None, after: Headers | None) -> tuple[Text, Text]:
    """Two header columns; lines only on the left are removed (-), only on the right added (+)."""
    if before is None and after is None:
        return Text(STRIPPED, style="dim italic"), Text(STRIPPED, style="dim italic")
    left_keys = {(n.lower(), v) for n, v in before or ()}
    right_keys = {(n.lower(), v) for n, v in after or ()}

    def column(
        headers: Headers | None, others: set[tuple[str, str]], mark: str, style: str
    ) -> Text:
        text = Text()
        if headers is None:
            text.append("(not sent)" if mark == "+" else STRIPPED, style="dim italic")
            return text
        if not headers:
            text.append("(none)", style="dim italic")
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
        column(before, right_keys, "-", "red"),
        column(after, left_keys, "+", "green"),
    )


def timing_bar(rec: RequestRecord, width: int = 50) -> Text:
    """A bar split into queue / connect / wait for first byte / transfer, with the ms of each."""
    total = max(rec.t_total, 0.0)
    wait = max(rec.t_first_byte - rec.t_queue - rec.t_connect, 0.0)
    transfer = max(total - rec.t_first_byte, 0.0) if rec.t_first_byte else 0.0
    phases = [
        ("queue", rec.t_queue, "blue"),
        ("connect", rec.t_connect, "magenta"),
        ("first byte", wait, "yellow"),
        ("transfer", transfer, "green"),
    ]
    text = Text()
    if total <= 0:
        text.append("no timing recorded", style="dim italic")
        return text
    used = 0
    for _name, seconds, colour in phases:
        cells = round(seconds / total * width) if total else 0
        cells = min(cells, width - used)
        used += cells
        text.append("█" * cells, style=colour)
    text.append("░" * (width - used), style="dim")
    text.append(f"  {duration_ms(total)} ms\n")
    for i, (name, seconds, colour) in enumerate(phases):
        if i:
            text.append("   ")
        text.append("■ ", style=colour)
        text.append(f"{name} {duration_ms(seconds)} ms")
    return text


def trace_table(rec: RequestRecord) -> Table:
    """The pipeline's decisions for this request, one row per stage."""
    table = Table(box=None, expand=True, show_edge=False, pad_edge=False)
    table.add_column("stage", style="bold", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("detail", ratio=1)
    for stage, verdict, detail in rec.trace:
        style = _VERDICT_STYLES.get(verdict.split()[0].lower() if verdict else "", "")
        table.add_row(stage, Text(verdict, style=style), detail)
    if not rec.trace:
        table.add_row("—", "", Text("no trace recorded", style="dim italic"))
    return table


def hex_dump(data: bytes, limit: int = 512) -> Text:
    """Classic offset / hex / ASCII dump of the first ``limit`` bytes."""
    text = Text()
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        text.append(f"{offset:08x}  ", style="dim")
        text.append(f"{hexes:<47}  ")
        text.append(ascii_ + "\n", style="cyan")
    if len(data) > limit:
        text.append(f"… {len(data) - limit:,} more bytes", style="dim")
    return text


def format_body(data: bytes | None, content_type: str | None) -> RenderableType:
    """Pretty body preview: JSON/HTML/text highlighted, binary as hex. Runs in a worker thread."""
    if data is None:
        return Text(STRIPPED + " (or no body)", style="dim italic")
    if not data:
        return Text("(empty body)", style="dim italic")
    clipped = data[:BODY_CAP]
    ctype = (content_type or "").lower()
    try:
        text = clipped.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A preview cut through a multi-byte character is still text; anything else is binary.
        if exc.start < len(clipped) - 4:
            return hex_dump(clipped)
        text = clipped[: exc.start].decode("utf-8")
    if "\x00" in text:
        return hex_dump(clipped)
    lexer = "text"
    stripped = text.lstrip()
    if "json" in ctype or stripped[:1] in ("{", "["):
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass  # truncated JSON: show as it is, highlighted anyway
        lexer = "json"
    elif "html" in ctype or stripped[:1] == "<":
        lexer = "html"
    elif "css" in ctype:
        lexer = "css"
    elif "javascript" in ctype:
        lexer = "javascript"
    syntax = Syntax(text, lexer, theme="ansi_dark", word_wrap=True, background_color="default")
    if len(data) > BODY_CAP:
        return Group(syntax, Text(f"… preview cut at {human_size(BODY_CAP)}", style="dim"))
    return syntax


def summary_line(rec: RequestRecord) -> Text:
    text = Text()
    stamp = time.strftime("%H:%M:%S", time.localtime(rec.start))
    text.append(f"{stamp}  ", style="dim")
    text.append(f"{rec.method} ", style="bold")
    text.append(rec.url)
    text.append("\n")
    status = str(rec.status) if rec.status is not None else "no response"
    text.append(status, style=status_style(rec.status, rec.error))
    proxy = "forward proxy" if rec.proxy == "forward" else "reverse proxy"
    bits = [proxy, f"client {rec.client}"]
    if rec.backend:
        bits.append(f"backend {rec.pool + '/' if rec.pool else ''}{rec.backend}")
    if rec.cache:
        bits.append(f"cache {rec.cache}")
    if rec.rule:
        bits.append(f"rule {rec.rule}")
    if rec.tags:
        bits.append("tags " + ",".join(rec.tags))
    bits.append(f"{human_size(rec.bytes_out)}B out")
    bits.append(f"{duration_ms(rec.t_total)} ms")
    text.append("  " + " · ".join(bits))
    if rec.error:
        text.append(f"\nerror: {rec.error}", style="bold red")
    return text


def tunnel_text(rec: RequestRecord) -> Text:
    text = Text()
    text.append("target  ", style="bold")
    text.append(rec.url + "\n")
    text.append("SNI     ", style="bold")
    text.append((rec.sni or "not seen") + "\n")
    text.append("bytes   ", style="bold")
    text.append(f"client → server {rec.bytes_in:,}   server → client {rec.bytes_out:,}\n\n")
    text.append(
        "This is a CONNECT tunnel: the proxy only relays encrypted bytes. It cannot see inside "
        "TLS — no paths, headers, bodies or status codes past this point; only the target, the "
        "server name the client announced (SNI) and how many bytes went each way.",
        style="italic",
    )
    return text


class DetailScreen(Screen[None]):
    """Everything recorded about one request.

    | Key | Action |
    | :- | :- |
    | escape, q | Back to the list. |
    """

    BINDINGS: ClassVar = bindings("detail")

    def __init__(self, record: RequestRecord) -> None:
        super().__init__(classes="detail")
        self.record = record

    def compose(self):
        rec = self.record
        with VerticalScroll(id="detail-scroll"):
            yield Static(summary_line(rec), id="detail-summary")
            if rec.method == "CONNECT":
                yield Static("Tunnel", classes="detail-title")
                yield Static(tunnel_text(rec), id="detail-tunnel")
            else:
                stripped = not rec.request_headers and rec.upstream_headers is None
                yield Static(
                    "Request headers — as the client sent them │ as the upstream received them",
                    classes="detail-title",
                )
                if stripped:
                    yield Static(Text(STRIPPED, style="dim italic"), classes="detail-note")
                else:
                    left, right = header_diff(rec.request_headers, rec.upstream_headers)
                    with Horizontal(classes="detail-pair"):
                        yield Static(left, classes="detail-side")
                        yield Static(right, classes="detail-side")
                yield Static(
                    "Response headers — as the upstream sent them │ as the client received them",
                    classes="detail-title",
                )
                if stripped:
                    yield Static(Text(STRIPPED, style="dim italic"), classes="detail-note")
                else:
                    left, right = header_diff(rec.backend_response_headers, rec.response_headers)
                    with Horizontal(classes="detail-pair"):
                        yield Static(left, classes="detail-side")
                        yield Static(right, classes="detail-side")
            yield Static("Timing", classes="detail-title")
            yield Static(timing_bar(rec), id="detail-timing")
            yield Static("Trace — what each stage decided and why", classes="detail-title")
            yield Static(trace_table(rec), id="detail-trace")
            if rec.method != "CONNECT":
                yield Static("Body preview", classes="detail-title")
                yield Static(Text("formatting…", style="dim italic"), id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        if self.record.method != "CONNECT":
            self._format_body(self.record.body_preview, self.record.content_type)

    @work(thread=True, exclusive=True, group="detail-body")
    def _format_body(self, data: bytes | None, content_type: str | None) -> None:
        try:
            renderable = format_body(data, content_type)
        except Exception as exc:  # a formatter bug must not take the screen down
            renderable = Text(f"cannot show the body: {exc}", style="red")
        self.app.call_from_thread(self._show_body, renderable)

    def _show_body(self, renderable: RenderableType) -> None:
        if self.is_mounted:
            self.query_one("#detail-body", Static).update(renderable)

    def action_close(self) -> None:
        self.dismiss(None)
