"""The two-line header: title, live rate, cache hit rate, backend health, listeners; view tabs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget
from textual.widgets import Static

from workbench.engine.snapshot import EngineSnapshot

_SHORT = {"reverse": "rev", "forward": "fwd", "admin": "admin"}


class _TabStrip(Static):
    """The tab line: tabs are clickable, but keep their own colours (the theme's link colour
    would paint the current tab's text in the colour of its own background)."""

    @property
    def link_style(self) -> Style:
        return Style()

    @property
    def link_style_hover(self) -> Style:
        return Style(underline=True)


class WorkbenchHeader(Widget):
    """``Proxy Workbench  42.0 req/s  cache 42 %  backends 5/5 up  rev …`` and the view tabs.

    The app sets the content with :meth:`show_snapshot` and :meth:`set_tabs`; each redraws only
    when its text changed, so calling them at 5 Hz costs almost nothing. Colours come from the
    component classes (theme variables), so every theme restyles the header.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--title",
        "header--value",
        "header--label",
        "header--bad",
        "header--address",
        "header--tab",
        "header--current",
    }

    DEFAULT_CSS = """
    WorkbenchHeader { height: 2; }
    WorkbenchHeader > Static { height: 1; width: 1fr; }
    WorkbenchHeader > .header--title { background: $primary; color: $text; text-style: bold; }
    WorkbenchHeader > .header--value { text-style: bold; }
    WorkbenchHeader > .header--label { color: $text-muted; }
    WorkbenchHeader > .header--bad { color: $text-error; text-style: bold; }
    WorkbenchHeader > .header--address { color: $foreground; }
    WorkbenchHeader > .header--tab { color: $text-muted; }
    WorkbenchHeader > .header--current {
        background: $primary; color: $text; text-style: bold;
    }
    """

    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._title = title
        self._status_key: tuple = ()
        self._tabs_key: tuple = ()

    def compose(self):
        yield Static(self._title, id="header-status", markup=False)
        yield _TabStrip("", id="header-tabs")

    def _style(self, name: str) -> Style:
        style = self.get_component_rich_style(f"header--{name}", partial=True)
        if style.bgcolor is not None:
            # "auto" text resolves against the header, not this component's own background:
            # pick the readable colour for the background actually drawn (yellow in projector).
            bg = Color.from_rich_color(style.bgcolor)
            style += Style(color=(bg + bg.get_contrast_text(0.87)).rich_color)
        return style

    def set_status(self, listeners: Mapping[str, str], rate: float | None, note: str = "") -> None:
        """Show the listener addresses and the request rate (``None``: not known yet)."""
        self._draw(
            (None if rate is None else round(rate, 1), None, None, tuple(listeners.items()), note)
        )

    def show_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Rate, cache hit rate (last 60 s) and backends up, from one engine snapshot."""
        cache = snapshot.cache
        ratio = None
        if cache is not None:
            ratio = cache.hit_ratio_60s if cache.hit_ratio_60s is not None else cache.hit_ratio
            ratio = -1.0 if ratio is None else round(ratio * 100)
        up, total = snapshot.backends_up
        rate = snapshot.rate
        self._draw(
            (
                None if rate is None else round(rate, 1),
                ratio,
                (up, total) if total else None,
                tuple((lst.kind, lst.url) for lst in snapshot.listeners),
                "",
            )
        )

    def _draw(self, key: tuple) -> None:
        if key == self._status_key:
            return
        self._status_key = key
        rate, ratio, backends, listeners, note = key
        value, label, bad = self._style("value"), self._style("label"), self._style("bad")
        address = self._style("address")
        text = Text(no_wrap=True, overflow="ellipsis")
        _boxed(text, self._title, self._style("title"))
        if rate is not None:
            _item(text, (f"{rate:,.1f}", value), ("req/s", label))
        if ratio is not None:
            _item(text, ("cache", label), ("—" if ratio < 0 else f"{ratio:.0f} %", value))
        if backends is not None:
            up, total = backends
            _item(text, ("backends", label), (f"{up}/{total} up", value if up == total else bad))
        for kind, url in listeners:
            _item(text, (_SHORT.get(kind, kind), label), (url.removeprefix("http://"), address))
        if note:
            _item(text, (note, label))
        # One fixed-size line: no layout pass needed (a layout costs a whole-screen reflow).
        self.query_one("#header-status", Static).update(text, layout=False)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        # A theme change: draw again with the new colours.
        if self.is_mounted:
            self.call_later(self._redraw)

    def _redraw(self) -> None:
        status, tabs = self._status_key, self._tabs_key
        self._status_key = self._tabs_key = ()
        if status:
            self._draw(status)
        if tabs:
            self.set_tabs(*tabs)

    def set_tabs(self, tabs: Iterable[tuple[str, str, str]], current: str) -> None:
        """Show ``(key, view_id, title)`` tabs with ``current`` highlighted; tabs are clickable."""
        tabs = tuple(tabs)
        key = (tabs, current)
        if key == self._tabs_key:
            return
        self._tabs_key = key
        text = Text(no_wrap=True, overflow="ellipsis")
        for keyname, view_id, title in tabs:
            style = self._style("current" if view_id == current else "tab")
            _boxed(text, f"{keyname} {title}", style, _click(view_id))
            text.append(" ")
        self.query_one("#header-tabs", Static).update(text, layout=False)


# Text never starts with a space within one style: an exported SVG draws each run of one style
# as a stretched <text>, and viewers drop its leading spaces, so "  cache" would be drawn
# against the previous item. Gaps are runs of their own (a blank run is drawn as background).


def _item(text: Text, *words: tuple[str, Style]) -> None:
    """Two cells of gap, then ``words`` separated by one cell."""
    text.append("  ")
    for i, (word, style) in enumerate(words):
        if i:
            text.append(" ")
        text.append(word, style=style)


def _boxed(text: Text, label: str, style: Style, meta: Style | None = None) -> None:
    """`` label `` on ``style``'s background, the padding a run of its own."""
    pad = Style(bgcolor=style.bgcolor)
    text.append(" ", style=pad)
    text.append(label, style=style + meta if meta is not None else style)
    text.append(" ", style=pad)


def _click(view_id: str):
    from rich.style import Style

    return Style.from_meta({"@click": f"app.show_view('{view_id}')"})
