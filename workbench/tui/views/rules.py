"""The Rules view: the ordered rule list both proxies evaluate, editable while traffic flows.

Every edit goes through ``engine.control``, which compiles a whole new rule set and swaps it in
one step; a refused edit leaves the running rules exactly as they were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Static

from workbench.engine.snapshot import EngineSnapshot, RuleView
from workbench.tui.actions import bindings
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.rule_form import RuleFormScreen, delay_text
from workbench.tui.screens.rule_test import RuleTestScreen
from workbench.tui.views.base import View
from workbench.tui.widgets.nav_table import NavTable
from workbench.tui.widgets.palette import ThemeAware

if TYPE_CHECKING:
    from workbench.engine.control import Result
    from workbench.engine.engine import Engine

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("pos", "#"),
    ("enabled", "state"),
    ("name", "name"),
    ("phase", "phase"),
    ("action", "action"),
    ("when", "when"),
    ("hits", "hits"),
)


def action_text(rule: RuleView) -> str:
    """The action with the fields it uses: ``block 403``, ``set_header X-A: b``, ``delay 500ms``."""
    action = rule.action or "?"
    status = rule.status
    if action == "block":
        return f"block {status or 403}"
    if action == "redirect":
        return f"redirect {status or 302} → {rule.location or '?'}"
    if action == "set_header":
        return f"set_header {rule.header or '?'}: {rule.value or ''}"
    if action == "remove_header":
        return f"remove_header {rule.header or '?'}"
    if action == "delay":
        delay = rule.delay
        return f"delay {delay_text(delay) if isinstance(delay, int | float) else '?'}"
    if action == "tag":
        return f"tag {rule.value or '?'}"
    return str(action)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _structure(rules: tuple[RuleView, ...]) -> tuple[Any, ...]:
    """Everything about the rules except their hit counters (which change on every request)."""
    return tuple(tuple(r.as_config().items()) for r in rules)


class RulesView(ThemeAware, View):
    """The rule list in evaluation order, with hit counters.

    | Key | Action |
    | :- | :- |
    | `n` | New rule. |
    | `e` | Edit the selected rule. |
    | `space` | Enable / disable the selected rule. |
    | `K` / `J` | Move the selected rule up / down (order decides which rule wins). |
    | `delete` | Remove the selected rule (asks first). |
    | `t` | Test: which rules would fire for a request you type. |
    """

    view_id: ClassVar[str] = "rules"
    title: ClassVar[str] = "Rules"

    BINDINGS: ClassVar[list[BindingType]] = bindings("rules")

    DEFAULT_CSS = """
    RulesView { layout: vertical; }
    RulesView > DataTable { height: 1fr; }
    RulesView > #rules-help { height: auto; }
    """

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._rules: tuple[RuleView, ...] = ()
        self._structure: tuple[Any, ...] | None = None
        self._hits: dict[str, int] = {}
        self._follow: str | None = None
        """A rule the cursor should land on at the next rebuild (after add, edit or move)."""
        # Created up front: a refresh racing mount or teardown must not fail a query.
        self._table: NavTable = NavTable(id="rules-table")

    def on_mount(self) -> None:
        self.watch_theme()

    def on_resize(self) -> None:
        # The action and when columns are cut to the width: lay the rows out again.
        self._structure = None

    def theme_changed(self) -> None:
        self._structure = None  # every row again, in the new colours

    def compose(self) -> ComposeResult:
        # Columns need a running app (to measure labels), so they are added here.
        for key, label in _COLUMNS:
            self._table.add_column(label, key=key)
        yield self._table
        yield Static(
            "Rules run top to bottom in each phase; the first block, redirect or allow ends "
            "the phase. They apply to both proxies.",
            id="rules-help",
            classes="muted",
        )

    @property
    def table(self) -> NavTable:
        return self._table

    def focus_default(self) -> None:
        self.table.focus()

    # -- refresh ---------------------------------------------------------------------------
    def update_view(self, snapshot: EngineSnapshot) -> None:
        if not self._table.columns:  # not composed yet
            return
        rules = snapshot.rules
        structure = _structure(rules)
        table = self.table
        if structure != self._structure:
            self._rebuild(table, rules)
            self._structure = structure
        else:
            # Only the counters moved: touch those cells and nothing else.
            for r in rules:
                name = r.name
                hits = r.hits
                if self._hits.get(name) != hits:
                    self._hits[name] = hits
                    table.update_cell(name, "hits", str(hits))
        self._rules = rules

    def _rebuild(self, table: NavTable, rules: tuple[RuleView, ...]) -> None:
        keep = self._follow or self.selected_name()
        self._follow = None
        table.clear()
        self._hits = {}
        st = self.styles_
        actions = [action_text(r) for r in rules]
        action_width, when_width = self._text_widths(rules, actions)
        for i, (r, action) in enumerate(zip(rules, actions, strict=True), 1):
            name = r.name
            self._hits[name] = r.hits
            style = st["text"] if r.enabled else st["muted"]
            table.add_row(
                str(i),
                Text("on", style=st["ok"]) if r.enabled else Text("off", style=st["bad"]),
                Text(name, style=style),
                Text(r.phase, style=style),
                Text(_cut(action, action_width), style=style),
                Text(_cut(r.when, when_width), style=style),
                str(r.hits),
                key=name,
            )
        names = [r.name for r in rules]
        if keep in names:
            table.move_cursor(row=names.index(keep), animate=False)

    def _text_widths(self, rules: tuple[RuleView, ...], actions: list[str]) -> tuple[int, int]:
        """Widths for the action and when columns, so that the hit counter stays on screen.

        Position, state, name, phase and hits keep their full width (each column has one cell
        of padding either side, the scrollbar takes two); action and when share the rest,
        action taking what it needs up to half. ``e`` shows a cut rule whole.
        """
        fixed = (
            max([1] + [len(str(i)) for i in range(1, len(rules) + 1)])
            + len("state")
            + max([len("name")] + [len(r.name) for r in rules])
            + len("response")
            + max([6] + [len(str(r.hits)) + 2 for r in rules])
            + 2 * 5
        )
        shared = max(24, (self.size.width or 80) - 2 - fixed - 4)
        action_width = min(max([len("action")] + [len(a) for a in actions]), shared // 2)
        return action_width, shared - action_width

    def selected_name(self) -> str | None:
        """The name of the rule under the cursor, if any."""
        row = self.table.cursor_row
        if 0 <= row < len(self._rules) and self.table.row_count:
            return self._rules[row].name
        return None

    def _selected(self) -> RuleView | None:
        name = self.selected_name()
        rule = next((r for r in self._rules if r.name == name), None)
        if rule is None:
            self.notify("no rule selected", severity="warning")
        return rule

    def _report(self, res: Result) -> bool:
        if not res.ok:
            self.notify(res.error or "the engine refused the change", severity="error")
        return res.ok

    def _refresh_now(self) -> None:
        """Show the engine's new rule set at once rather than at the next tick."""
        self.update_view(self.engine.snapshot())

    # -- actions ---------------------------------------------------------------------------
    def action_new(self) -> None:
        def submit(data: dict[str, Any]) -> Result:
            res = self.engine.control.add_rule(data)
            if res.ok:
                self._follow = data["name"]
                self._refresh_now()
            return res

        self.app.push_screen(RuleFormScreen(submit))

    def action_edit(self) -> None:
        rule = self._selected()
        if rule is None:
            return
        old = rule.name

        def submit(data: dict[str, Any]) -> Result:
            res = self.engine.control.update_rule(old, data)
            if res.ok:
                self._follow = data["name"]
                self._refresh_now()
            return res

        self.app.push_screen(
            RuleFormScreen(submit, initial=rule.as_config(), title=f"Edit rule {old}")
        )

    def action_toggle(self) -> None:
        rule = self._selected()
        if rule is None:
            return
        enabled = not rule.enabled
        if self._report(self.engine.control.set_rule_enabled(rule.name, enabled)):
            self.notify(f"rule {rule.name} {'enabled' if enabled else 'disabled'}")
            self._refresh_now()

    def action_move(self, delta: int) -> None:
        rule = self._selected()
        if rule is None:
            return
        if self._report(self.engine.control.move_rule(rule.name, delta)):
            self._follow = rule.name
            self._refresh_now()

    def action_delete(self) -> None:
        rule = self._selected()
        if rule is None:
            return
        name = rule.name

        def answer(yes: bool | None) -> None:
            if yes and self._report(self.engine.control.delete_rule(name)):
                self.notify(f"rule {name} removed")
                self._refresh_now()

        self.app.push_screen(ConfirmScreen(f"Remove rule {name!r}?", yes="Remove"), answer)

    def action_test(self) -> None:
        self.app.push_screen(RuleTestScreen(self.engine.control.dry_run))
