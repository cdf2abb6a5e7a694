"""The help screen: every key of every view, generated from the bindings (so remaps show)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HelpSection = tuple[str, Sequence[tuple[str, str]]]
"""A titled group of ``(keys, what they do)`` rows."""


def section_table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    table = Table(
        title=Text(title, style="bold"),
        title_justify="left",
        box=None,
        show_header=False,
        expand=True,
        pad_edge=False,
    )
    table.add_column("keys", style="bold", no_wrap=True, min_width=12)
    table.add_column("action", ratio=1)
    for keys, text in rows:
        table.add_row(keys, text)
    return table


class HelpScreen(ModalScreen[None]):
    """Scrollable list of keys grouped by view.

    | Key | Action |
    | :- | :- |
    | escape, q, ? | Close. |
    """

    BINDINGS: ClassVar = [
        Binding("escape,q,question_mark", "close", "Close", id="help_close", tooltip="Close help"),
    ]

    def __init__(self, sections: Sequence[HelpSection]) -> None:
        super().__init__(classes="help")
        self.sections = list(sections)

    def compose(self):
        with VerticalScroll(id="help-body") as scroll:
            scroll.border_title = "Keys  (escape closes · arrows scroll)"
            yield Static(
                "Keys can be remapped in the config file: keymap: { BINDING_ID: KEYS }.",
                id="help-intro",
            )
            for title, rows in self.sections:
                yield Static(section_table(title, rows), classes="help-section")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
