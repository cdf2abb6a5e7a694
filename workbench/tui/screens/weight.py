"""Type a backend's weight; the value is checked as you type (an integer from 0 to 1000)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

MAX_WEIGHT = 1000


def parse_weight(text: str) -> tuple[int | None, str | None]:
    """``(weight, None)`` for valid input, else ``(None, message)``."""
    text = text.strip()
    if not text:
        return None, "type a whole number from 0 to 1000"
    try:
        value = int(text)
    except ValueError:
        return None, f"{text!r} is not a whole number"
    if not 0 <= value <= MAX_WEIGHT:
        return None, f"weight must be from 0 to {MAX_WEIGHT} (0 takes the backend out of rotation)"
    return value, None


class WeightScreen(ModalScreen[int | None]):
    """Ask for a new weight; dismisses with the integer, or ``None`` on `escape`.

    | Key | Action |
    | :- | :- |
    | `enter` | Apply (only when the value is valid). |
    | `escape` | Cancel. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="weight_cancel", tooltip="Close without changing"),
    ]

    DEFAULT_CSS = """
    WeightScreen { align: center middle; }
    WeightScreen > Vertical { width: 56; max-width: 95%; height: auto; }
    """

    def __init__(self, backend: str, current: int) -> None:
        super().__init__()
        self.backend = backend
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Label(f"Weight of {self.backend} (now {self.current})", classes="modal-title")
            yield Input(str(self.current), id="weight", type="text")
            yield Static("", id="error", classes="field-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        _, error = parse_weight(event.value)
        self._show(error)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value, error = parse_weight(event.value)
        if error is not None:
            self._show(error)
            return
        self.dismiss(value)

    def _show(self, error: str | None) -> None:
        err = self.query_one("#error", Static)
        err.update(error or "")
        err.set_class(error is not None, "-error")
        self.query_one(Input).set_class(error is not None, "-invalid")

    def action_cancel(self) -> None:
        self.dismiss(None)
