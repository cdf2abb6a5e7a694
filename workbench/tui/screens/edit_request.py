"""Edit a request (or a held exchange) and send it: method, URL, headers, body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea


def headers_text(headers: Any) -> str:
    """``[[name, value], …]`` as ``Name: value`` lines."""
    return "\n".join(f"{n}: {v}" for n, v in headers or ())


def parse_header_lines(text: str) -> tuple[list[list[str]] | None, str | None]:
    """``Name: value`` lines as ``[[name, value], …]``, or ``(None, error)`` naming the line."""
    out: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or name != name.strip():
            return None, f"headers line {number}: expected 'Name: value', got {line!r}"
        out.append([name, value.strip()])
    return out, None


class EditRequestScreen(ModalScreen[Any]):
    """Edit method, URL, headers and body, then send; errors stay in the form.

    ``submit(fields)`` gets ``method``/``url`` (unless ``request_line`` is off), ``headers``
    and ``body`` (when ``body`` was given), and returns ``(ok, error, value)``: ``value`` is
    what the screen dismisses with.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s", "save", "Send", id="edit_request_save", tooltip="Send the edited request"
        ),
        Binding("escape", "cancel", "Cancel", id="edit_request_cancel", tooltip="Discard"),
    ]

    DEFAULT_CSS = """
    EditRequestScreen { align: center middle; }
    EditRequestScreen > Vertical { width: 100; max-width: 100%; height: auto; max-height: 100%; }
    EditRequestScreen TextArea { height: 8; max-height: 25vh; }
    EditRequestScreen #edit-body { height: 6; max-height: 20vh; }
    EditRequestScreen Horizontal { height: auto; align-horizontal: right; }
    EditRequestScreen #edit-line { align-horizontal: left; }
    EditRequestScreen #edit-method { width: 10; }
    EditRequestScreen #edit-url { width: 1fr; }
    EditRequestScreen #edit-status-row { align-horizontal: left; }
    EditRequestScreen #edit-status { width: 8; }
    """

    def __init__(
        self,
        title: str,
        submit: Callable[[dict[str, Any]], tuple[bool, str | None, Any]],
        *,
        method: str = "",
        url: str = "",
        headers: Any = (),
        body: str | None = "",
        request_line: bool = True,
        status: int | None = None,
        save_label: str = "Send",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.submit = submit
        self.initial = {"method": method, "url": url, "headers": headers, "body": body}
        self.request_line = request_line
        self.status = status
        """A held response's status: shown in its own field (and sent back) when given."""
        self.save_label = save_label
        self.error = ""
        """The last error shown (tests read it)."""

    def compose(self) -> ComposeResult:
        init = self.initial
        with Vertical(classes="modal-box"):
            yield Label(self.title_text, classes="modal-title")
            if self.request_line:
                yield Label("method and URL", classes="field-label")
                with Horizontal(id="edit-line"):
                    yield Input(init["method"], id="edit-method", compact=True)
                    yield Input(init["url"], id="edit-url", compact=True)
            if self.status is not None:
                with Horizontal(id="edit-status-row"):
                    yield Label("status ", classes="field-label")
                    yield Input(str(self.status), id="edit-status", compact=True)
            yield Label("headers (one 'Name: value' a line)", classes="field-label")
            yield TextArea(headers_text(init["headers"]), id="edit-headers")
            if init["body"] is None:
                yield Static("body: not editable (binary, streamed or too large)", id="edit-nobody")
            else:
                yield Label("body", classes="field-label")
                yield TextArea(init["body"], id="edit-body")
            yield Static(
                f"ctrl+s: {self.save_label.lower()} · escape: cancel",
                id="edit-error",
                classes="field-note",
            )
            with Horizontal(classes="modal-buttons"):
                yield Button("Cancel (esc)", id="cancel", compact=True)
                yield Button(
                    f"{self.save_label} (ctrl+s)", id="save", variant="primary", compact=True
                )

    def on_mount(self) -> None:
        self.query_one("#edit-headers", TextArea).focus()

    def collect(self) -> tuple[dict[str, Any] | None, str | None]:
        """The form as overrides, or ``(None, error)``."""
        headers, error = parse_header_lines(self.query_one("#edit-headers", TextArea).text)
        if headers is None:
            return None, error
        data: dict[str, Any] = {"headers": headers}
        if self.request_line:
            data["method"] = self.query_one("#edit-method", Input).value.strip()
            data["url"] = self.query_one("#edit-url", Input).value.strip()
        if self.status is not None:
            text = self.query_one("#edit-status", Input).value.strip()
            if not text.isdigit() or not 200 <= int(text) <= 599:
                return None, f"status: expected a number from 200 to 599, got {text!r}"
            data["status"] = int(text)
        if self.initial["body"] is not None:
            data["body"] = self.query_one("#edit-body", TextArea).text
        return data, None

    def action_save(self) -> None:
        data, error = self.collect()
        if data is None:
            self._fail(error or "invalid input")
            return
        try:
            ok, error, value = self.submit(data)
        except Exception as exc:  # noqa: BLE001 - the form shows it; never a traceback
            ok, error, value = False, f"{type(exc).__name__}: {exc}", None
        if not ok:
            self._fail(error or "the engine refused the request")
            return
        self.dismiss(value)

    def _fail(self, message: str) -> None:
        self.error = message
        err = self.query_one("#edit-error", Static)
        err.update(message)
        err.add_class("-error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)
