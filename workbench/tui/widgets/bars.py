"""Small text renderings shared by the views: share bars, fill bars and sparklines.

They return rich ``Text`` (or plain ``str``) so a DataTable cell or a Static can show them; nothing
here keeps state except :class:`Ring`, the fixed-size sample buffer a view fills once per update.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from rich.style import Style
from rich.text import Text

from workbench.tui.widgets.palette import role

_SPARKS = "▁▂▃▄▅▆▇█"
_EIGHTHS = " ▏▎▍▌▋▊▉"


class Ring:
    """The last ``size`` samples of one measurement, oldest first."""

    __slots__ = ("_items",)

    def __init__(self, size: int = 60) -> None:
        self._items: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self._items.append(float(value))

    def values(self) -> list[float]:
        return list(self._items)

    def last(self, default: float = 0.0) -> float:
        return self._items[-1] if self._items else default

    def __len__(self) -> int:
        return len(self._items)


def share_bar(
    fraction: float,
    width: int = 8,
    style: str | Style = "",
    label: bool = True,
    track: str | Style = role("muted"),
) -> Text:
    """A left-filled bar of ``width`` cells for a 0..1 ``fraction``, with eighth-cell precision.

    With ``label`` the percentage follows the bar (``███▌     44%``), so the reader gets both the
    shape and the number.
    """
    fraction = min(1.0, max(0.0, fraction or 0.0))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    text = Text(bar, style=style)
    # The empty part gets a faint track so a 0 % bar is still visibly a bar.
    text.append("░" * (width - len(bar)), style=track)
    if label:
        text.append(f" {fraction * 100:3.0f}%")
    return text


def fill_bar(
    used: float, limit: float, width: int = 20, style: str | Style = "", track: str | Style = ""
) -> Text:
    """``used`` of ``limit`` as a bar followed by the percentage (0 limit shows an empty bar)."""
    return share_bar(used / limit if limit > 0 else 0.0, width, style, track=track or role("muted"))


def sparkline(
    values: Sequence[float] | Iterable[float], width: int = 24, floor: float = 0.0
) -> str:
    """The last ``width`` values as block characters scaled to their own maximum.

    Padded on the left with spaces while fewer samples exist, so the newest value is always the
    rightmost character. ``floor`` is the smallest top of the scale (keeps idle noise flat).
    """
    data = list(values)[-width:]
    if not data:
        return " " * width
    top = max(max(data), floor)
    if top <= 0:
        chars = _SPARKS[0] * len(data)
    else:
        n = len(_SPARKS) - 1
        chars = "".join(_SPARKS[min(n, max(0, round(v / top * n)))] for v in data)
    return chars.rjust(width)


def human_bytes(n: float) -> str:
    """``1536`` → ``1.5 KiB`` (binary units, like the config file's sizes)."""
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - loop always returns


def human_age(seconds: float | None) -> str:
    """A compact age: ``0.4s``, ``12s``, ``3m``, ``2h``; ``—`` for unknown."""
    if seconds is None:
        return "—"
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f}s"
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.0f}h"


def millis(seconds: float | None) -> str:
    """Seconds as milliseconds for latency columns (``—`` when there is no sample yet)."""
    if not seconds:
        return "—"
    ms = seconds * 1000
    return f"{ms:.1f}" if ms < 10 else f"{ms:.0f}"
