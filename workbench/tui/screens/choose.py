"""Pick one string from a short list (e.g. a pool's balancing algorithm)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ChooseScreen(ModalScreen[str | None]):
    """A list picker: `enter` picks the highlighted choice, `escape` cancels (``None``).

    | Key | Action |
    | :- | :- |
    | `enter` | Pick the highlighted choice. |
    | `escape` | Cancel. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="choose_cancel", tooltip="Close without choosing"),
    ]

    DEFAULT_CSS = """
    ChooseScreen { align: center middle; }
    ChooseScreen > Vertical { width: 50; max-width: 95%; height: auto; max-height: 90%; }
    ChooseScreen OptionList { height: auto; max-height: 16; }
    """

    def __init__(
        self,
        title: str,
        choices: Sequence[str],
        current: str | None = None,
        notes: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.current = current
        self.notes = notes or {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Label(self.title_text, classes="modal-title")
            options = []
            for c in self.choices:
                mark = "● " if c == self.current else "  "
                note = self.notes.get(c)
                options.append(Option(mark + c + (f"  — {note}" if note else ""), id=c))
            yield OptionList(*options, id="choices")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        if self.current in self.choices:
            ol.highlighted = self.choices.index(self.current)
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
