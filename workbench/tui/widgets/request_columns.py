"""The Traffic list's columns: which fit a width, each cell's text, one request drawn as one
line, the header line, and each column's sort order (plus the status and size formats the
request detail shares)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from workbench.tui.widgets.palette import role

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
            path = f"↻{replay_of} {path}" if replay_of else path
            if any(step[0] == "hold" for step in rec.trace or ()):
                path = "⏸" + path  # was held by the intercept filter
            text = _cell(path, width)
        elif key == "status":
            label = str(rec.status) if rec.status is not None else ("ERR" if rec.error else "…")
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


def layout_columns(width: int) -> tuple[tuple[str, int], ...]:
    """Columns that fit ``width`` cells, with the path column taking what is left."""
    if width <= 0:
        width = 80
    chosen = [(k, w) for k, _label, w, need in _COLUMNS if width >= need]
    # Each column has one blank cell before it; keep 2 cells for the scrollbar.
    used = sum(w + 1 for k, w in chosen if k != "path") + 1 + 2
    path_width = max(width - used, _PATH_MIN)
    return tuple((k, path_width if k == "path" else w) for k, w in chosen)


def _text_key(attr: str):
    return lambda r: (getattr(r, attr) or "").lower()


SORT_KEYS: dict[str | None, Any] = {
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
SORT_KEYS_SHOWN = [k for k in SORT_KEYS if k is not None]
