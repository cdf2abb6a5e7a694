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
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from workbench.engine.filters import Filter
from workbench.tui.views.base import View
from workbench.tui.widgets.filter_bar import FilterBar

if TYPE_CHECKING:
    from workbench.engine.records import RequestRecord


def status_style(status: int | None, error: str | None = None) -> str:
    """Rich style for a status code, by class (5xx and errors red, 4xx yellow, ...)."""
    if status is None:
        return "bold red" if error else "dim"
    if status >= 500:
        return "bold red"
    if status >= 400:
        return "yellow"
    if status >= 300:
        return "cyan"
    if status >= 200:
        return "green"
    return "dim"


def human_size(n: int) -> str:
    """Compact byte count: ``512``, ``1.5K``, ``12M``."""
    if n < 1024:
        return str(n)
    for unit in ("K", "M", "G"):
        n /= 1024
        if n < 10:
            return f"{n:.1f}{unit}"
        if n < 1024:
            return f"{n:.0f}{unit}"
    return f"{n:.0f}T"


def duration_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f}" if ms < 10 else f"{ms:,.0f}"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


# (column key, label, width, narrowest view width that shows it). The path column takes the rest.
_COLUMNS: tuple[tuple[str, str, int, int], ...] = (
    ("time", "time", 8, 0),
    ("client", "client", 15, 150),
    ("proxy", "proxy", 5, 100),
    ("method", "method", 7, 0),
    ("host", "host", 16, 0),
    ("path", "path", 0, 0),
    ("status", "status", 6, 0),
    ("size", "size", 5, 110),
    ("ms", "ms", 6, 0),
    ("backend", "backend", 9, 90),
    ("cache", "cache", 11, 120),
    ("rule", "rule/tags", 12, 135),
)
_PATH_MIN = 12


class RequestTable(DataTable):
    """The table of requests; ``enter`` opens the detail of the selected row.

    Moving up leaves the newest row, which turns follow off (otherwise the next batch would pull
    the cursor back down); ``end`` goes back to the newest row and turns follow on.
    """

    BINDINGS: ClassVar = [
        Binding(
            "enter",
            "select_cursor",
            "Detail",
            id="detail",
            tooltip="Open the selected request: headers before/after, body, timing and trace",
        ),
        Binding(
            "home,g",
            "scroll_top",
            "Oldest",
            id="oldest",
            show=False,
            tooltip="Jump to the oldest request (follow off)",
        ),
        Binding(
            "end,G",
            "scroll_bottom",
            "Newest",
            id="newest",
            show=False,
            tooltip="Jump to the newest request (follow on)",
        ),
    ]

    class FollowRequest(Message):
        """The user moved the cursor in a way that should switch follow on or off."""

        def __init__(self, table: RequestTable, follow: bool) -> None:
            super().__init__()
            self.table = table
            self.follow = follow

        @property
        def control(self) -> RequestTable:
            return self.table

    def action_cursor_up(self) -> None:
        super().action_cursor_up()
        self.post_message(self.FollowRequest(self, False))

    def action_page_up(self) -> None:
        super().action_page_up()
        self.post_message(self.FollowRequest(self, False))

    def action_scroll_top(self) -> None:
        super().action_scroll_top()
        self.post_message(self.FollowRequest(self, False))

    def action_scroll_bottom(self) -> None:
        super().action_scroll_bottom()
        self.post_message(self.FollowRequest(self, True))


class TrafficView(View):
    """Live list of requests with a display filter, follow mode and pause.

    | Key | Action |
    | :- | :- |
    | / or f | Open the display filter. |
    | F | Follow the newest request (on/off). |
    | space | Pause/resume the display (the proxies keep recording). |
    | enter | Open the request detail. |
    | up, pgup, home | Move away from the newest request (follow off). |
    | end | Back to the newest request (follow on). |
    """

    view_id = "traffic"
    title = "Traffic"

    BINDINGS: ClassVar = [
        Binding(
            "slash,f",
            "open_filter",
            "Filter",
            id="filter",
            tooltip="Show only requests matching a filter expression (never changes traffic)",
        ),
        Binding(
            "F", "toggle_follow", "Follow", id="follow", tooltip="Keep the newest request in view"
        ),
        Binding(
            "space",
            "toggle_pause",
            "Pause",
            id="pause",
            tooltip="Freeze the list; the proxies keep recording and the list catches up on resume",
        ),
    ]

    MAX_ROWS: ClassVar[int] = 1000
    """Rows kept in the table; older ones are removed."""
    TRIM_TO: ClassVar[int] = 750
    """Rows kept after a trim; the gap avoids rebuilding the table on every tick under load."""
    DRAIN_LIMIT: ClassVar[int] = 500
    """Records taken from the engine per tick; the rest of a burst counts as dropped."""

    follow: reactive[bool] = reactive(True)
    """Move the cursor to the newest row as rows arrive."""
    paused: reactive[bool] = reactive(False)
    """Stop taking new records (the engine keeps recording)."""

    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.cursor = 0
        """The engine record ``seq`` this view has read up to."""
        self.dropped = 0
        """Records that were never shown because the ring or a tick's limit skipped them."""
        self.display_filter: Filter | None = None
        self.filter_text = ""
        self._records: deque[RequestRecord] = deque(maxlen=self.MAX_ROWS)
        self._by_key: dict[str, RequestRecord] = {}
        self._columns: tuple[tuple[str, int], ...] = ()
        self._pending_total = 0

    def compose(self):
        table = RequestTable(id="traffic-table", cursor_type="row", zebra_stripes=True)
        yield table
        bar = FilterBar(id="traffic-filter")
        bar.display = False
        yield bar
        yield Static("", id="traffic-status")

    @property
    def table(self) -> RequestTable:
        return self.query_one("#traffic-table", RequestTable)

    def focus_default(self) -> None:
        self.table.focus()

    def on_mount(self) -> None:
        self._render_status()

    def on_resize(self) -> None:
        columns = self._layout(self.size.width)
        if columns != self._columns:
            self._columns = columns
            self._rebuild(columns_changed=True)

    # -- columns and rows ------------------------------------------------------------------
    def _layout(self, width: int) -> tuple[tuple[str, int], ...]:
        """Columns that fit ``width`` cells, with the path column taking what is left."""
        if width <= 0:
            width = 80
        chosen = [(k, w) for k, _label, w, need in _COLUMNS if width >= need]
        # Each column has one cell of padding on both sides; keep 2 cells for the scrollbar.
        used = sum(w + 2 for k, w in chosen if k != "path") + 2 + 2
        path_width = max(width - used, _PATH_MIN)
        return tuple((k, path_width if k == "path" else w) for k, w in chosen)

    def _row(self, rec: RequestRecord) -> list[Any]:
        widths = dict(self._columns)
        out: list[Any] = []
        for key, width in self._columns:
            if key == "time":
                out.append(time.strftime("%H:%M:%S", time.localtime(rec.start)))
            elif key == "client":
                out.append(_fit(rec.client, width))
            elif key == "proxy":
                out.append("fwd" if rec.proxy == "forward" else "rev")
            elif key == "method":
                out.append(_fit(rec.method, width))
            elif key == "host":
                out.append(_fit(rec.host, widths["host"]))
            elif key == "path":
                out.append(_fit(rec.path, width))
            elif key == "status":
                label = str(rec.status) if rec.status is not None else ("ERR" if rec.error else "…")
                out.append(Text(label, style=status_style(rec.status, rec.error)))
            elif key == "size":
                out.append(Text(human_size(rec.bytes_out), justify="right"))
            elif key == "ms":
                out.append(Text(duration_ms(rec.t_total), justify="right"))
            elif key == "backend":
                out.append(_fit(rec.backend or "", width))
            elif key == "cache":
                out.append(_fit(rec.cache or "", width))
            elif key == "rule":
                label = rec.rule or ",".join(rec.tags or ())
                out.append(_fit(label, width))
        return out

    def _add(self, records: Iterable[RequestRecord]) -> None:
        table = self.table
        rows = []
        for rec in records:
            key = str(rec.id)
            if key in self._by_key:
                continue
            self._by_key[key] = rec
            rows.append((key, self._row(rec)))
        for key, cells in rows:
            table.add_row(*cells, key=key)

    def _matching(self) -> list[RequestRecord]:
        flt = self.display_filter
        if flt is None:
            return list(self._records)
        return [r for r in self._records if flt(r)]

    def _rebuild(self, *, columns_changed: bool = False, keep: int | None = None) -> None:
        """Redraw the table from the stored records (after a filter change, resize or trim)."""
        table = self.table
        selected = self._selected_key()
        table.clear(columns=columns_changed)
        if columns_changed:
            labels = {k: label for k, label, _w, _n in _COLUMNS}
            for key, width in self._columns:
                table.add_column(labels[key], width=width, key=key)
        self._by_key.clear()
        matching = self._matching()
        if keep is not None:
            matching = matching[-keep:]
        self._add(matching)
        if self.follow or selected is None:
            self._to_newest()
        elif selected in self._by_key:
            table.move_cursor(row=table.get_row_index(selected), animate=False)

    def _selected_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # cursor outside the table: nothing selected
            return None

    def _to_newest(self) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False, scroll=True)

    def selected_record(self) -> RequestRecord | None:
        key = self._selected_key()
        return self._by_key.get(key) if key is not None else None

    # -- the timer ---------------------------------------------------------------------------
    def update_view(self, snapshot: dict[str, Any]) -> None:
        """Drain new records in one batch (unless paused) and refresh the status line."""
        total = (snapshot.get("records") or {}).get("total", 0)
        self._pending_total = total
        if not self.paused:
            self.drain()
        self._render_status()

    def drain(self) -> int:
        """Take the records newer than the cursor; returns how many were added to the view."""
        if not self._columns:
            self._columns = self._layout(self.size.width)
            self._rebuild(columns_changed=True)
        records, self.cursor, skipped = self.engine.records_since(
            self.cursor, limit=self.DRAIN_LIMIT
        )
        self.dropped += skipped
        if not records:
            return 0
        self._records.extend(records)
        flt = self.display_filter
        new = records if flt is None else [r for r in records if flt(r)]
        if not new:
            return 0
        if self.table.row_count + len(new) > self.MAX_ROWS:
            self._rebuild(keep=self.TRIM_TO)
        else:
            self._add(new)
            if self.follow:
                self._to_newest()
        return len(new)

    def _render_status(self) -> None:
        parts = Text(no_wrap=True, overflow="ellipsis")
        if self.paused:
            waiting = max(self._pending_total - self.cursor, 0)
            parts.append(" PAUSED ", style="bold reverse")
            parts.append(f" {waiting:,} new waiting · space resumes ")
        parts.append(" following " if self.follow else " not following ", style="bold")
        parts.append(f"· {self.table.row_count:,} shown ")
        if self.display_filter is not None:
            parts.append("· filter ", style="dim")
            parts.append(self.filter_text, style="bold")
            parts.append(" ")
        if self.dropped:
            parts.append(f"· {self.dropped:,} dropped ", style="bold yellow")
        self.query_one("#traffic-status", Static).update(parts)
        self.set_class(self.paused, "-paused")

    # -- actions -------------------------------------------------------------------------------
    def action_open_filter(self) -> None:
        self.query_one(FilterBar).open(self.filter_text)

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

    @on(RequestTable.FollowRequest)
    def _follow_request(self, event: RequestTable.FollowRequest) -> None:
        event.stop()
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
        self._rebuild()
        self.table.focus()
        self._render_status()

    @on(FilterBar.Cancelled)
    def _filter_cancelled(self, event: FilterBar.Cancelled) -> None:
        event.stop()
        self.table.focus()

    @on(DataTable.RowSelected, "#traffic-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        rec = self._by_key.get(event.row_key.value or "")
        if rec is None:
            return
        from workbench.tui.screens.detail import DetailScreen

        self.app.push_screen(DetailScreen(rec))
