"""Save the live configuration to a new file the user names; never overwrites a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

SaveFn = Callable[[Path], str | None]
"""Writes the file; returns an error message, or None on success."""


class SaveScreen(ModalScreen[Path | None]):
    """Ask for a file name, refuse existing files, and dismiss with the path written.

    | Key | Action |
    | :- | :- |
    | enter | Save. |
    | escape | Cancel. |
    """

    BINDINGS: ClassVar = [
        Binding("escape", "cancel", "Cancel", id="save_cancel", tooltip="Close without saving"),
    ]

    def __init__(self, save: SaveFn, suggestion: str = "workbench-live.yaml") -> None:
        super().__init__(classes="save")
        self._save = save
        self._suggestion = suggestion

    def compose(self):
        with Vertical(id="save-box") as box:
            box.border_title = "Save live configuration"
            # There are no buttons: say which keys save and cancel.
            box.border_subtitle = "enter: save · escape: cancel"
            # A Static, not a Label: a Label is one line wide and cuts the sentence at 80×24.
            yield Static(
                "Writes current weights, algorithms and rules to a NEW file "
                "(comments in your own file are not kept, so it is never overwritten).",
                id="save-text",
            )
            yield Input(value=self._suggestion, placeholder="file name", id="save-path")
            yield Static("", id="save-error")

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted, "#save-path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        error = self.query_one("#save-error", Static)
        name = event.value.strip()
        if not name:
            error.update("enter a file name")
            return
        path = Path(name).expanduser()
        if path.exists():
            error.update(f"{path} already exists; choose a new name")
            return
        if not path.parent.exists():
            error.update(f"directory {path.parent} does not exist")
            return
        problem = self._save(path)
        if problem:
            error.update(problem)
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
