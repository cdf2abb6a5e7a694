"""The Traffic view's request list: a scrolling list drawn one cached line per request, with a
cursor that follows the newest request or stays where the user put it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from workbench.tui.actions import bindings
from workbench.tui.widgets.palette import theme_styles
from workbench.tui.widgets.request_columns import render_row

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord


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
