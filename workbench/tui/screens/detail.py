"""Request detail: what the client sent vs what the upstream got, bodies, raw heads, the trace.

Four sections: *Overview* (headers before/after the proxy side by side, timing, trace), *Request*
and *Response* (head and body, decoded and shown by content type — the response exactly as the
client received it: block pages, cache hits and error pages included) and *Raw* (the request
line and head as received and as sent upstream, so origin-form vs absolute-form is visible).
In the header comparison, lines the proxy removed are marked ``-``, lines it added ``+``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static, TabbedContent, TabPane, Tree

from workbench.tui.actions import action
from workbench.tui.copyas import COPY_FORMATS, copy_text, save_copy
from workbench.tui.screens.detail_body import body_state, json_tree, render_body
from workbench.tui.screens.detail_headers import (
    NOTE,
    STRIPPED,
    header_diff,
    headers_text,
    raw_text,
)
from workbench.tui.screens.detail_overview import (
    summary_line,
    timing_bar,
    trace_table,
    tunnel_text,
    upgrade_text,
)
from workbench.tui.screens.detail_search import SectionSearch
from workbench.tui.widgets.body_format import FormattedBody
from workbench.tui.widgets.keybar import KeyBar
from workbench.tui.widgets.palette import ThemedTree, role, themed
from workbench.tui.widgets.searchable import TextBlock

if TYPE_CHECKING:
    from workbench.engine.observe.records import Headers, RequestRecord

_SECTIONS = ("overview", "request", "response", "raw")


class DetailScreen(SectionSearch, Screen[None]):
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

    # -- search (a query submitted; finding and stepping: SectionSearch) -----------------------
    @on(Input.Submitted, "#detail-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_text = event.value
        search = self.query_one("#detail-search", Input)
        search.display = False
        self._run_search()
        self.query_one("#detail-tabs", TabbedContent).focus()

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
