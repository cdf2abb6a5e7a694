"""Try the rule set on a made-up request: which rules would fire, without touching traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from workbench.engine.rules.ruleset import dry_run

if TYPE_CHECKING:
    from workbench.engine.rules.ruleset import RuleSet


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


class RuleTestScreen(ModalScreen[None]):
    """A dry run of the live rule set for one method + URL (+ headers), updated as you type.

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
    RuleTestScreen Grid { grid-size: 2; grid-columns: 10 1fr; grid-rows: auto; height: auto; }
    RuleTestScreen #outcome { height: auto; max-height: 14; }
    """

    def __init__(self, ruleset: RuleSet, url: str = "http://example.test/") -> None:
        super().__init__()
        self.ruleset = ruleset
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
                yield Input("", id="headers", placeholder="Name: value; Other: value", compact=True)
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
        out = self.query_one("#outcome", Static)
        if error:
            out.update(Text(error, style="bold red"))
            return
        if not url:
            out.update("type a URL, e.g. http://tracker.example.test/pixel.gif")
            return
        results = dry_run(self.ruleset, method, url, headers)
        out.update(render_outcome(results))

    def action_close(self) -> None:
        self.dismiss(None)


def render_outcome(results: list[tuple[str, bool]]) -> Text:
    """One line per rule in evaluation order: ``✓ fires`` or ``· no``; a summary first."""
    text = Text()
    fired = [name for name, fires in results if fires]
    if not results:
        text.append("there are no rules yet (press n in the Rules view)")
        return text
    if fired:
        text.append(f"would fire: {', '.join(fired)}\n", style="bold")
    else:
        text.append("no rule would fire: the request passes unchanged\n", style="bold")
    for i, (name, fires) in enumerate(results, 1):
        mark, style = ("✓ fires", "green") if fires else ("· no", "dim")
        text.append(f"{i:>2}. ")
        text.append(f"{mark:<8}", style=style)
        text.append(f" {name}\n")
    text.rstrip()
    return text
