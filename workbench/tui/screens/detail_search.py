"""Searching the text of the request detail's current section: every match marked, one current,
``n`` / ``N`` to step through them, the current one scrolled into view."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.widgets import Input, TabPane

from workbench.tui.widgets.searchable import TextBlock, find_spans, line_of

if TYPE_CHECKING:
    from workbench.tui.screens.detail import DetailScreen


class SectionSearch:
    """The search of :class:`DetailScreen` (a mixin; it needs the screen)."""

    def action_search(self: DetailScreen) -> None:
        search = self.query_one("#detail-search", Input)
        search.display = True
        search.value = self.query_text
        search.focus()

    def _blocks(self: DetailScreen) -> list[TextBlock]:
        pane = self.query_one(f"#tab-{self.section}", TabPane)
        return [b for b in pane.query(TextBlock) if b.display]

    def _clear_marks(self: DetailScreen) -> None:
        for block, _s, _e in self._matches:
            block.mark([], None)
        self._matches = []
        self._match = -1

    def _run_search(self: DetailScreen, keep_position: bool = False) -> None:
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

    def action_next_match(self: DetailScreen, step: int) -> None:
        if not self._matches:
            if self.query_text:
                self._run_search()
            else:
                self.action_search()
            return
        self._match = (self._match + step) % len(self._matches)
        self._show_match()

    def _show_match(self: DetailScreen) -> None:
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

    def _scroll_to_match(self: DetailScreen, block: TextBlock, offset: int) -> None:
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
