"""Text that a search can highlight: the building block of the request detail's sections."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from workbench.tui.widgets.palette import role, themed

MATCH = "reverse"
"""A search match: the text's own colour behind it (readable in every theme)."""
CURRENT = role("accent", "bold reverse")
"""The match the view is on."""

MAX_MATCHES = 5000
"""Matches highlighted at most per search (a one-letter search in a big body stays quick)."""


def find_spans(plain: str, query: str, limit: int = MAX_MATCHES) -> list[tuple[int, int]]:
    """Case-insensitive ``(start, end)`` of each occurrence of ``query`` in ``plain``."""
    if not query:
        return []
    hay = plain.lower()
    needle = query.lower()
    spans: list[tuple[int, int]] = []
    start = hay.find(needle)
    while start >= 0 and len(spans) < limit:
        spans.append((start, start + len(needle)))
        start = hay.find(needle, start + len(needle))
    return spans


def line_of(plain: str, offset: int, width: int) -> int:
    """The screen line (wrapping at ``width`` cells) where ``offset`` falls, approximately."""
    before = plain[:offset].split("\n")
    width = max(width, 1)
    rows = sum(max(1, -(-cell_len(line) // width)) for line in before[:-1])
    return rows + cell_len(before[-1]) // width


class TextBlock(Static):
    """A :class:`Static` showing a :class:`Text` that search can highlight.

    The unhighlighted text is kept in :attr:`source`; :meth:`mark` draws matches on a copy.
    Its styles may be :func:`~workbench.tui.widgets.palette.role` styles (theme colours).
    """

    DEFAULT_CSS = """
    TextBlock { height: auto; }
    """

    def __init__(self, text: Text | str = "", **kwargs) -> None:
        source = text if isinstance(text, Text) else Text(text)
        super().__init__(themed(source), **kwargs)
        self.source = source
        """The text as shown without search highlights."""

    def set_text(self, text: Text) -> None:
        """Show new text (search highlights are dropped)."""
        self.source = text
        self.update(themed(text))

    def mark(self, spans: list[tuple[int, int]], current: tuple[int, int] | None) -> None:
        """Highlight ``spans``, the ``current`` one more strongly; no spans restores the text."""
        if not spans:
            self.update(themed(self.source))
            return
        text = self.source.copy()
        for start, end in spans:
            text.stylize(MATCH, start, end)
        if current is not None:
            text.stylize(CURRENT, *current)
        self.update(themed(text))
