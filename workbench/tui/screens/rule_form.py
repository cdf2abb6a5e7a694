"""The form that creates or edits a rule; the filter expression is checked as you type.

The form does not change the engine itself: it hands the YAML-shaped dict to a ``submit``
callback (``control.add_rule`` or ``control.update_rule``) and stays open showing the error when
the engine refuses it, so a typo never costs the user what they typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from workbench.config.model import RULE_ACTIONS, RULE_PHASES
from workbench.engine.control import Result
from workbench.engine.rules.filters import FilterSyntaxError, parse_filter

ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "block": ("status",),
    "allow": (),
    "redirect": ("status", "location"),
    "set_header": ("header", "value"),
    "remove_header": ("header",),
    "delay": ("delay",),
    "tag": ("value",),
}
"""Which optional fields each action uses; the others are hidden and sent as null."""

ACTION_NOTES: dict[str, str] = {
    "block": "answer with an error page (status, default 403); the origin never sees it",
    "allow": "stop evaluating further rules of this phase; the request passes",
    "redirect": "send the client elsewhere (status, default 302)",
    "set_header": "add or replace a header",
    "remove_header": "drop a header",
    "delay": "wait before passing the request on (e.g. 500ms, 2s)",
    "tag": "label the request in the traffic list",
}

_OPTIONAL = ("status", "location", "header", "value", "delay")
_PLACEHOLDERS = {
    "name": "e.g. block-ads",
    "when": "e.g. ~d ads.example.test & ~m GET",
    "status": "default 403 (block) or 302 (redirect)",
    "location": "e.g. https://example.test/",
    "header": "e.g. X-Workbench",
    "value": "e.g. hello",
    "delay": "e.g. 500ms",
}


_INTERNAL = re.compile(
    # A source file, maybe with :line (not inside a word or a URL the user typed).
    r"""(?<![\w.:/])(?:[A-Za-z]:)?(?:[\\/][\w.\-]+)+\.pyc?(?::\d+)?"""
    r"|\b(?:workbench|textual|rich|aiohttp|asyncio)(?:\.\w+)+"  # a module or class path
    r"|<[\w.]+ object at 0x[0-9a-f]+>"  # a Python repr
)


_RULE_PATH = re.compile(r"\brules\[\d+\]\.")
"""The config path of the rule being edited (``rules[3].``): the form shows only that rule."""


def public_message(message: str) -> str:
    """``message`` without internal file or module paths, and with fields named as the form
    names them (``name: …`` rather than ``rules[3].name: …``)."""
    cleaned = _INTERNAL.sub("…", _RULE_PATH.sub("", message))
    return re.sub(r"\s{2,}", " ", cleaned).strip() or "the engine refused the rule"


def delay_text(seconds: float | None) -> str:
    """A delay in seconds as the config file would spell it (``0.5`` → ``500ms``)."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def filter_feedback(expression: str) -> tuple[bool, str]:
    """``(ok, text)``: what the filter means, or where and why it does not parse."""
    if not expression.strip():
        return False, "a rule needs an expression (~all matches every request)"
    try:
        f = parse_filter(expression)
    except FilterSyntaxError as exc:
        return False, f"col {exc.column}: {exc.message}"
    return True, f"matches: {f.describe()}"


class RuleFormScreen(ModalScreen[str | None]):
    """Create or edit one rule; dismisses with the saved rule's name, or ``None`` on cancel.

    | Key | Action |
    | :- | :- |
    | `ctrl+s`, `enter` in a field | Save (the engine validates; errors keep the form open). |
    | `escape` | Cancel; the running rule set is unchanged. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="rule_form_save", tooltip="Validate and apply"),
        Binding("escape", "cancel", "Cancel", id="rule_form_cancel", tooltip="Discard changes"),
    ]

    DEFAULT_CSS = """
    RuleFormScreen { align: center middle; }
    RuleFormScreen > Vertical { width: 84; max-width: 100%; height: auto; max-height: 100%; }
    RuleFormScreen Grid { grid-size: 2; grid-columns: 10 1fr; grid-rows: auto; height: auto; }
    RuleFormScreen Grid > Label { height: 1; }
    RuleFormScreen Horizontal { height: auto; align-horizontal: right; }
    """

    def __init__(
        self,
        submit: Callable[[dict[str, Any]], Result],
        initial: Mapping[str, Any] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__()
        self.submit = submit
        self.initial = dict(initial or {})
        self.title_text = title or ("Edit rule" if initial else "New rule")

    def compose(self) -> ComposeResult:
        init = self.initial
        with Vertical(classes="modal-box"):
            yield Label(self.title_text, classes="modal-title")
            with Grid(id="fields"):
                yield Label("name", classes="field-label")
                yield self._input("name", init.get("name") or "")
                yield Label("when", classes="field-label")
                yield self._input("when", init.get("when") or "")
                yield Label("")
                yield Static("", id="when-feedback", classes="field-note")
                yield Label("phase", classes="field-label")
                yield Select(
                    [(p, p) for p in RULE_PHASES],
                    value=init.get("phase") or "request",
                    allow_blank=False,
                    compact=True,
                    id="phase",
                )
                yield Label("action", classes="field-label")
                yield Select(
                    [(a, a) for a in RULE_ACTIONS],
                    value=init.get("action") or "block",
                    allow_blank=False,
                    compact=True,
                    id="action",
                )
                yield Label("")
                yield Static("", id="action-note", classes="field-note")
                for name in _OPTIONAL:
                    raw = init.get(name)
                    if name == "delay":
                        text = delay_text(raw) if isinstance(raw, int | float) else (raw or "")
                    else:
                        text = "" if raw is None else str(raw)
                    yield Label(name, classes=f"field-label opt-{name}")
                    yield self._input(name, text, classes=f"opt-{name}")
            yield Static("", id="error", classes="field-error")
            with Horizontal(classes="modal-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)

    def _input(self, name: str, value: str, classes: str = "") -> Input:
        return Input(
            value,
            placeholder=_PLACEHOLDERS.get(name, ""),
            id=name,
            compact=True,
            classes=classes,
        )

    def on_mount(self) -> None:
        self._show_action_fields(self.query_one("#action", Select).value)
        self._check_when(self.query_one("#when", Input).value)
        # Editing usually means fixing the expression; a new rule starts at its name.
        self.query_one("#when" if self.initial else "#name", Input).focus()

    # -- live feedback ---------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "when":
            self._check_when(event.value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "action":
            self._show_action_fields(event.value)
            # A status that belongs to the other action would be refused (403 on a redirect):
            # switch it to the new action's default.
            status = self.query_one("#status", Input)
            defaults = {"block": "403", "redirect": "302"}
            if str(event.value) in defaults and status.value.strip() in ("", *defaults.values()):
                status.value = defaults[str(event.value)]

    def _check_when(self, expression: str) -> None:
        ok, text = filter_feedback(expression)
        if not expression.strip():
            # An untouched field is not a mistake yet; saving it is (the engine says so).
            ok, text = True, "e.g. ~d ads.example.test · ~u ^/api & ~m POST · ~all for everything"
        fb = self.query_one("#when-feedback", Static)
        fb.update(text)
        fb.set_class(not ok, "-error")
        self.query_one("#when", Input).set_class(not ok, "-invalid")

    def _show_action_fields(self, action: object) -> None:
        wanted = ACTION_FIELDS.get(str(action), ())
        for name in _OPTIONAL:
            for w in self.query(f".opt-{name}"):
                w.display = name in wanted
        self.query_one("#action-note", Static).update(ACTION_NOTES.get(str(action), ""))

    # -- saving ----------------------------------------------------------------------------
    def collect(self) -> tuple[dict[str, Any] | None, str | None, str | None]:
        """The form as a YAML-shaped rule dict, or ``(None, message, field)`` for local errors."""
        action = str(self.query_one("#action", Select).value)
        data: dict[str, Any] = {
            "name": self.query_one("#name", Input).value.strip(),
            "when": self.query_one("#when", Input).value.strip(),
            "phase": str(self.query_one("#phase", Select).value),
            "action": action,
        }
        if "enabled" in self.initial:
            data["enabled"] = bool(self.initial["enabled"])
        wanted = ACTION_FIELDS.get(action, ())
        for name in _OPTIONAL:
            text = self.query_one(f"#{name}", Input).value.strip()
            # Unused fields go as null so an edit that changes the action leaves no stale field.
            if name not in wanted or not text:
                data[name] = None
            elif name == "status":
                try:
                    data[name] = int(text)
                except ValueError:
                    return None, f"status: {text!r} is not a number", "status"
            else:
                data[name] = text
        return data, None, None

    def action_save(self) -> None:
        data, error, field = self.collect()
        if data is None:
            self._fail(error or "invalid input", field)
            return
        res = self.submit(data)
        if not res.ok:
            self._fail(res.error or "the engine refused the rule", res.field)
            return
        self.dismiss(data["name"])

    def _fail(self, message: str, field: str | None) -> None:
        err = self.query_one("#error", Static)
        err.update(public_message(message))
        err.add_class("-error")
        name = (field or "").rsplit(".", 1)[-1]
        if name in _OPTIONAL or name in ("name", "when"):
            target = self.query_one(f"#{name}", Input)
            if target.display:
                target.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)
