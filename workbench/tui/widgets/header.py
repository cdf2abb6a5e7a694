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
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self._title} ", style=self._style("title"))
        if rate is not None:
            text.append(f"  {rate:,.1f}", style=value)
            text.append(" req/s", style=label)
        if ratio is not None:
            text.append("  cache ", style=label)
            text.append("—" if ratio < 0 else f"{ratio:.0f} %", style=value)
        if backends is not None:
            up, total = backends
            text.append("  backends ", style=label)
            text.append(f"{up}/{total} up", style=value if up == total else bad)
        for kind, url in listeners:
            text.append(f"  {_SHORT.get(kind, kind)} ", style=label)
            text.append(url.removeprefix("http://"))
        if note:
            text.append(f"  {note}", style=label)
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
            label = f" {keyname} {title} "
            style = self._style("current" if view_id == current else "tab")
            text.append(label, style=style + _click(view_id))
            text.append(" ")
        self.query_one("#header-tabs", Static).update(text, layout=False)


def _click(view_id: str):
    from rich.style import Style

    return Style.from_meta({"@click": f"app.show_view('{view_id}')"})
