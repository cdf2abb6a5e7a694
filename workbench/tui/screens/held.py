"""Held exchanges (the intercept filter's catch): a list of them all, and the detail of one.

The list (``H`` in Traffic) shows every exchange waiting for a decision, its phase and the time
it has left; ``enter`` opens one. The detail of a held exchange is the request detail with one
more section first, *Held*: what will be sent on (request line or status, headers, body), the
edits made so far and the time left. There ``e`` edits it, ``a`` resumes it, ``X`` kills it and
``A`` resumes every held exchange — mitmproxy's keys for the same things.

Everything goes through ``engine.control`` (``held``, ``edit_held``, ``resume_held``,
``kill_held``, ``resume_all_held``); the screens only refresh while they are open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static, TabPane

from workbench.tui.actions import bindings
from workbench.tui.screens.detail import _SECTIONS, DetailScreen
from workbench.tui.widgets.keybar import KeyBar
from workbench.tui.widgets.nav_table import NavTable
from workbench.tui.widgets.searchable import TextBlock

REFRESH = 0.5
"""Seconds between refreshes of a held list or a held detail (time left, held or not)."""


def held_by_id(app: Any, held_id: int) -> dict[str, Any] | None:
    """The held exchange ``held_id`` as the engine describes it now (None: no longer held)."""
    engine = getattr(app, "engine", None)
    if engine is None or getattr(engine, "hold", None) is None:
        return None
    for held in engine.control.held():
        if held["id"] == held_id:
            return held
    return None


def time_left(held: dict[str, Any], on_timeout: str, now: float | None = None) -> str:
    """``12s left, then resume`` for a held exchange."""
    left = max(held["deadline"] - (time.time() if now is None else now), 0.0)
    return f"{left:.0f}s left, then {on_timeout}"


def held_text(held: dict[str, Any], on_timeout: str, now: float | None = None) -> Text:
    """What a held exchange will send on: request line or status, headers, body, edits."""
    now = time.time() if now is None else now
    text = Text()
    waited = max(now - held["since"], 0.0)
    text.append(f"⏸ held in the {held['phase']} phase for {waited:.0f}s", style="bold")
    text.append(f" · {time_left(held, on_timeout, now)} (hold.on_timeout)\n\n")
    if held["phase"] == "request":
        text.append("Will be sent upstream\n", style="bold underline")
        text.append(f"{held['method']} {held['url']}\n", style="bold")
    else:
        text.append("Will be sent to the client\n", style="bold underline")
        text.append(f"status {held['status']}\n", style="bold")
    for name, value in held["headers"]:
        text.append(f"{name}: ", style="bold")
        text.append(f"{value}\n")
    text.append("\n")
    if not held["body_editable"]:
        text.append("(body not shown: streamed, binary or larger than 1 MiB; it goes on as it is)")
    elif held["body"] is None:
        text.append("(binary body: it goes on as it is)", style="italic")
    elif not held["body"]:
        text.append("(no body)", style="italic")
    else:
        text.append(held["body"])
    if held.get("changes"):
        text.append("\n\nedits: ", style="bold")
        text.append("; ".join(held["changes"]))
    return text


def open_held_editor(
    app: Any, held: dict[str, Any], *, resume: bool, done: Callable[[], None] | None = None
) -> None:
    """Edit ``held`` in a form: request line (request) or status (response), headers, body.

    With ``resume`` the form's button resumes it after the edit; errors stay in the form.
    """
    from workbench.tui.screens.edit_request import EditRequestScreen

    control = app.engine.control
    hid = held["id"]

    def submit(fields: dict[str, Any]) -> tuple[bool, str | None, Any]:
        res = control.edit_held(hid, fields)
        if not res.ok:
            return False, res.error, None
        if resume:
            res = control.resume_held(hid)
            if not res.ok:
                return False, res.error, None
        app.notify(f"{'edited and resumed' if resume else 'edited'} held #{hid}")
        if done is not None:
            done()
        return True, None, hid

    request = held["phase"] == "request"
    what = f"held {held['phase']} #{hid} {held['method']} {held['url']}"
    app.push_screen(
        EditRequestScreen(
            f"Edit {what}",
            submit,
            method=held["method"],
            url=held["url"],
            headers=held["headers"],
            body=held["body"] if held["body_editable"] else None,
            request_line=request,
            status=None if request else held["status"],
            save_label="Resume" if resume else "Save",
        )
    )


def confirm_kill(app: Any, held: dict[str, Any], done: Callable[[], None] | None = None) -> None:
    """Ask, then kill ``held`` (its client gets no answer)."""
    from workbench.tui.screens.confirm import ConfirmScreen

    hid = held["id"]

    def answered(yes: bool | None) -> None:
        if not yes:
            return
        res = app.engine.control.kill_held(hid)
        if res.ok:
            app.notify(f"killed held #{hid}")
            if done is not None:
                done()
        else:
            app.notify(res.error or "failed", severity="error")

    question = f"Kill held #{hid} {held['method']} {held['url']}? The client gets no answer."
    app.push_screen(ConfirmScreen(question, yes="Kill"), answered)


def resume(app: Any, hid: int) -> bool:
    res = app.engine.control.resume_held(hid)
    if res.ok:
        app.notify(f"resumed held #{hid}")
    else:
        app.notify(res.error or "failed", severity="error")
    return res.ok


def resume_all(app: Any) -> None:
    res = app.engine.control.resume_all_held()
    ids = res.value or []
    app.notify(f"resumed {len(ids)} held" if ids else "nothing is held", timeout=4)


class HeldListScreen(Screen[None]):
    """Every exchange held by the intercept filter, oldest first.

    | Key | Action |
    | :- | :- |
    | enter | Open the selected one (its Held section: what will be sent). |
    | a / A | Resume the selected one / every one. |
    | e | Edit the selected one (request line or status, headers, body). |
    | X | Kill the selected one (asks first). |
    | escape, q | Back. |
    """

    BINDINGS: ClassVar[list[BindingType]] = bindings("held_list")

    DEFAULT_CSS = """
    HeldListScreen #held-title { height: 1; padding: 0 1; text-style: bold; }
    HeldListScreen #held-table { height: 1fr; }
    HeldListScreen #held-status { height: auto; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[int] = []
        """Held ids in table order (tests read it)."""

    def compose(self) -> ComposeResult:
        yield Static("Held by the intercept filter", id="held-title")
        yield NavTable(id="held-table")
        yield Static("", id="held-status")
        # The app's key bar: it wraps to a second line at 80 columns instead of cutting keys.
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(NavTable)
        fixed = (("#", 5), ("phase", 8), ("method", 7), ("status", 6), ("held", 5), ("left", 5))
        # Every column has a cell of padding each side; the URL and the edits share the rest.
        rest = max(self.app.size.width - sum(w + 2 for _l, w in fixed) - 2 * 2 - 2, 30)
        widths = dict(fixed) | {"path": rest * 2 // 3, "edits": rest - rest * 2 // 3}
        for label in ("#", "phase", "method", "path", "status", "held", "left", "edits"):
            table.add_column(label, width=widths[label])
        self.refresh_list()
        self.set_interval(REFRESH, self.refresh_list)
        table.focus()

    def _held(self) -> list[dict[str, Any]]:
        engine = getattr(self.app, "engine", None)
        if engine is None or getattr(engine, "hold", None) is None:
            return []
        return engine.control.held()

    def refresh_list(self) -> None:
        """Rebuild the rows (a handful at most); the selection stays on its exchange."""
        table = self.query_one(NavTable)
        held = self._held()
        selected = self.selected_id()
        now = time.time()
        table.clear()
        self.ids = [h["id"] for h in held]
        for h in held:
            table.add_row(
                str(h["id"]),
                h["phase"],
                h["method"],
                h["target"],  # the path (as edited); the detail shows the whole URL
                str(h["status"] or ""),
                f"{max(now - h['since'], 0):.0f}s",
                f"{max(h['deadline'] - now, 0):.0f}s",
                "; ".join(h.get("changes") or ()) or "",
                key=str(h["id"]),
            )
        if selected in self.ids:
            table.move_cursor(row=self.ids.index(selected))
        hold = self.app.engine.hold if held or self._has_hold() else None
        if not held:
            status = "nothing is held"
            if hold is not None and hold.expression:
                status += f" · intercept: {hold.expression} ({hold.phase}) · escape: back"
            else:
                status += " · i in Traffic sets the intercept filter · escape: back"
        else:
            status = (
                f"{len(held)} held · enter open · a resume · A resume all · e edit · X kill"
                f" · unattended: {hold.on_timeout} after {hold.timeout:g}s"
                if hold is not None
                else f"{len(held)} held"
            )
        self.query_one("#held-status", Static).update(status)

    def _has_hold(self) -> bool:
        engine = getattr(self.app, "engine", None)
        return engine is not None and getattr(engine, "hold", None) is not None

    def selected_id(self) -> int | None:
        table = self.query_one(NavTable)
        if not self.ids or table.cursor_row < 0 or table.cursor_row >= len(self.ids):
            return None
        return self.ids[table.cursor_row]

    def _selected(self) -> dict[str, Any] | None:
        hid = self.selected_id()
        held = held_by_id(self.app, hid) if hid is not None else None
        if held is None:
            self.app.notify("nothing held is selected", severity="warning")
        return held

    def on_data_table_row_selected(self, event: NavTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        held = self._selected()
        if held is not None:
            rec = self.app.engine.hold.held[held["id"]].rec
            self.app.push_screen(HeldDetailScreen(rec))

    def action_resume(self) -> None:
        held = self._selected()
        if held is not None and resume(self.app, held["id"]):
            self.refresh_list()

    def action_resume_all(self) -> None:
        resume_all(self.app)
        self.refresh_list()

    def action_edit(self) -> None:
        held = self._selected()
        if held is not None:
            open_held_editor(self.app, held, resume=False, done=self.refresh_list)

    def action_kill(self) -> None:
        held = self._selected()
        if held is not None:
            confirm_kill(self.app, held, done=self.refresh_list)

    def action_close(self) -> None:
        self.dismiss(None)


class HeldDetailScreen(DetailScreen):
    """The request detail of a held exchange, opening on its *Held* section.

    | Key | Action |
    | :- | :- |
    | 0 | The Held section: what will be sent on, the edits, the time left. |
    | e | Edit it: request line (request phase) or status (response phase), headers, body. |
    | a / A | Resume it / every held exchange. |
    | X | Kill it (asks first): its client gets no answer. |
    | (the rest) | As in the request detail (sections, search, copy; no replay while held). |
    """

    BINDINGS: ClassVar = [
        *bindings("held"),
        Binding(
            "0",
            "show_section('held')",
            "Held",
            show=False,
            id="detail_section_held",
            tooltip="Show the Held section: what will be sent on, the edits, the time left",
        ),
    ]
    SECTIONS: ClassVar[tuple[str, ...]] = ("held", *_SECTIONS)
    INITIAL_SECTION: ClassVar[str] = "held"
    KEYS_TITLE: ClassVar[str] = "Held exchange"

    def __init__(self, record: Any) -> None:
        super().__init__(record)
        self.held_id: int = record.id
        self.held: dict[str, Any] | None = None
        """The exchange as last seen held; None once it is not held any more."""

    def extra_sections(self):
        with TabPane("0 Held", id="tab-held"):
            with VerticalScroll(classes="detail-scroll"):
                yield Static(
                    "Held by the intercept filter — a resume · e edit · X kill · A resume all",
                    classes="detail-title",
                )
                yield TextBlock(Text(""), id="detail-held")

    def on_mount(self) -> None:
        super().on_mount()
        self.refresh_held()
        self.set_interval(REFRESH, self.refresh_held)

    def refresh_held(self) -> None:
        """Show what will be sent on (or, once decided, what became of the exchange)."""
        held = held_by_id(self.app, self.held_id)
        self.held = held
        block = self.query_one("#detail-held", TextBlock)
        if held is None:
            steps = [s for s in self.record.trace or () if s[0] == "hold"]
            outcome = f"{steps[-1][1]}: {steps[-1][2]}" if steps else "decided"
            block.set_text(Text(f"no longer held — {outcome}", style="bold"))
            return
        block.set_text(held_text(held, self.app.engine.hold.on_timeout))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("replay", "edit_replay"):
            return False  # not finished: nothing to replay yet
        return True

    def _current(self) -> dict[str, Any] | None:
        self.refresh_held()
        if self.held is None:
            self.app.notify(f"#{self.held_id} is no longer held", severity="warning")
        return self.held

    def action_resume(self) -> None:
        if self._current() is not None and resume(self.app, self.held_id):
            self.dismiss(None)

    def action_resume_all(self) -> None:
        resume_all(self.app)
        self.dismiss(None)

    def action_edit(self) -> None:
        held = self._current()
        if held is not None:
            self.action_show_section("held")
            open_held_editor(self.app, held, resume=False, done=self.refresh_held)

    def action_kill(self) -> None:
        held = self._current()
        if held is not None:
            confirm_kill(self.app, held, done=lambda: self.dismiss(None))
