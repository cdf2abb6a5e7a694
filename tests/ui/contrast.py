"""WCAG contrast of what the app really draws: every text cell against its own background.

The cells come from the screen's compositor, after Textual's line filters (ANSI colours turned
into the theme's truecolor, ``dim`` blended into the background), so this is what a terminal or
an exported SVG shows, including the screens under a modal dialog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.color import Color as RichColor
from rich.segment import Segment

MINIMUM = 3.0
"""WCAG 2 minimum for large text and user-interface parts; a projector needs at least this."""


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    r, g, b = (_channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two colours, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass(frozen=True)
class Cell:
    """A run of text drawn in one style that does not stand out from its background."""

    x: int
    y: int
    text: str
    ratio: float
    fg: str
    bg: str
    widget: str

    def __str__(self) -> str:
        return (
            f"({self.x},{self.y}) {self.text.strip()!r}: {self.ratio:.2f}:1 "
            f"{self.fg} on {self.bg} in {self.widget}"
        )


def _rgb(color: RichColor | None, default: tuple[int, int, int]) -> tuple[int, int, int]:
    if color is None or color.is_default:
        return default
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def screen_lines(app: Any) -> list[list[Segment]]:
    """The segments of every line of the current screen, as the terminal receives them."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return [[seg for strip in line for seg in strip] for line in update.strips]


_LINES = {chr(c) for c in range(0x2500, 0x2580)} | set("▔▀▏▕▎▊▌▐")
"""Box drawing and the half-cell edges of Textual's borders: frames and rules, not text."""


def _decoration(text: str) -> bool:
    # Emoji (the palette's 🔎) draw in their own colours, whatever the style says.
    return all(ch in _LINES or ch in " \u00a0█" or ord(ch) >= 0x1F000 for ch in text)


def _owner(app: Any, x: int, y: int) -> Any:
    try:
        return app.screen.get_widget_at(x, y)[0]
    except Exception:  # outside every widget
        return None


def _in_content(widget: Any, x: int, y: int) -> bool:
    """Whether the cell is inside ``widget``'s content (not its border, padding or scrollbars)."""
    try:
        region = widget.content_region
    except Exception:  # a widget without geometry: count it as content
        return True
    return region.contains(x, y)


def low_contrast(app: Any, minimum: float = MINIMUM) -> list[Cell]:
    """Every run of visible text on the screen whose contrast is below ``minimum``.

    Not counted: blank cells and full blocks (what shows there is a background); frames,
    rules and scrollbars (lines, not text); and, under a modal dialog, the screens it covers
    (deliberately faded).
    """
    from textual.screen import ModalScreen
    from textual.scrollbar import ScrollBar

    modal = isinstance(app.screen, ModalScreen)
    variables = app.get_css_variables()
    screen_bg = _parse(variables.get("background"), (0, 0, 0))
    screen_fg = _parse(variables.get("foreground"), (255, 255, 255))
    out: list[Cell] = []
    for y, line in enumerate(screen_lines(app)):
        x = 0
        for seg in line:
            text, style = seg.text, seg.style
            width = cell_len(text)
            if seg.control or style is None or _decoration(text):
                x += width
                continue
            fg = _rgb(style.color, screen_fg)
            bg = _rgb(style.bgcolor, screen_bg)
            if style.reverse:
                fg, bg = bg, fg
            ratio = contrast(fg, bg)
            if ratio < minimum:
                widget = _owner(app, x, y)
                if widget is not None and (
                    (modal and widget is app.screen)
                    or isinstance(widget, ScrollBar)
                    or not _in_content(widget, x, y)
                ):
                    x += width
                    continue
                where = "?" if widget is None else type(widget).__name__
                if widget is not None and widget.id:
                    where += f"#{widget.id}"
                out.append(Cell(x, y, text, ratio, _hex(fg), _hex(bg), where))
            x += width
    return out


def _parse(value: str | None, default: tuple[int, int, int]) -> tuple[int, int, int]:
    from textual.color import Color

    try:
        c = Color.parse(value) if value else None
    except Exception:  # "auto 87%" and other CSS-only values
        c = None
    return (c.r, c.g, c.b) if c is not None else default
