"""The two-line header: title, live request rate, listener addresses, and the view tabs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static


class WorkbenchHeader(Widget):
    """Title · req/s · listeners on the first line; numbered view tabs on the second.

    The app sets the content with :meth:`set_status` and :meth:`set_tabs`; each redraws only when
    its text changed, so calling them at 5 Hz costs almost nothing.
    """

    DEFAULT_CSS = """
    WorkbenchHeader { height: 2; }
    WorkbenchHeader > Static { height: 1; width: 1fr; }
    """

    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._title = title
        self._status_key: tuple = ()
        self._tabs_key: tuple = ()

    def compose(self):
        yield Static(self._title, id="header-status", markup=False)
        yield Static("", id="header-tabs")

    def set_status(self, listeners: Mapping[str, str], rate: float | None, note: str = "") -> None:
        """Show the listener addresses and the live request rate (``None``: not known yet)."""
        key = (tuple(listeners.items()), None if rate is None else round(rate, 1), note)
        if key == self._status_key:
            return
        self._status_key = key
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self._title} ", style="bold reverse")
        if rate is not None:
            text.append(f"  {rate:,.1f} req/s", style="bold")
        short = {"reverse": "rev", "forward": "fwd", "admin": "admin"}
        for kind, url in listeners.items():
            text.append(f"  {short.get(kind, kind)} ", style="dim")
            text.append(url.removeprefix("http://"))
        if note:
            text.append(f"  {note}", style="italic")
        # One fixed-size line: no layout pass needed (a layout costs a whole-screen reflow).
        self.query_one("#header-status", Static).update(text, layout=False)

    def set_tabs(self, tabs: Iterable[tuple[str, str, str]], current: str) -> None:
        """Show ``(key, view_id, title)`` tabs with ``current`` highlighted; tabs are clickable."""
        tabs = tuple(tabs)
        key = (tabs, current)
        if key == self._tabs_key:
            return
        self._tabs_key = key
        parts = []
        for keyname, view_id, title in tabs:
            label = f" {keyname} {title} "
            style = "reverse bold " if view_id == current else ""
            parts.append(f"[{style}@click=app.show_view('{view_id}')]{label}[/]")
        self.query_one("#header-tabs", Static).update(" ".join(parts), layout=False)
