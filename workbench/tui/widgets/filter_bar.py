"""The display-filter input: live validation, Enter applies, Escape cancels.

A display filter only decides which rows are shown; it never touches traffic (rules do that).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from workbench.engine.rules.filters import Filter, FilterSyntaxError, parse_filter


class FilterBar(Vertical):
    """An input for a filter expression with the parse error (and its column) underneath.

    | Key | Action |
    | :- | :- |
    | enter | Apply the expression (empty clears the filter). |
    | escape | Close without changing the current filter. |
    """

    BINDINGS = [
        Binding(
            "escape", "cancel", "Cancel", id="filter_cancel", tooltip="Close the filter unchanged"
        ),
    ]

    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar > Input { width: 1fr; }
    FilterBar > Static { height: auto; }
    """

    class Applied(Message):
        """The user applied an expression; ``filter`` is None when it was cleared."""

        def __init__(self, bar: FilterBar, filter: Filter | None, text: str) -> None:
            super().__init__()
            self.bar = bar
            self.filter = filter
            self.text = text

        @property
        def control(self) -> FilterBar:
            return self.bar

    class Cancelled(Message):
        """The user closed the bar without applying."""

        def __init__(self, bar: FilterBar) -> None:
            super().__init__()
            self.bar = bar

        @property
        def control(self) -> FilterBar:
            return self.bar

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._applied_text = ""

    def compose(self):
        yield Input(
            placeholder="display filter, e.g.  ~c 5xx | ~b web-2 & !~m HEAD   (empty: show all)",
            id="filter-input",
        )
        yield Static("", id="filter-error", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def open(self, current: str) -> None:
        """Show the bar with ``current`` as the starting text and focus the input."""
        self._applied_text = current
        self.input.value = current
        self._validate(current)
        self.display = True
        # Focus now, not after the next refresh: keys typed in the same burst as `/` must land
        # in the input, not in the list behind it (where space would pause it).
        self.screen.set_focus(self.input)
        self.input.cursor_position = len(current)

    def apply(self, text: str) -> None:
        """Apply ``text`` as if typed and submitted; an invalid expression changes nothing."""
        result = self._validate(text)
        if isinstance(result, FilterSyntaxError):
            return
        self._applied_text = text.strip()
        self.input.value = self._applied_text
        self.display = False
        self.post_message(self.Applied(self, result, self._applied_text))

    def _validate(self, text: str) -> Filter | None | FilterSyntaxError:
        err = self.query_one("#filter-error", Static)
        if not text.strip():
            err.update("")
            self.set_class(False, "-invalid")
            return None
        try:
            flt = parse_filter(text)
        except FilterSyntaxError as exc:
            # The caret lines up with the input's text (a 1-cell border and 2 cells of padding).
            msg = Text(no_wrap=True, overflow="ellipsis")
            msg.append(" " * (exc.column + 2) + "^ ", style="bold")
            msg.append(str(exc))
            err.update(msg)
            self.set_class(True, "-invalid")
            return exc
        # The line's own colour is the theme's muted text (see app.tcss).
        err.update(Text(f"  {flt.describe()}", no_wrap=True, overflow="ellipsis"))
        self.set_class(False, "-invalid")
        return flt

    @on(Input.Changed, "#filter-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._validate(event.value)

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        result = self._validate(event.value)
        if isinstance(result, FilterSyntaxError):
            # A broken expression changes nothing; the error stays visible until fixed.
            self.app.bell()
            return
        self._applied_text = event.value.strip()
        self.display = False
        self.post_message(self.Applied(self, result, self._applied_text))

    def action_cancel(self) -> None:
        self.display = False
        self.input.value = self._applied_text
        self.post_message(self.Cancelled(self))
