"""Set the intercept filter: an expression (the filter language) and a phase."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static


class InterceptScreen(ModalScreen[Any]):
    """Hold exchanges matching an expression (empty: hold nothing); errors stay in the form."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="intercept_cancel", tooltip="Keep the filter"),
    ]

    DEFAULT_CSS = """
    InterceptScreen { align: center middle; }
    InterceptScreen > Vertical { width: 80; max-width: 100%; height: auto; }
    InterceptScreen Horizontal { height: auto; align-horizontal: right; }
    """

    def __init__(
        self,
        submit: Callable[[str, str], tuple[bool, str | None]],
        expression: str = "",
        phase: str = "request",
    ) -> None:
        super().__init__()
        self.submit = submit
        self.expression = expression
        self.phase = phase if phase in ("request", "response") else "request"
        self.error = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Label("Intercept: hold matching exchanges", classes="modal-title")
            yield Input(
                self.expression, placeholder="e.g. ~d example.com & ~m POST", id="intercept-expr"
            )
            yield Select(
                [("request", "request"), ("response", "response")],
                value=self.phase,
                allow_blank=False,
                compact=True,
                id="intercept-phase",
            )
            yield Static(
                "enter: apply · empty: hold nothing · escape: cancel",
                id="intercept-error",
                classes="field-note",
            )
            with Horizontal(classes="modal-buttons"):
                yield Button("Cancel (esc)", id="cancel", compact=True)
                yield Button("Apply (enter)", id="apply", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#intercept-expr", Input).focus()

    def action_apply(self) -> None:
        expression = self.query_one("#intercept-expr", Input).value.strip()
        phase = str(self.query_one("#intercept-phase", Select).value)
        ok, error = self.submit(expression, phase)
        if not ok:
            self.error = error or "invalid filter"
            err = self.query_one("#intercept-error", Static)
            err.update(self.error)
            err.add_class("-error")
            return
        self.dismiss(expression)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
