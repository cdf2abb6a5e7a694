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

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from workbench.engine.observe.tls_outcome import STATUS_LABEL as TLS_LABEL
from workbench.engine.observe.tls_outcome import client_tls_failure, short_failure
from workbench.engine.rules.filters import Filter
from workbench.tui.actions import bindings
from workbench.tui.views.base import View
from workbench.tui.widgets.filter_bar import FilterBar
from workbench.tui.widgets.palette import role, theme_styles

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord


def status_style(status: int | None, error: str | None = None) -> str:
    """Textual style for a status code, by class (5xx and errors bold ``bad``, 4xx ``warn``…)."""
    name = status_role(status, error)
    return role(name, "bold") if name == "bad" else role(name)


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


def _cell(text: str, width: int, right: bool = False) -> str:
    """``text`` cut (with an ellipsis) or padded to exactly ``width`` terminal cells."""
    if text.isascii():
        text = _fit(text, width)
        return text.rjust(width) if right else text.ljust(width)
    if cell_len(text) > width:
        text = set_cell_size(text, max(width - 1, 0)) + "…"
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


# (column key, label, width, narrowest view width that shows it). The path column takes the rest.
# The columns that say least go first when space runs out: the client (nearly always 127.0.0.1
# in a classroom), then the host (the reverse proxy's own address; a forward request's origin is
# in the backend column as host:port). Proxy, status, backend and cache stay whole at every size.
_COLUMNS: tuple[tuple[str, str, int, int], ...] = (
    ("time", "finished", 8, 90),
    ("client", "client", 15, 150),
    ("proxy", "proxy", 5, 0),
    ("method", "method", 7, 0),
    ("host", "host", 16, 100),
    ("path", "path", 0, 0),
    ("status", "status", 6, 0),
    ("size", "size", 5, 110),
    ("ms", "ms", 6, 0),
    ("backend", "backend", 15, 0),
    ("cache", "cache", 11, 0),
    ("rule", "rule/tags", 14, 135),
)
_PATH_MIN = 12


def status_role(status: int | None, error: str | None = None) -> str:
    """The theme role of a status code's class (5xx and errors bad, 4xx warn, ...)."""
    if status is None:
        return "bad" if error else "muted"
    if status >= 500:
        return "bad"
    if status >= 400:
        return "warn"
    if status >= 300:
        return "info"
    if status >= 200:
        return "ok"
    return "muted"


def _cell_keep_end(text: str, width: int) -> str:
    """Like :func:`_cell`, but a cut keeps the end (a forward backend's ``host:port``)."""
    if len(text) > width and ":" in text:
        return "…" + text[-(width - 1) :]
    return _cell(text, width)


def cell_texts(rec: RequestRecord, columns: tuple[tuple[str, int], ...]) -> list[str]:
    """The text of each column for ``rec``, each exactly its column's width."""
    out: list[str] = []
    rule_hidden = all(key != "rule" for key, _w in columns)
    for key, width in columns:
        if key == "time":
            # Rows are in completion order, so the column shows when each request finished.
            done = rec.start + max(rec.t_total, 0.0)
            text = _cell(time.strftime("%H:%M:%S", time.localtime(done)), width)
        elif key == "client":
            text = _cell(rec.client, width)
        elif key == "proxy":
            text = _cell("fwd" if rec.proxy == "forward" else "rev", width)
        elif key == "method":
            text = _cell(rec.method, width)
        elif key == "host":
            text = _cell(rec.host, width)
        elif key == "path":
            replay_of = getattr(rec, "replay_of", None)
            # A tunnel has no path: its target (host:port) is what it asked for.
            path = rec.path or (rec.url if rec.method == "CONNECT" else "")
            if rec.method == "CONNECT" and rec.status is None:
                failed = client_tls_failure(rec)
                if failed is not None:
                    path = f"✗ {short_failure(failed[0])} · {path}"  # the reason first
            path = f"↻{replay_of} {path}" if replay_of else path
            if any(step[0] == "hold" for step in rec.trace or ()):
                path = "⏸" + path  # was held by the intercept filter
            text = _cell(path, width)
        elif key == "status":
            if rec.status is not None:
                label = str(rec.status)
            elif rec.method == "CONNECT" and client_tls_failure(rec) is not None:
                label = TLS_LABEL
            else:
                label = "ERR" if rec.error else "…"
            text = _cell(label, width)
        elif key == "size":
            text = _cell(human_size(rec.bytes_out), width, right=True)
        elif key == "ms":
            text = _cell(duration_ms(rec.t_total), width, right=True)
        elif key == "backend":
            backend = rec.backend or ""
            if not backend and rec.rule and rule_hidden:
                backend = f"⊘ {rec.rule}"  # stopped at the proxy: say by which rule
            text = _cell_keep_end(backend, width)
        elif key == "cache":
            text = _cell(rec.cache or "", width)
        else:  # rule
            text = _cell(rec.rule or ",".join(rec.tags or ()), width)
        out.append(text)
    return out


def render_row(
    rec: RequestRecord,
    columns: tuple[tuple[str, int], ...],
    style: Style,
    cursor: bool,
    width: int,
    palette: dict[str, Style] | None = None,
) -> Strip:
    """One request as one line: each column after one blank cell, status coloured by class.

    On the cursor row the cursor colours win, as they do in a table.
    """
    # One segment per cell (not one per line): terminals and SVG exports align cells exactly.
    segments: list[Segment] = []
    for (key, _w), text in zip(columns, cell_texts(rec, columns), strict=True):
        cell_style = style
        if key == "status" and not cursor and palette is not None:
            cell_style = style + palette[status_role(rec.status, rec.error)]
        segments.append(Segment(f" {text}", cell_style))
    if rec.marked and segments:
        # The mark takes the first cell's leading pad, so every column stays where it is.
        mark = style + palette["accent"] + Style(bold=True) if palette else style
        segments[0] = Segment("●" + segments[0].text[1:], mark)
    return Strip(segments).adjust_cell_length(width, style)


def header_text(columns: tuple[tuple[str, int], ...]) -> Text:
    """Column titles laid out like :func:`render_row` lays out the cells."""
    labels = {k: label for k, label, _w, _n in _COLUMNS}
    right = {"size", "ms"}
    return Text(
        "".join(f" {_cell(labels[k], w, right=k in right)}" for k, w in columns),
        no_wrap=True,
        overflow="crop",
    )


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


class EmptyHint(Static, can_focus=True):
    """What an empty list shows instead of rows; it holds the focus meanwhile, so the Traffic
    view's keys keep working (a hidden list cannot have it)."""


class RequestTable(ScrollView, can_focus=True):
    """The list of requests, drawn one line per request with the Line API.

    A row is rendered once into a :class:`Strip` and cached by record, so a frame after new
    requests arrive renders only the new rows (a ``DataTable`` re-renders every visible cell).
    Moving up leaves the newest row, which turns follow off (otherwise the next batch would pull
    the cursor back down); ``end`` goes back to the newest row and turns follow on.

    | Key | Action |
    | :- | :- |
    | up, k / down, j | Move the cursor one request. |
    | pgup / pgdn | Move the cursor one page. |
    | home, g | Oldest request (follow off). |
    | end, G | Newest request (follow on). |
    | enter | Open the detail of the selected request. |
    """

    BINDINGS: ClassVar = bindings("list")

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "request-table--cursor",
        "request-table--cursor-blurred",
        "request-table--even-row",
    }

    DEFAULT_CSS = """
    RequestTable {
        overflow-x: hidden;
        scrollbar-gutter: stable;
    }
    """

    class FollowRequest(Message):
        """The user moved the cursor in a way that should switch follow on or off."""

        def __init__(self, table: RequestTable, follow: bool) -> None:
            super().__init__()
            self.table = table
            self.follow = follow

        @property
        def control(self) -> RequestTable:
            return self.table

    class CursorMoved(Message):
        """The user moved the cursor (whatever the direction)."""

        def __init__(self, table: RequestTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> RequestTable:
            return self.table

    class Selected(Message):
        """The user asked for the detail of ``record`` (``enter`` or a double click)."""

        def __init__(self, table: RequestTable, record: RequestRecord) -> None:
            super().__init__()
            self.table = table
            self.record = record

        @property
        def control(self) -> RequestTable:
            return self.table

    STRIP_CACHE: ClassVar[int] = 512
    """Rendered rows kept (by request, width and state)."""

    def __init__(self, max_rows: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: deque[RequestRecord] = deque(maxlen=max_rows)
        """The shown requests, oldest first; the oldest fall off past ``max_rows``."""
        self._cursor = 0
        self._columns: tuple[tuple[str, int], ...] = ()
        # Rows that ever left the front: row parity (zebra stripes) is counted from the first
        # row ever shown, so a drop at the front does not restripe (and re-render) every row.
        self._shifted = 0
        # Enough for a few screens of rows in each state; kept small because every cached Strip
        # is more objects for the garbage collector to walk.
        self._strips: LRUCache[tuple[int, int, int, int, bool], Strip] = LRUCache(self.STRIP_CACHE)
        self._styles: tuple[Style, Style, Style, Style] | None = None
        self._palette: dict[str, Style] | None = None

    # -- data ----------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        """How many requests are shown."""
        return len(self.rows)

    @property
    def cursor_row(self) -> int:
        """Index of the selected row (0 is the oldest shown)."""
        return self._cursor

    def selected_record(self) -> RequestRecord | None:
        """The request under the cursor, if any."""
        return self.rows[self._cursor] if self.rows else None

    def set_columns(self, columns: tuple[tuple[str, int], ...]) -> None:
        """Use a new column layout (after a resize); every row renders again once."""
        self._columns = columns
        self._strips.clear()
        self.refresh()

    def set_rows(self, records: Iterable[RequestRecord], *, selected: RequestRecord | None) -> None:
        """Replace every row (after a filter change), keeping ``selected`` selected if shown."""
        self.rows.clear()
        self.rows.extend(records)
        self._shifted = 0
        self._strips.clear()
        self._sync_size()
        row = 0
        if selected is not None:
            for i in range(len(self.rows) - 1, -1, -1):
                if self.rows[i] is selected:
                    row = i
                    break
        self.move_cursor(row)
        self.refresh()

    def add_rows(self, records: list[RequestRecord], *, follow: bool = False) -> bool:
        """Append ``records`` (O(new)); past the limit the oldest rows fall off the top.

        With ``follow`` the newest row is selected and scrolled into view in the same step, so
        the scroll position (and the scrollbar) changes at most once per batch. Returns True when
        the selected request itself fell off (the cursor then rests on the oldest row).
        """
        if not records:
            return False
        rows = self.rows
        first_new = len(rows)
        rows.extend(records)
        overflow = first_new + len(records) - len(rows)
        self._sync_size()
        if follow:
            self._shifted += max(overflow, 0)
            self._cursor = len(rows) - 1
            self._scroll_cursor_into_view()
            # Every visible line may show another request now; all but the new ones are cached.
            self.refresh()
            return False
        lost = False
        if overflow > 0:
            # The rows moved up: keep the cursor (and what the user is reading) on the same request.
            self._shifted += overflow
            lost = first_new > 0 and self._cursor < overflow
            self._cursor = max(self._cursor - overflow, 0)
            self.scroll_to(y=max(self.scroll_offset.y - overflow, 0), animate=False)
            self.refresh()
        else:
            self.refresh_lines(first_new, len(records))
        return lost

    def _sync_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows))

    # -- cursor --------------------------------------------------------------------------------
    def move_cursor(self, row: int, *, scroll: bool = True) -> None:
        """Select ``row`` (clamped) and, with ``scroll``, bring it into view."""
        row = max(0, min(row, len(self.rows) - 1))
        old = self._cursor
        self._cursor = row
        if old != row:
            self.refresh_lines(old)
            self.refresh_lines(row)
        if scroll:
            self._scroll_cursor_into_view()

    def _scroll_cursor_into_view(self) -> None:
        height = self.scrollable_content_region.height
        top = self.scroll_offset.y
        row = self._cursor
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif height > 0 and row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)

    def _page(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)
        self.post_message(self.FollowRequest(self, False))

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)
        self.post_message(self.CursorMoved(self))

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - self._page())
        self.post_message(self.FollowRequest(self, False))

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + self._page())
        self.post_message(self.CursorMoved(self))

    def action_scroll_top(self) -> None:
        self.move_cursor(0)
        self.post_message(self.FollowRequest(self, False))

    def action_scroll_bottom(self) -> None:
        self.move_cursor(len(self.rows) - 1)
        self.post_message(self.FollowRequest(self, True))

    def action_select_cursor(self) -> None:
        record = self.selected_record()
        if record is not None:
            self.post_message(self.Selected(self, record))

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = offset.y + self.scroll_offset.y
        if row >= len(self.rows):
            return
        self.move_cursor(row)
        self.post_message(self.FollowRequest(self, row == len(self.rows) - 1))
        if event.chain >= 2:
            self.action_select_cursor()

    # -- drawing -------------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        # A theme or CSS change: cached rows carry the old colours.
        self._styles = None
        self._strips.clear()

    def _on_focus(self, event: events.Focus) -> None:
        super()._on_focus(event)
        self.refresh_lines(self._cursor)

    def _on_blur(self, event: events.Blur) -> None:
        super()._on_blur(event)
        self.refresh_lines(self._cursor)

    def _row_styles(self) -> tuple[Style, Style, Style, Style]:
        """(odd row, even row, cursor focused, cursor blurred) styles, resolved once per theme."""
        if self._styles is None:
            self._palette = theme_styles(self.app)
            base = self.rich_style
            even = self.get_component_rich_style("request-table--even-row")
            self._styles = (
                base,
                base + even,
                base + self.get_component_rich_style("request-table--cursor"),
                base + self.get_component_rich_style("request-table--cursor-blurred"),
            )
        return self._styles

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = y + self.scroll_offset.y
        styles = self._row_styles()
        if index >= len(self.rows) or not self._columns:
            return Strip.blank(width, styles[0])
        record = self.rows[index]
        if index == self._cursor:
            state = 2 if self.has_focus else 3
        else:
            state = (index + self._shifted) & 1
        key = (record.seq, record.id, width, state, record.marked)
        strip = self._strips.get(key)
        if strip is None:
            strip = render_row(
                record, self._columns, styles[state], state >= 2, width, self._palette
            )
            self._strips.set(key, strip)
        return strip


class TrafficView(View):
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
        self._empty = EmptyHint("", id="traffic-empty")
        self._empty.display = False  # the first status render shows it while the list is empty
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
        (self._empty if self._empty.display else self.table).focus()

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
        if width <= 0:
            width = 80
        chosen = [(k, w) for k, _label, w, need in _COLUMNS if width >= need]
        # Each column has one blank cell before it; keep 2 cells for the scrollbar.
        used = sum(w + 1 for k, w in chosen if k != "path") + 1 + 2
        path_width = max(width - used, _PATH_MIN)
        return tuple((k, path_width if k == "path" else w) for k, w in chosen)

    def _refilter(self) -> None:
        """Show the stored records that pass the display filter (after the filter changed)."""
        table = self.table
        flt = self.display_filter
        records = self._all_records()
        matching = records if flt is None else [r for r in records if flt(r)]
        if self.sort_key is not None or self.sort_reverse:
            matching = sorted(matching, key=_SORT_KEYS[self.sort_key], reverse=self.sort_reverse)
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
        parts.append(f"· {table.row_count:,} shown{order} ")
        if self.display_filter is not None:
            parts.append("· filter ")
            parts.append(self.filter_text)
            parts.append(" ")
        if self.selection_gone is not None:
            parts.append(f"· request #{self.selection_gone} left the history ")
        if self.aged_out:
            parts.append(
                f"· {self.aged_out:,} older records are no longer in the history "
                f"(the newest {self._capacity:,} are kept) "
            )
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
        if hint.display != empty:
            self._swap_list_and_hint(empty)

    def _swap_list_and_hint(self, empty: bool) -> None:
        """Show the hint or the list; the shown one takes the focus the other had, so the
        view's keys (f, z, w, i…) keep working while no row is shown."""
        table, hint = self.table, self._empty
        focused = self.screen.focused if self.is_attached and self.display else False
        hint.display = empty
        table.display = not empty
        if focused is None or focused is table or focused is hint:
            (hint if empty else table).focus()

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
        self._render_status()
        self.focus_default()

    @on(FilterBar.Cancelled)
    def _filter_cancelled(self, event: FilterBar.Cancelled) -> None:
        event.stop()
        self.focus_default()

    @on(RequestTable.Selected, "#traffic-table")
    def _row_selected(self, event: RequestTable.Selected) -> None:
        event.stop()
        from workbench.tui.screens.detail import DetailScreen

        self.app.push_screen(DetailScreen(event.record))

    # -- replay and intercept ------------------------------------------------------------------
    def action_replay(self) -> None:
        """Replay the selected request (a new row, marked ↻ with the original's id)."""
        from workbench.tui.replaying import replay

        replay(self.app, self.selected_record())

    def action_edit_replay(self) -> None:
        from workbench.tui.replaying import edit_replay

        edit_replay(self.app, self.selected_record())

    def action_intercept(self) -> None:
        from workbench.tui.screens.intercept import InterceptScreen

        hold = getattr(self.engine, "hold", None)
        if hold is None:
            self.app.notify("intercept needs running proxies", severity="warning")
            return

        def submit(
            expression: str, phase: str, timeout: float, on_timeout: str
        ) -> tuple[bool, str | None]:
            res = self.engine.control.set_hold(expression or None, phase, timeout, on_timeout)
            if res.ok:
                self.app.notify(
                    f"intercept: {expression} ({phase}; unattended: {on_timeout} after "
                    f"{timeout:g}s)"
                    if expression
                    else "intercept off"
                )
                self._render_status()
            return res.ok, res.error

        self.app.push_screen(
            InterceptScreen(
                submit, hold.expression or "", hold.phase, hold.timeout, hold.on_timeout
            )
        )

    def _oldest_held(self) -> dict[str, Any] | None:
        held = self.engine.control.held() if getattr(self.engine, "hold", None) else []
        if not held:
            self.app.notify("nothing is held (i sets the intercept filter)", severity="warning")
            return None
        return held[0]

    def action_held_list(self) -> None:
        """Every held exchange, to open, edit, resume or kill one."""
        from workbench.tui.screens.held import HeldListScreen

        if getattr(self.engine, "hold", None) is None:
            self.app.notify("intercept needs running proxies", severity="warning")
            return
        self.app.push_screen(HeldListScreen(), lambda _r: self._render_status())

    def action_resume_held(self) -> None:
        from workbench.tui.screens.held import resume

        held = self._oldest_held()
        if held is not None:
            resume(self.app, held["id"])
            self._render_status()

    def action_resume_all_held(self) -> None:
        from workbench.tui.screens.held import resume_all

        if getattr(self.engine, "hold", None) is not None:
            resume_all(self.app)
            self._render_status()

    def action_kill_held(self) -> None:
        from workbench.tui.screens.held import confirm_kill

        held = self._oldest_held()
        if held is not None:
            confirm_kill(self.app, held, done=self._render_status)

    def action_edit_held(self) -> None:
        from workbench.tui.screens.held import open_held_editor

        held = self._oldest_held()
        if held is not None:
            open_held_editor(self.app, held, resume=True, done=self._render_status)

    # -- marks, clearing, order, export ------------------------------------------------------
    def _all_records(self) -> Iterable[RequestRecord]:
        """Marked records that left the list, then the list (what filters and sorting see)."""
        if not self._marked:
            return self._records
        oldest = self._records[0].seq if self._records else None
        early = [r for r in self._marked.values() if oldest is None or r.seq < oldest]
        early.sort(key=lambda r: r.seq)
        return early + list(self._records)

    def action_toggle_mark(self) -> None:
        rec = self.selected_record()
        if rec is None:
            return
        res = self.engine.control.mark(rec.id, not rec.marked)
        if not res.ok:
            self.app.notify(res.error or "cannot mark", severity="warning")
            return
        if rec.marked:
            self._marked[rec.id] = rec
        else:
            self._marked.pop(rec.id, None)
        self.table.refresh_lines(self.table.cursor_row)
        self._render_status()

    def action_unmark_all(self) -> None:
        for rec in list(self._marked.values()):
            self.engine.control.mark(rec.id, False)
        self._marked.clear()
        self.table.refresh()
        self._render_status()

    def action_marked_only(self) -> None:
        from workbench.engine.rules.filters import parse_filter

        if self.filter_text == "~marked":
            self.display_filter, self.filter_text = None, ""
        else:
            self.display_filter, self.filter_text = parse_filter("~marked"), "~marked"
        self._refilter()
        self._render_status()

    def action_clear_list(self) -> None:
        from workbench.tui.screens.confirm import ConfirmScreen

        shown = len(self._records)
        if not shown:
            return
        kept = f"; the {len(self._marked):,} marked stay" if self._marked else ""
        question = (
            f"Clear the list ({shown:,} requests{kept})? The proxies keep recording; "
            "the admin API still has them."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.clear_list()

        self.app.push_screen(ConfirmScreen(question, yes="Clear"), answered)

    def clear_list(self) -> None:
        """Forget the rows shown (marked requests stay); new requests appear as before."""
        self._records.clear()
        self.aged_out = 0
        self.selection_gone = None
        self._refilter()
        self._render_status()

    def action_sort(self) -> None:
        from workbench.tui.screens.choose import ChooseScreen

        choices = ["arrival", *_SORT_KEYS_SHOWN]

        def chosen(choice: str | None) -> None:
            if choice is not None:
                self.set_sort(None if choice == "arrival" else choice, self.sort_reverse)

        current = self.sort_key or "arrival"
        self.app.push_screen(ChooseScreen("Sort the list by", choices, current=current), chosen)

    def set_sort(self, key: str | None, reverse: bool = False) -> None:
        """Sort by column ``key`` (None: arrival); sorting turns follow off."""
        if key is not None and key not in _SORT_KEYS:
            raise ValueError(f"unknown column {key!r}")
        self.sort_key = key
        self.sort_reverse = reverse
        if key is not None or reverse:
            self.follow = False
        self._refilter()
        self._render_status()

    def action_reverse_order(self) -> None:
        self.set_sort(self.sort_key, not self.sort_reverse)

    def action_export_har(self) -> None:
        """Save the rows shown (display filter and order applied) as HAR 1.2; say where."""
        import time as _time
        from pathlib import Path

        from workbench.engine.observe.har import write_har
        from workbench.tui.copyas import copy_dir

        records = list(self.table.rows)
        name = _time.strftime("workbench-%Y%m%d-%H%M%S.har")
        comment = f"filter: {self.filter_text}" if self.filter_text else ""
        try:
            path = write_har(records, Path.cwd() / name, comment)
        except OSError:
            try:
                path = write_har(records, copy_dir() / name, comment)
            except OSError as exc:
                self.app.notify(f"cannot save a HAR file: {exc}", severity="error")
                return
        self.last_export = str(path)
        self.app.notify(f"saved {len(records):,} requests as HAR: {path}", timeout=8)


def _text_key(attr: str):
    return lambda r: (getattr(r, attr) or "").lower()


_SORT_KEYS: dict[str | None, Any] = {
    None: lambda r: r.seq,
    "time": lambda r: r.start,
    "client": _text_key("client"),
    "proxy": _text_key("proxy"),
    "method": _text_key("method"),
    "host": _text_key("host"),
    "path": _text_key("path"),
    "status": lambda r: r.status if r.status is not None else -1,
    "size": lambda r: r.bytes_out,
    "ms": lambda r: r.t_total,
    "backend": _text_key("backend"),
    "cache": _text_key("cache"),
    "rule": lambda r: (r.rule or ",".join(r.tags or ())).lower(),
}
"""Sort key of each column (None: arrival order)."""
_SORT_KEYS_SHOWN = [k for k in _SORT_KEYS if k is not None]
