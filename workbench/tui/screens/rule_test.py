"""Try the rule set on a made-up request: which rules would fire, without touching traffic."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

if TYPE_CHECKING:
    from workbench.engine.control import Result
    from workbench.engine.snapshot import DryRunLine

DryRun = Callable[..., "Result"]
"""``engine.control.dry_run``."""


def parse_headers(text: str) -> tuple[list[tuple[str, str]], str | None]:
    """``"Accept: a; X-Y: b"`` → header pairs; the error names the piece without a colon."""
    pairs: list[tuple[str, str]] = []
    for piece in text.split(";"):
        piece = piece.strip()
        if not piece:
            continue
        name, sep, value = piece.partition(":")
        if not sep or not name.strip():
            return pairs, f"header {piece!r} needs the form Name: value"
        pairs.append((name.strip(), value.strip()))
    return pairs, None


def parse_status(text: str) -> tuple[int | None, str | None]:
    """An optional response status: empty means 200."""
    text = text.strip()
    if not text:
        return None, None
    if not text.isdigit() or not 100 <= int(text) <= 599:
        return None, f"status {text!r}: type a status code from 100 to 599 (empty: 200)"
    return int(text), None


class RuleTestScreen(ModalScreen[None]):
    """A dry run of the live rule set for one request (and its response), updated as you type.

    | Key | Action |
    | :- | :- |
    | `escape` | Close. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="rule_test_close", tooltip="Close the dry run"),
    ]

    DEFAULT_CSS = """
    RuleTestScreen { align: center middle; }
    RuleTestScreen > Vertical { width: 84; max-width: 100%; height: auto; max-height: 100%; }
    RuleTestScreen Grid { grid-size: 2; grid-columns: 14 1fr; grid-rows: auto; height: auto; }
    RuleTestScreen #outcome { height: auto; max-height: 14; }
    """

    def __init__(self, dry_run: DryRun, url: str = "http://example.test/") -> None:
        super().__init__()
        self.dry_run = dry_run
        self.url = url

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Label("Test the rules on a request (nothing is sent)", classes="modal-title")
            with Grid():
                yield Label("method", classes="field-label")
                yield Input("GET", id="method", compact=True)
                yield Label("URL", classes="field-label")
                yield Input(self.url, id="url", compact=True)
                yield Label("headers", classes="field-label")
                yield Input("", id="headers", placeholder="e.g. Accept: text/html", compact=True)
                yield Label("resp. status", classes="field-label")
                yield Input("", id="status", placeholder="200 if empty", compact=True)
                yield Label("resp. type", classes="field-label")
                yield Input(
                    "", id="content_type", placeholder="e.g. application/json", compact=True
                )
            yield Static("", id="outcome")

    def on_mount(self) -> None:
        self.query_one("#url", Input).focus()
        self.refresh_outcome()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refresh_outcome()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.refresh_outcome()

    def refresh_outcome(self) -> None:
        """Run the dry run for the current inputs and show one line per rule."""
        method = self.query_one("#method", Input).value.strip() or "GET"
        url = self.query_one("#url", Input).value.strip()
        headers, error = parse_headers(self.query_one("#headers", Input).value)
        status, status_error = parse_status(self.query_one("#status", Input).value)
        content_type = self.query_one("#content_type", Input).value.strip() or None
        out = self.query_one("#outcome", Static)
        if error or status_error:
            out.update(Text(error or status_error or "", style="bold"))
            out.add_class("-error")
            return
        out.remove_class("-error")
        if not url:
            out.update("type a URL, e.g. http://tracker.example.test/pixel.gif")
            return
        res = self.dry_run(method, url, headers, status, content_type)
        if not res.ok:
            out.update(Text(res.error or "cannot test this request", style="bold"))
            out.add_class("-error")
            return
        out.update(render_outcome(res.value))

    def action_close(self) -> None:
        self.dismiss(None)


_MARKS = {
    "fires": "✓ fires",
    "no match": "· no match",
    "disabled, would match": "○ disabled, would match",
    "disabled": "○ disabled",
    "not reached": "– not reached",
}


def render_outcome(lines: Sequence[DryRunLine]) -> Text:
    """One line per rule in evaluation order, a summary first."""
    text = Text()
    if not lines:
        text.append("there are no rules yet (press n in the Rules view)")
        return text
    fired = [line.name for line in lines if line.verdict == "fires"]
    if fired:
        text.append(f"would fire: {', '.join(fired)}\n", style="bold")
    else:
        text.append("no rule would fire: the request passes unchanged\n", style="bold")
    for i, line in enumerate(lines, 1):
        text.append(f"{i:>2}. {line.phase:<8} ")
        mark = _MARKS.get(line.verdict, line.verdict)
        text.append(f"{mark:<24}", style="bold" if line.verdict == "fires" else "")
        text.append(f" {line.name}")
        if line.stopped_by:
            text.append(f" (stopped by {line.stopped_by})")
        text.append("\n")
    text.rstrip()
    return text
