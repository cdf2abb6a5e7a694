"""Set the intercept filter: an expression (the filter language), a phase, and what happens to
an exchange nobody decides on (``timeout`` and ``on_timeout``, as in the config's ``hold:``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from workbench.config.units import format_duration, parse_duration

Submit = Callable[[str, str, float, str], tuple[bool, str | None]]
"""``submit(expression, phase, timeout_seconds, on_timeout)`` → ``(ok, error)``."""


def parse_timeout(text: str) -> tuple[float | None, str | None]:
    """Seconds from the timeout field (``30s``, ``2m``, ``90``), or ``(None, message)``."""
    text = text.strip()
    if not text:
        return None, "timeout: give a duration such as 30s, 2m or 500ms"
    try:
        seconds = parse_duration(text)
    except ValueError:
        return None, f"timeout: {text!r} is not a duration (use e.g. 30s, 2m or 500ms)"
    if seconds <= 0:
        return None, "timeout: must be more than 0s (an exchange needs time to be looked at)"
    return seconds, None


class InterceptScreen(ModalScreen[Any]):
    """Hold exchanges matching an expression (empty: hold nothing); errors stay in the form.

    | Key | Action |
    | :- | :- |
    | enter | Apply (from a text field). |
    | escape | Cancel: keep the filter as it was. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="intercept_cancel", tooltip="Keep the filter"),
    ]

    DEFAULT_CSS = """
    InterceptScreen { align: center middle; }
    InterceptScreen > Vertical { width: 80; max-width: 100%; height: auto; }
    InterceptScreen Horizontal { height: auto; }
    InterceptScreen .intercept-row Label { width: 12; padding: 0 1 0 0; }
    InterceptScreen .intercept-row Input { width: 16; }
    InterceptScreen .intercept-row Select { width: 1fr; }
    InterceptScreen .modal-buttons { align-horizontal: right; }
    """

    def __init__(
        self,
        submit: Submit,
        expression: str = "",
        phase: str = "request",
        timeout: float = 60.0,
        on_timeout: str = "resume",
    ) -> None:
        super().__init__()
        self.submit = submit
        self.expression = expression
        self.phase = phase if phase in ("request", "response") else "request"
        self.timeout = timeout
        self.on_timeout = on_timeout if on_timeout in ("resume", "fail") else "resume"
        self.error = ""
        """The last error shown (tests read it)."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Label("Intercept: hold matching exchanges", classes="modal-title")
            yield Input(
                self.expression, placeholder="e.g. ~d example.com & ~m POST", id="intercept-expr"
            )
            with Horizontal(classes="intercept-row"):
                yield Label("phase")
                yield Select(
                    [
                        ("request (before it goes upstream)", "request"),
                        ("response (before the client gets it)", "response"),
                    ],
                    value=self.phase,
                    allow_blank=False,
                    compact=True,
                    id="intercept-phase",
                )
            with Horizontal(classes="intercept-row"):
                yield Label("timeout")
                yield Input(
                    format_duration(self.timeout),
                    placeholder="60s",
                    compact=True,
                    id="intercept-timeout",
                )
                yield Select(
                    [
                        ("then resume it", "resume"),
                        ("then fail it (504)", "fail"),
                    ],
                    value=self.on_timeout,
                    allow_blank=False,
                    compact=True,
                    id="intercept-on-timeout",
                )
            yield Static(
                "enter: apply · empty filter: hold nothing · escape: cancel",
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
        on_timeout = str(self.query_one("#intercept-on-timeout", Select).value)
        timeout, error = parse_timeout(self.query_one("#intercept-timeout", Input).value)
        if timeout is None:
            self._fail(error or "timeout: invalid")
            return
        ok, error = self.submit(expression, phase, timeout, on_timeout)
        if not ok:
            self._fail(error or "invalid filter")
            return
        self.dismiss(expression)

    def _fail(self, message: str) -> None:
        self.error = message
        err = self.query_one("#intercept-error", Static)
        err.update(message)
        err.add_class("-error")

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
