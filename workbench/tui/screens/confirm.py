"""A yes/no question in a modal; dismisses with ``True`` only on an explicit yes."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Ask before something that stops or removes things (kill, disable, purge, delete, quit).

    | Key | Action |
    | :- | :- |
    | `y`, `enter` | Confirm. |
    | `n`, `escape`, `q` | Cancel. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "y,enter", "answer(True)", "Yes", id="confirm_yes", tooltip="Confirm", priority=True
        ),
        Binding(
            "n,escape,q", "answer(False)", "No", id="confirm_no", tooltip="Cancel", priority=True
        ),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 64; max-width: 95%; height: auto; }
    ConfirmScreen #question { width: 1fr; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    """

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Label(self.question, id="question")
            yield Static("y or enter: yes · n or escape: no", classes="field-note")
            with Horizontal(classes="modal-buttons"):
                yield Button(f"{self.no_label} (n)", id="no", compact=True)
                yield Button(f"{self.yes_label} (y)", id="yes", variant="error", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
