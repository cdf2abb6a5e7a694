"""The Traffic view: every request the proxies handled, newest at the bottom.

The view keeps its own cursor into the engine's record log and drains it on the app's timer, one
batch per tick (never a message per record). Pausing stops drawing, not recording: the engine keeps
every record and the view catches up on resume, counting what fell out of the ring as dropped.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.reactive import reactive
from textual.widgets import Static

from workbench.engine.rules.filters import Filter
from workbench.tui.actions import bindings
from workbench.tui.views.base import View
from workbench.tui.views.traffic_intercept import ReplayInterceptActions
from workbench.tui.views.traffic_list_actions import ListActions
from workbench.tui.widgets.filter_bar import FilterBar
from workbench.tui.widgets.request_columns import SORT_KEYS, header_text, layout_columns
from workbench.tui.widgets.request_table import RequestTable

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord


def empty_hint(listeners: Iterable[Any]) -> str:
    """What to type to see a first row, with the addresses the proxies really listen on."""
    urls = {lst.kind: lst.url for lst in listeners}
    reverse, forward = urls.get("reverse"), urls.get("forward")
    lines = ["No requests yet. Send one from another terminal:"]
    if reverse:
        lines.append(f"  curl {reverse}/              (through the reverse proxy)")
    if forward:
        target = f"{reverse}/" if reverse else "http://example.com/"
        lines.append(f"  curl -x {forward} {target}   (through the forward proxy)")
    if not reverse and not forward:
        lines = ["No requests yet, and no proxy is listening."]
    return "\n".join(lines)


class TrafficView(ReplayInterceptActions, ListActions, View):
    """Live list of requests with a display filter, follow mode and pause.

    | Key | Action |
    | :- | :- |
    | / or f | Open the display filter. |
    | F | Follow the newest request (on/off). |
    | space | Pause/resume the display (the proxies keep recording). |
    | enter | Open the request detail. |
    | r / e | Replay the selected request / edit it, then replay (new row marked ↻ID). |
    | i | Intercept filter: hold matching requests or responses (rows once held: ⏸). |
    | H | The held exchanges: open one to see and edit it, then resume (a) or kill (X) it. |
    | a / A / E / X | Resume the oldest held / all / edit then resume / kill (asks) the oldest. |
    | up/k, down/j, pgup, pgdn | Move the selection (moving up turns follow off). |
    | home, g | Oldest request (follow off). |
    | end, G | Back to the newest request (follow on). |
    """

    view_id = "traffic"
    title = "Traffic"

    BINDINGS: ClassVar = bindings("traffic")

    MAX_ROWS: ClassVar[int] = 10_000
    """Requests kept (and shown): as many as the engine's history holds."""
    DRAIN_LIMIT: ClassVar[int] = 10_000
    """Records taken from the engine at once: everything it still holds, so coming back to the
    view after a while in another one leaves no gap."""

    follow: reactive[bool] = reactive(True)
    """Move the cursor to the newest row as rows arrive."""
    paused: reactive[bool] = reactive(False)
    """Stop taking new records (the engine keeps recording)."""

    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.cursor = 0
        """The engine record ``seq`` this view has read up to."""
        self.aged_out = 0
        """Records that left the engine's history before this view could show them."""
        self.selection_gone: int | None = None
        """Id of the selected request when it fell out of the history (until the user moves)."""
        self.display_filter: Filter | None = None
        self.filter_text = ""
        # Every record taken (filtered or not), so a new display filter can bring rows back.
        self._records: deque[RequestRecord] = deque(maxlen=self.MAX_ROWS)
        self._columns: tuple[tuple[str, int], ...] = ()
        self._pending_total = 0
        self._capacity = self.MAX_ROWS
        self._flooding = False
        self._last_drain = 0.0
        # Created up front (not looked up): a tick, a key or a benchmark may reach the view
        # before its children are mounted, and a refresh racing teardown must not fail a query.
        self._table = RequestTable(max_rows=self.MAX_ROWS, id="traffic-table")
        self._header = Static("", id="traffic-header")
        self._empty = Static("", id="traffic-empty")
        self._filter_bar = FilterBar(id="traffic-filter")
        self._filter_bar.display = False
        self._status = Static("", id="traffic-status")
        self._hint = ""
        self._marked: dict[int, RequestRecord] = {}
        self.sort_key: str | None = None
        """Column the list is sorted by (None: arrival order)."""
        self.sort_reverse = False
        self.last_export: str | None = None
        """Path of the last HAR file saved from this view."""

    @property
    def dropped(self) -> int:
        """Old name of :attr:`aged_out` (the benchmark reads it)."""
        return self.aged_out

    def compose(self):
        yield self._header
        yield self._table
        yield self._empty
        yield self._filter_bar
        yield self._status

    @property
    def table(self) -> RequestTable:
        """The request list."""
        return self._table

    def focus_default(self) -> None:
        self.table.focus()

    def on_mount(self) -> None:
        self._render_status()

    def on_resize(self) -> None:
        # Hidden views get a zero size: keep the columns (and every cached row) for the return.
        if self.size.width > 0:
            self._relayout()

    def _relayout(self) -> None:
        columns = self._layout(self.size.width)
        if columns != self._columns:
            self._columns = columns
            self.table.set_columns(columns)
            self._header.update(header_text(columns))

    # -- columns and rows ------------------------------------------------------------------
    def _layout(self, width: int) -> tuple[tuple[str, int], ...]:
        """Columns that fit ``width`` cells, with the path column taking what is left."""
        return layout_columns(width)

    def _refilter(self) -> None:
        """Show the stored records that pass the display filter (after the filter changed)."""
        table = self.table
        flt = self.display_filter
        records = self._all_records()
        matching = records if flt is None else [r for r in records if flt(r)]
        if self.sort_key is not None or self.sort_reverse:
            matching = sorted(matching, key=SORT_KEYS[self.sort_key], reverse=self.sort_reverse)
        table.set_rows(matching, selected=None if self.follow else table.selected_record())
        if self.follow:
            self._to_newest()

    def _to_newest(self) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(table.row_count - 1)

    def selected_record(self) -> RequestRecord | None:
        return self.table.selected_record()

    # -- the timer ---------------------------------------------------------------------------
    FLOOD_ROWS = 100
    """A drain this large means rows arrive faster than anyone can read them..."""
    FLOOD_INTERVAL = 0.5
    """...so the list then refreshes at most this often (seconds): each refresh of a following
    list redraws every visible line, and that frame competes with the proxy for the same core."""

    def update_view(self, snapshot: Any) -> None:
        """Drain new records in one batch (unless paused) and refresh the status line."""
        records = snapshot.records
        self._pending_total = records.total
        self._capacity = records.capacity
        self._hint = empty_hint(snapshot.listeners)
        if not self.paused:
            now = time.monotonic()
            if not self._flooding or now - self._last_drain >= self.FLOOD_INTERVAL:
                self._flooding = self.drain() >= self.FLOOD_ROWS
                self._last_drain = now
        self._render_status()

    def drain(self) -> int:
        """Take every record newer than the cursor; returns how many were added to the view.

        O(new records): they are appended to the list, which renders only rows it has not drawn.
        """
        if not self._columns:
            self._relayout()
        records, self.cursor, skipped = self.engine.records_since(
            self.cursor, limit=self.DRAIN_LIMIT
        )
        self.aged_out += skipped
        if not records:
            return 0
        self._records.extend(records)
        for rec in records:
            if rec.marked:  # marked elsewhere (a saved capture, the admin API)
                self._marked[rec.id] = rec
        flt = self.display_filter
        new = records if flt is None else [r for r in records if flt(r)]
        if not new:
            return 0
        if self.sort_key is not None or self.sort_reverse:
            self._refilter()  # a sorted list has no end to append to
            return len(new)
        table = self.table
        before = table.selected_record()
        if table.add_rows(new, follow=self.follow) and before is not None:
            self.selection_gone = before.id
        return len(new)

    def _render_status(self) -> None:
        table = self.table
        parts = Text(no_wrap=True, overflow="ellipsis")
        if self.paused:
            waiting = max(self._pending_total - self.cursor, 0)
            parts.append(" PAUSED ", style="reverse")
            parts.append(f" {waiting:,} new waiting · space resumes ")
        parts.append(" following " if self.follow else " not following ")
        order = (
            "" if self.sort_key is not None or self.sort_reverse else ", in the order they finished"
        )
        # Once records age out (minutes into a class) that note comes first: at 80 columns the
        # line is cut, and "older records are no longer in the history" must stay readable.
        aged = (
            f"· {self.aged_out:,} older records are no longer in the history "
            f"(the newest {self._capacity:,} are kept) "
            if self.aged_out
            else ""
        )
        parts.append(f"· {table.row_count:,} shown{'' if aged else order} ")
        parts.append(aged)
        if self.display_filter is not None:
            parts.append("· filter ")
            parts.append(self.filter_text)
            parts.append(" ")
        if self.selection_gone is not None:
            parts.append(f"· request #{self.selection_gone} left the history ")
        if aged and order:
            parts.append(f"· {order.removeprefix(', ')} ")
        if self._marked:
            parts.append(f"· {len(self._marked):,} marked ")
        if self.sort_key is not None or self.sort_reverse:
            arrow = "↑" if self.sort_reverse else "↓"
            parts.append(f"· sorted by {self.sort_key or 'arrival'} {arrow} ")
        hold = getattr(self.engine, "hold", None)
        if hold is not None and hold.expression:
            parts.append(f"· intercept: {hold.expression} ({hold.phase}) ", style="bold")
        if hold is not None and hold.held:
            # Held exchanges are not rows yet (they finish later) and wait for the user: they
            # lead the line, so even 80 columns show them.
            shown = ", ".join(
                f"#{h.id} {h.rec.method} {h.rec.path}" for h in list(hold.held.values())[:3]
            )
            more = f" +{len(hold.held) - 3}" if len(hold.held) > 3 else ""
            lead = Text(no_wrap=True, overflow="ellipsis")
            lead.append(f" ⏸ held {len(hold.held)} ", style="reverse")
            lead.append(f" H list · a resume · A all · E edit · X kill · {shown}{more} ")
            parts = lead + parts
        self._status.update(parts, layout=False)
        self.set_class(self.paused, "-paused")
        empty = table.row_count == 0
        hint = self._empty
        if empty:
            hint.update(
                "no request matches the filter (f to change it)"
                if self.display_filter is not None
                else self._hint
            )
        hint.display = empty
        table.display = not empty

    # -- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_filter":
            # While the filter is open, `/` and `f` are text for it.
            return not self._filter_bar.display
        return True

    def action_open_filter(self) -> None:
        self._filter_bar.open(self.filter_text)

    def action_open_detail(self) -> None:
        """Open the selected request (same as ``enter`` on the list)."""
        self.table.action_select_cursor()

    def action_clear_filter(self) -> None:
        """Show every request again."""
        self._filter_bar.apply("")

    def action_preset_filter(self, expression: str) -> None:
        """Apply a ready-made display filter."""
        self._filter_bar.apply(expression)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        if self.follow:
            self._to_newest()
        self._render_status()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.drain()
        self._render_status()

    @on(RequestTable.CursorMoved)
    def _cursor_moved(self, event: RequestTable.CursorMoved) -> None:
        event.stop()
        if self.selection_gone is not None:
            self.selection_gone = None
            self._render_status()

    @on(RequestTable.FollowRequest)
    def _follow_request(self, event: RequestTable.FollowRequest) -> None:
        event.stop()
        if self.selection_gone is not None:
            self.selection_gone = None
            self._render_status()
        if self.follow != event.follow:
            self.follow = event.follow
            if self.follow:
                self._to_newest()
            self._render_status()

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        event.stop()
        flt = event.filter
        self.display_filter = None if flt is None or flt.matches_everything else flt
        self.filter_text = event.text if self.display_filter is not None else ""
        self._refilter()
        self.table.focus()
        self._render_status()

    @on(FilterBar.Cancelled)
    def _filter_cancelled(self, event: FilterBar.Cancelled) -> None:
        event.stop()
        self.table.focus()

    @on(RequestTable.Selected, "#traffic-table")
    def _row_selected(self, event: RequestTable.Selected) -> None:
        event.stop()
        from workbench.tui.screens.detail import DetailScreen

        self.app.push_screen(DetailScreen(event.record))
