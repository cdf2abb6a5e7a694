"""Request detail: what the client sent vs what the upstream got, bodies, raw heads, the trace.

Four sections: *Overview* (headers before/after the proxy side by side, timing, trace), *Request*
and *Response* (head and body, decoded and shown by content type — the response exactly as the
client received it: block pages, cache hits and error pages included) and *Raw* (the request
line and head as received and as sent upstream, so origin-form vs absolute-form is visible).
In the header comparison, lines the proxy removed are marked ``-``, lines it added ``+``.
"""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static, TabbedContent, TabPane, Tree

from workbench.config.units import format_size
from workbench.tui.actions import action
from workbench.tui.copyas import COPY_FORMATS, copy_text, save_copy
from workbench.tui.widgets.body_format import FormattedBody, format_body, header_value
from workbench.tui.widgets.keybar import KeyBar
from workbench.tui.widgets.palette import ThemedTree, role, themed
from workbench.tui.widgets.request_columns import duration_ms, human_size, status_style
from workbench.tui.widgets.searchable import TextBlock, find_spans, line_of

if TYPE_CHECKING:
    from workbench.engine.observe.records import Headers, RequestRecord

STRIPPED = "details no longer kept for old records"
NO_UPSTREAM = "(no upstream side: the proxy answered by itself — cache, rule or error)"

NOTE = role("muted", "italic")
"""Style of the notes that stand in for missing data."""

_VERDICT_STYLES = {
    "allow": role("ok"),
    "hit": role("ok"),
    "store": role("ok"),
    "ok": role("ok"),
    "block": role("bad", "bold"),
    "deny": role("bad", "bold"),
    "error": role("bad", "bold"),
    "miss": role("warn"),
    "stale": role("warn"),
}


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


def timing_bar(rec: RequestRecord, width: int = 50) -> Text:
    """A bar split into queue / connect / wait for first byte / transfer, with the ms of each."""
    total = max(rec.t_total, 0.0)
    wait = max(rec.t_first_byte - rec.t_queue - rec.t_connect, 0.0)
    transfer = max(total - rec.t_first_byte, 0.0) if rec.t_first_byte else 0.0
    phases = [
        ("queue", rec.t_queue, role("muted")),
        ("connect", rec.t_connect, role("info")),
        ("first byte", wait, role("warn")),
        ("transfer", transfer, role("ok")),
    ]
    text = Text()
    if total <= 0:
        text.append("no timing recorded", style=NOTE)
        return text
    used = 0
    for _name, seconds, colour in phases:
        cells = round(seconds / total * width) if total else 0
        cells = min(cells, width - used)
        used += cells
        text.append("█" * cells, style=colour)
    text.append("░" * (width - used), style=role("muted"))
    text.append(f"  {duration_ms(total)} ms\n")
    for i, (name, seconds, colour) in enumerate(phases):
        if i:
            text.append("   ")
        text.append("■ ", style=colour)
        text.append(f"{name} {duration_ms(seconds)} ms")
    return text


def trace_table(rec: RequestRecord) -> Text:
    """The pipeline's decisions for this request, one line per stage (searchable text)."""
    text = Text()
    if not rec.trace:
        text.append("no trace recorded", style=NOTE)
        return text
    stage_w = min(max(len(s) for s, _v, _d in rec.trace), 12)
    verdict_w = min(max(len(v) for _s, v, _d in rec.trace), 18)
    text.append(f"{'stage':<{stage_w}}  {'verdict':<{verdict_w}}  detail\n", style="bold")
    for i, (stage, verdict, detail) in enumerate(rec.trace):
        style = _VERDICT_STYLES.get(verdict.split()[0].lower() if verdict else "", "")
        if i:
            text.append("\n")
        text.append(f"{stage:<{stage_w}}  ", style="bold")
        text.append(f"{verdict:<{verdict_w}}", style=style)
        text.append(f"  {detail}")
    return text


def summary_line(rec: RequestRecord) -> Text:
    text = Text()
    stamp = time.strftime("%H:%M:%S", time.localtime(rec.start))
    text.append(f"{stamp}  ", style=role("muted"))
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
    # The gap is a run of its own, so an exported SVG keeps it (see the header).
    text.append("  ", style="not bold")
    text.append(" · ".join(bits))
    if rec.error:
        text.append(f"\nerror: {rec.error}", style=role("bad", "bold"))
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


def upgrade_text(rec: RequestRecord) -> Text:
    """An upgraded connection (WebSocket, …): bytes and messages each way, first messages."""
    text = Text()
    text.append("protocol  ", style="bold")
    text.append(f"upgrade → {rec.upgrade} (101 Switching Protocols)\n")
    text.append("bytes     ", style="bold")
    text.append(f"client → server {rec.bytes_in:,}   server → client {rec.bytes_out:,}\n")
    if rec.upgrade == "websocket":
        text.append("messages  ", style="bold")
        text.append(f"client → server {rec.messages_in:,}   server → client {rec.messages_out:,}\n")
    text.append("duration  ", style="bold")
    text.append(f"{duration_ms(rec.t_total)} ms\n")
    for arrow, preview in rec.message_previews or ():
        text.append(f"  {arrow} ", style="bold")
        text.append(preview + "\n")
    return text


def _size(n: int) -> str:
    """``1 MiB``, ``1.5 KiB``, ``55 bytes``."""
    if n < 1024:
        return f"{n:,} bytes"
    text = format_size(n, exact=False)
    return text[:-3] + " " + text[-3:]


def body_state(rec: RequestRecord, which: str) -> tuple[bytes | None, list[str]]:
    """The kept body (``request`` or ``response``) and what to tell the reader about it.

    ``None`` means there is nothing to show, and the notes say why — honestly: "no longer kept"
    only when the body was kept and then let go.
    """
    if which == "request":
        kept, seen, total = rec.request_bytes(), rec.request_body_size, rec.bytes_in
    else:
        kept, seen, total = rec.response_bytes(), rec.response_body_size, rec.bytes_out
    total = max(total, seen)
    if rec.bodies_dropped is not None:
        return None, [f"body no longer kept: {rec.bodies_dropped}"]
    if not rec.body_cap:
        if total:
            return None, [f"{total:,}-byte body not kept: body capture is off (records.body_cap)"]
        return b"", []
    if kept is None:
        if total and which == "request":
            return None, [
                f"{total:,}-byte body not kept: it was never read (the request was answered "
                "before its body went upstream)"
            ]
        if total:
            return None, [f"{total:,}-byte body not kept: it never passed through the proxy"]
        if which == "response" and rec.method == "HEAD":
            return b"", ["no body: HEAD responses have none"]
        return b"", []
    notes = []
    if len(kept) < total:
        cap = _size(rec.body_cap)
        notes.append(f"first {_size(len(kept))} of {_size(total)} kept (records.body_cap: {cap})")
    return kept, notes


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


def render_body(rec: RequestRecord, which: str) -> tuple[Text, FormattedBody | None]:
    """Notes and the formatted body for one side; runs in a worker thread (big bodies)."""
    data, notes = body_state(rec, which)
    headers = rec.request_headers if which == "request" else rec.response_headers
    ctype = header_value(headers, "content-type")
    if which == "response" and ctype is None:
        ctype = rec.content_type
    formatted = None
    if data:
        formatted = format_body(data, ctype, header_value(headers, "content-encoding"))
        notes = notes + formatted.notes
    elif data is not None and not notes:
        notes = ["(no body)"]
    note_text = Text()
    kind = f"{formatted.kind} · " if formatted is not None else ""
    if data:
        note_text.append(f"{kind}{ctype or 'no content type'}", style="bold")
    for note in notes:
        if note_text:
            note_text.append("\n")
        note_text.append(note, style="italic")
    return note_text, formatted


def json_tree(tree: Tree[Any], data: Any, limit: int = 2000) -> None:
    """Fill ``tree`` with ``data`` (objects and arrays collapsible), at most ``limit`` nodes."""
    budget = [limit]

    def add(node: Any, key: str, value: Any) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            return
        if isinstance(value, dict):
            child = node.add(Text.assemble((key, "bold"), f" {{{len(value)}}}"), expand=True)
            for k, v in value.items():
                add(child, str(k), v)
        elif isinstance(value, list):
            child = node.add(Text.assemble((key, "bold"), f" [{len(value)}]"), expand=True)
            for i, v in enumerate(value):
                add(child, str(i), v)
        else:
            shown = json_scalar(value)
            node.add_leaf(Text.assemble((key, "bold"), ": ", shown))

    add(tree.root, "body", data)
    if budget[0] < 0:
        tree.root.add_leaf(Text(f"… cut at {limit:,} nodes", style=role("muted")))


def json_scalar(value: Any) -> Text:
    if isinstance(value, str):
        return Text(repr(value)[1:-1] if len(value) < 200 else value[:200] + "…", style=role("ok"))
    if value is None or isinstance(value, bool):
        return Text(str(value).lower() if value is not None else "null", style=role("accent"))
    return Text(str(value), style=role("info"))


_SECTIONS = ("overview", "request", "response", "raw")


class DetailScreen(Screen[None]):
    """Everything recorded about one request, in four sections, searchable.

    | Key | Action |
    | :- | :- |
    | escape, q | Back to the list (or close the search bar). |
    | tab / shift+tab, 1–4 | Next / previous section, or a section by number. |
    | / | Search this section; n / N next / previous match. |
    | C | Copy: curl, HTTPie, raw request, URL, response body. |
    | t | JSON bodies: tree (collapsible) or text. |
    | r | Replay this request; e: edit it, then replay. |
    | ? | These keys. |
    """

    BINDINGS: ClassVar = [
        Binding("escape,q", "close", "Back", id="detail_close", tooltip="Back to the traffic list"),
        Binding(
            "tab",
            "section(1)",
            "Section",
            id="detail_next_section",
            tooltip="Next section: overview, request, response, raw",
        ),
        Binding(
            "shift+tab",
            "section(-1)",
            "Previous section",
            show=False,
            id="detail_previous_section",
            tooltip="Previous section",
        ),
        *(
            Binding(
                str(i + 1),
                f"show_section('{name}')",
                name.title(),
                show=False,
                id=f"detail_section_{name}",
                tooltip=f"Show the {name} section",
            )
            for i, name in enumerate(_SECTIONS)
        ),
        Binding(
            "slash",
            "search",
            "Search",
            id="detail_search",
            tooltip="Search the text of this section (n / N: next / previous match)",
        ),
        Binding(
            "n",
            "next_match(1)",
            "Next match",
            show=False,
            id="detail_next_match",
            tooltip="Go to the next search match",
        ),
        Binding(
            "N",
            "next_match(-1)",
            "Previous match",
            show=False,
            id="detail_previous_match",
            tooltip="Go to the previous search match",
        ),
        Binding(
            "C",
            "copy",
            "Copy",
            id="detail_copy",
            tooltip="Copy as curl, as HTTPie, raw request, URL or response body",
        ),
        Binding(
            "t",
            "toggle_tree",
            "JSON tree",
            show=False,
            id="detail_json_tree",
            tooltip="Show a JSON body as a collapsible tree (again: as text)",
        ),
        Binding(
            "question_mark", "keys", "Keys", id="detail_keys", tooltip="The keys of this screen"
        ),
        *(action(a).binding() for a in ("detail_replay", "detail_edit_replay")),
    ]

    SECTIONS: ClassVar[tuple[str, ...]] = _SECTIONS
    """The sections ``tab`` cycles through, in order."""
    INITIAL_SECTION: ClassVar[str] = "overview"
    KEYS_TITLE: ClassVar[str] = "Request detail"

    def __init__(self, record: RequestRecord) -> None:
        super().__init__(classes="detail")
        self.record = record
        self.query_text = ""
        """The last search."""
        self._matches: list[tuple[TextBlock, int, int]] = []
        self._match = -1
        self._formatted: dict[str, FormattedBody | None] = {}
        self.message = ""
        """The last status message (search position, where a copy went)."""

    # -- layout ------------------------------------------------------------------------------
    def compose(self):
        rec = self.record
        yield Static(themed(summary_line(rec)), id="detail-summary")
        with TabbedContent(id="detail-tabs", initial=f"tab-{self.INITIAL_SECTION}"):
            yield from self.extra_sections()
            with TabPane("1 Overview", id="tab-overview"):
                with VerticalScroll(classes="detail-scroll"):
                    yield from self._overview(rec)
            if rec.method != "CONNECT":
                for which in ("request", "response"):
                    with TabPane(
                        f"{2 if which == 'request' else 3} {which.title()}", id=f"tab-{which}"
                    ):
                        with VerticalScroll(classes="detail-scroll"):
                            yield from self._side(rec, which)
                with TabPane("4 Raw", id="tab-raw"):
                    with VerticalScroll(classes="detail-scroll"):
                        yield TextBlock(raw_text(rec), id="detail-raw")
        search = Input(
            placeholder="search this section · enter finds · esc closes", id="detail-search"
        )
        search.display = False
        yield search
        yield Static("", id="detail-status")
        # The app's key bar: it wraps to a second line at 80 columns instead of cutting keys.
        yield KeyBar()

    def extra_sections(self):
        """Panes shown before the four sections (a held exchange adds its own)."""
        yield from ()

    def _overview(self, rec: RequestRecord):
        if rec.method == "CONNECT":
            yield Static("Tunnel", classes="detail-title")
            yield TextBlock(tunnel_text(rec), id="detail-tunnel")
        else:
            if rec.upgrade:
                yield Static("Upgraded connection", classes="detail-title")
                yield TextBlock(upgrade_text(rec), id="detail-upgrade")
            stripped = not rec.request_headers and rec.upstream_headers is None
            yield Static(
                "Request headers — as the client sent them │ as the upstream received them",
                classes="detail-title",
            )
            if stripped:
                yield Static(themed(Text(STRIPPED, style=NOTE)), classes="detail-note")
            else:
                left, right = header_diff(rec.request_headers, rec.upstream_headers)
                with Horizontal(classes="detail-pair"):
                    yield TextBlock(left, classes="detail-side")
                    yield TextBlock(right, classes="detail-side")
            yield Static(
                "Response headers — as the upstream sent them │ as the client received them",
                classes="detail-title",
            )
            if stripped:
                yield Static(themed(Text(STRIPPED, style=NOTE)), classes="detail-note")
            else:
                left, right = header_diff(rec.backend_response_headers, rec.response_headers)
                with Horizontal(classes="detail-pair"):
                    yield TextBlock(left, classes="detail-side")
                    yield TextBlock(right, classes="detail-side")
        yield Static("Timing", classes="detail-title")
        yield Static(themed(timing_bar(rec)), id="detail-timing")
        yield Static("Trace — what each stage decided and why", classes="detail-title")
        yield TextBlock(trace_table(rec), id="detail-trace")

    def _side(self, rec: RequestRecord, which: str):
        if which == "request":
            title = "Request headers as the client sent them"
            headers: Headers | None = rec.request_headers
            if not headers and rec.upstream_headers is None and rec.status is not None:
                headers = None
            body_id = "detail-request-body"
        else:
            title = "Response headers as the client received them"
            headers = rec.response_headers
            body_id = "detail-body"
        yield Static(title, classes="detail-title")
        missing = STRIPPED if which == "request" or rec.status is not None else "(no response)"
        yield TextBlock(headers_text(headers, missing), id=f"detail-{which}-headers")
        body_title = (
            "Request body as received"
            if which == "request"
            else ("Response body as the client received it")
        )
        yield Static(body_title, classes="detail-title")
        yield Static(
            themed(Text("formatting…", style=NOTE)), id=f"{body_id}-notes", classes="detail-note"
        )
        yield TextBlock(Text(""), id=body_id)
        tree: Tree[Any] = ThemedTree("body", id=f"{body_id}-tree")
        tree.display = False
        yield tree

    def on_mount(self) -> None:
        if self.record.method != "CONNECT":
            self._format_bodies()

    @work(thread=True, exclusive=True, group="detail-body")
    def _format_bodies(self) -> None:
        for which in ("request", "response"):
            try:
                notes, formatted = render_body(self.record, which)
            except Exception as exc:  # a formatter bug must not take the screen down
                notes, formatted = Text(f"cannot show the body: {exc!r}", style=role("bad")), None
            self.app.call_from_thread(self._show_body, which, notes, formatted)

    def _show_body(self, which: str, notes: Text, formatted: FormattedBody | None) -> None:
        if not self.is_mounted:
            return
        self._formatted[which] = formatted
        body_id = "detail-request-body" if which == "request" else "detail-body"
        self.query_one(f"#{body_id}-notes", Static).update(themed(notes))
        self.query_one(f"#{body_id}", TextBlock).set_text(
            formatted.text if formatted is not None else Text("")
        )
        if self.query_text:
            self._run_search(keep_position=True)

    # -- sections ------------------------------------------------------------------------------
    @property
    def section(self) -> str:
        """The section shown: overview, request, response or raw."""
        active = self.query_one("#detail-tabs", TabbedContent).active
        return active.removeprefix("tab-") if active else "overview"

    def _sections(self) -> list[str]:
        return [s for s in self.SECTIONS if self.query(f"#tab-{s}")]

    def action_show_section(self, name: str) -> None:
        if name in self._sections():
            self.query_one("#detail-tabs", TabbedContent).active = f"tab-{name}"

    def action_section(self, step: int) -> None:
        sections = self._sections()
        i = sections.index(self.section) if self.section in sections else 0
        self.action_show_section(sections[(i + step) % len(sections)])

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        self._clear_marks()
        if self.query_text:
            self._run_search()

    # -- search --------------------------------------------------------------------------------
    def action_search(self) -> None:
        search = self.query_one("#detail-search", Input)
        search.display = True
        search.value = self.query_text
        search.focus()

    @on(Input.Submitted, "#detail-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_text = event.value
        search = self.query_one("#detail-search", Input)
        search.display = False
        self._run_search()
        self.query_one("#detail-tabs", TabbedContent).focus()

    def _blocks(self) -> list[TextBlock]:
        pane = self.query_one(f"#tab-{self.section}", TabPane)
        return [b for b in pane.query(TextBlock) if b.display]

    def _clear_marks(self) -> None:
        for block, _s, _e in self._matches:
            block.mark([], None)
        self._matches = []
        self._match = -1

    def _run_search(self, keep_position: bool = False) -> None:
        old = self._match
        self._clear_marks()
        if not self.query_text:
            self._say("")
            return
        for block in self._blocks():
            for start, end in find_spans(block.source.plain, self.query_text):
                self._matches.append((block, start, end))
        if not self._matches:
            self._say(f"no match for {self.query_text!r} in {self.section}")
            return
        self._match = min(old, len(self._matches) - 1) if keep_position and old >= 0 else 0
        self._show_match()

    def action_next_match(self, step: int) -> None:
        if not self._matches:
            if self.query_text:
                self._run_search()
            else:
                self.action_search()
            return
        self._match = (self._match + step) % len(self._matches)
        self._show_match()

    def _show_match(self) -> None:
        by_block: dict[TextBlock, list[tuple[int, int]]] = {}
        for block, start, end in self._matches:
            by_block.setdefault(block, []).append((start, end))
        current_block, start, end = self._matches[self._match]
        for block, spans in by_block.items():
            block.mark(spans, (start, end) if block is current_block else None)
        self._say(
            f"match {self._match + 1} of {len(self._matches)} for {self.query_text!r}"
            " · n next · N previous"
        )
        self.call_after_refresh(self._scroll_to_match, current_block, start)

    def _scroll_to_match(self, block: TextBlock, offset: int) -> None:
        scroll = block.query_ancestor(VerticalScroll)
        width = block.content_region.width or scroll.size.width
        y = block.virtual_region.y + line_of(block.source.plain, offset, width)
        parent = block.parent
        while parent is not None and parent is not scroll:
            y += parent.virtual_region.y
            parent = parent.parent
        top = scroll.scroll_offset.y
        height = scroll.size.height
        if not top <= y < top + height - 1:
            scroll.scroll_to(y=max(y - height // 3, 0), animate=False)

    def _say(self, message: str) -> None:
        self.message = message
        self.query_one("#detail-status", Static).update(Text(message, style="bold"))

    # -- copy, tree, keys ----------------------------------------------------------------------
    def action_copy(self) -> None:
        from workbench.tui.screens.choose import ChooseScreen

        def chosen(fmt: str | None) -> None:
            if fmt:
                self.copy(fmt)

        self.app.push_screen(
            ChooseScreen("Copy this request", list(COPY_FORMATS), notes=COPY_FORMATS), chosen
        )

    def copy(self, fmt: str) -> None:
        """Copy the request in format ``fmt`` (see ``COPY_FORMATS``) and say where it went."""
        payload = copy_text(self.record, fmt)
        if payload is None:
            self._say(f"nothing to copy: {body_state(self.record, 'response')[1] or ['no body']}")
            return
        try:
            path = save_copy(self.record, fmt, payload)
        except OSError as exc:
            path = None
            where = f"could not write a copy file: {exc.strerror or exc}"
        else:
            where = f"saved in {path}"
        label = COPY_FORMATS[fmt]
        if isinstance(payload, str) and self.app._driver is not None:
            self.app.copy_to_clipboard(payload)
            self._say(f"copied {label} to the terminal clipboard (OSC 52) · also {where}")
        else:
            self._say(f"{label}: {where}")

    def action_toggle_tree(self) -> None:
        which = self.section
        formatted = self._formatted.get(which)
        if which not in ("request", "response") or formatted is None or formatted.data is None:
            self._say("the tree view is for JSON bodies (in the request or response section)")
            return
        body_id = "detail-request-body" if which == "request" else "detail-body"
        tree = self.query_one(f"#{body_id}-tree", Tree)
        block = self.query_one(f"#{body_id}", TextBlock)
        if not tree.display:
            if not tree.root.children:
                json_tree(tree, formatted.data)
                tree.root.expand()
                tree.show_root = False
            tree.display = True
            block.display = False
            tree.focus()
        else:
            tree.display = False
            block.display = True
            self.query_one("#detail-tabs", TabbedContent).focus()

    def action_keys(self) -> None:
        from workbench.tui.screens.help import HelpScreen

        # This class's keys and its subclasses' (a held exchange's), a subclass's key winning.
        by_key: dict[str, Binding] = {}
        for cls in reversed(type(self).__mro__):
            for b in cls.__dict__.get("BINDINGS", ()):
                by_key[b.key] = b
        rows = []
        for b in by_key.values():
            keys = " ".join(self.app.get_key_display(Binding(k, "")) for k in b.key.split(","))
            rows.append((keys, b.tooltip or b.description))
        self.app.push_screen(HelpScreen([(self.KEYS_TITLE, rows)]))

    def action_replay(self) -> None:
        """Replay this request through the proxy that handled it."""
        from workbench.tui.replaying import replay

        replay(self.app, self.record)

    def action_edit_replay(self) -> None:
        from workbench.tui.replaying import edit_replay

        edit_replay(self.app, self.record)

    def action_close(self) -> None:
        search = self.query_one("#detail-search", Input)
        if search.display:
            search.display = False
            self.query_one("#detail-tabs", TabbedContent).focus()
            return
        self.dismiss(None)
