"""Every action of the workbench, declared once.

Bindings, the key bar, the help screen, the command palette and the user's ``keymap:`` are all
derived from :data:`ACTIONS`; nothing else lists keys. An action belongs to a *scope*: ``app``
(works everywhere), ``list`` (every list: the same navigation keys in every view), a view id
(``traffic``, ``backends``, ...) or a screen (``detail``).

Two rules keep a classroom safe: navigation keys (``j``/``k``, arrows, ``g``/``G``, Home/End,
PgUp/PgDn) never do anything else in any view, and an action that stops or removes something
(``confirm=True``) asks first in a small dialog.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding

NAVIGATION_KEYS = frozenset(
    {"up", "down", "j", "k", "g", "G", "home", "end", "pageup", "pagedown", "left", "right"}
)
"""Keys that move a selection in every view and may never be bound to anything else."""


@dataclass(frozen=True)
class Action:
    """One thing a user can do, with its default keys and where it applies."""

    id: str
    """Stable id: the binding id users remap in ``keymap:`` (e.g. ``weight_up``)."""
    scope: str
    """``app``, ``list``, a view id (``traffic``, ``backends``, …) or ``detail``."""
    action: str
    """The Textual action run on the scope's widget, e.g. ``weight(1)``."""
    keys: str
    """Default keys, comma separated (``slash,f``); empty for palette-only actions."""
    label: str
    """Short label for the key bar (``Drain``)."""
    description: str
    """What it does, in a sentence: tooltip, help text and palette help."""
    confirm: bool = False
    """Stops or removes something: the action asks before doing it."""
    show: bool = True
    """Shown in the key bar (when the key bar has room)."""
    palette: bool = True
    """Offered in the command palette."""
    priority: bool = False
    """Binding takes priority over the focused widget (``tab`` between views)."""
    demo: bool = False
    """Only meaningful with the built-in classroom demo."""
    title: str = ""
    """Palette title; default ``Scope: label``."""

    @property
    def palette_title(self) -> str:
        """What the command palette lists (and searches) for this action."""
        return self.title or f"{SCOPE_TITLES.get(self.scope, self.scope)}: {self.label}"

    def binding(self) -> Binding:
        """The Textual binding for this action (its id is the keymap id)."""
        return Binding(
            self.keys,
            self.action,
            self.label,
            show=self.show,
            id=self.id,
            tooltip=self.description,
            priority=self.priority,
        )


SCOPE_TITLES: dict[str, str] = {
    "app": "Everywhere",
    "list": "Every list",
    "traffic": "Traffic",
    "backends": "Backends",
    "cache": "Cache",
    "rules": "Rules",
    "overview": "Overview",
    "lessons": "Lessons",
    "charts": "Charts",
    "detail": "Request detail",
    "held_list": "Held exchanges (list)",
    "held": "Held exchange (detail)",
}
"""How each scope is named in help and in the palette."""

_VIEWS = (
    ("1", "traffic", "Traffic"),
    ("2", "backends", "Backends"),
    ("3", "cache", "Cache"),
    ("4", "rules", "Rules"),
    ("5", "overview", "Overview"),
    ("6", "lessons", "Lessons"),
    ("7", "charts", "Charts"),
)

ACTIONS: tuple[Action, ...] = (
    # -- everywhere ------------------------------------------------------------------------
    *(
        Action(
            f"view_{view}",
            "app",
            f"show_view('{view}')",
            key,
            title,
            f"Show the {title} view",
            show=False,
            title=f"View: {title}",
        )
        for key, view, title in _VIEWS
    ),
    Action(
        "next_view",
        "app",
        "next_view",
        "tab",
        "Next view",
        "Cycle through the views",
        show=False,
        priority=True,
        title="View: next",
    ),
    Action(
        "lessons",
        "app",
        "show_view('lessons')",
        "l",
        "Lessons",
        "Open the guided lessons (inside Lessons: the next lesson)",
        show=False,
        palette=False,
    ),
    Action(
        "help",
        "app",
        "help",
        "question_mark",
        "Help",
        "Every key, by view",
        title="Help: every key",
    ),
    Action(
        "save_config",
        "app",
        "save_config",
        "s",
        "Save",
        "Save the live configuration (weights, algorithms, rules) to a new YAML file",
        title="Save live configuration…",
    ),
    Action(
        "projector",
        "app",
        "toggle_projector",
        "ctrl+t",
        "Projector",
        "Projector theme on/off: high contrast for a beamer",
        show=False,
        title="Theme: projector on/off",
    ),
    Action(
        "screenshot",
        "app",
        "screenshot",
        "",
        "Screenshot",
        "Save an SVG screenshot of the screen in the current directory",
        title="Screenshot",
    ),
    Action(
        "demo_traffic",
        "app",
        "toggle_traffic",
        "",
        "Demo traffic",
        "Start or stop the built-in traffic generator",
        demo=True,
        title="Demo: traffic on/off",
    ),
    *(
        Action(
            f"privacy_{mode}",
            "app",
            f"set_privacy('{mode}')",
            "",
            f"Privacy {mode}",
            f"Forward proxy privacy mode {mode}: {what}",
            title=f"Forward proxy: privacy {mode}",
        )
        for mode, what in (
            ("transparent", "the origin sees X-Forwarded-For (the client) and Via"),
            ("anonymous", "the origin sees Via, not the client's address"),
            ("elite", "no forwarding headers; the origin sees only the proxy's address"),
        )
    ),
    Action(
        "quit",
        "app",
        "request_quit",
        "q",
        "Quit",
        "Stop the proxies and leave (asks first)",
        confirm=True,
        title="Quit",
    ),
    # -- every list: the same navigation everywhere ------------------------------------------
    Action(
        "cursor-up",
        "list",
        "cursor_up",
        "up,k",
        "Up",
        "Select the previous row",
        show=False,
        palette=False,
    ),
    Action(
        "cursor-down",
        "list",
        "cursor_down",
        "down,j",
        "Down",
        "Select the next row",
        show=False,
        palette=False,
    ),
    Action(
        "page-up",
        "list",
        "page_up",
        "pageup",
        "Page up",
        "Move the selection one page up",
        show=False,
        palette=False,
    ),
    Action(
        "page-down",
        "list",
        "page_down",
        "pagedown",
        "Page down",
        "Move the selection one page down",
        show=False,
        palette=False,
    ),
    Action(
        "first-row",
        "list",
        "scroll_top",
        "home,g",
        "First",
        "Select the first row",
        show=False,
        palette=False,
    ),
    Action(
        "last-row",
        "list",
        "scroll_bottom",
        "end,G",
        "Last",
        "Select the last row",
        show=False,
        palette=False,
    ),
    # -- Traffic -----------------------------------------------------------------------------
    Action(
        "detail",
        "traffic",
        "open_detail",
        "enter",
        "Detail",
        "Open the selected request: headers before/after, body, timing and trace",
    ),
    Action(
        "filter",
        "traffic",
        "open_filter",
        "slash,f",
        "Filter",
        "Show only requests matching a filter expression (never changes traffic)",
        # Priority: it opens while the app handles the key, so the keys typed right after it
        # in the same burst already go to the filter (not to the list, where space pauses).
        priority=True,
    ),
    Action(
        "filter_clear", "traffic", "clear_filter", "", "Clear filter", "Show every request again"
    ),
    Action(
        "filter_errors",
        "traffic",
        "preset_filter('~e | ~c 5xx')",
        "",
        "Errors only",
        "Show only failed requests (errors and 5xx)",
    ),
    Action(
        "filter_blocked",
        "traffic",
        "preset_filter('~c 403')",
        "",
        "Blocked only",
        "Show only requests answered 403 (blocked by a rule or the ACL)",
    ),
    Action(
        "filter_cache_hits",
        "traffic",
        "preset_filter('~cache hit')",
        "",
        "Cache hits only",
        "Show only requests answered from the cache",
    ),
    Action(
        "follow",
        "traffic",
        "toggle_follow",
        "F",
        "Follow",
        "Follow on/off: keep the newest request in view",
    ),
    Action(
        "pause",
        "traffic",
        "toggle_pause",
        "space",
        "Pause",
        "Pause/resume the list; the proxies keep recording and the list catches up",
    ),
    Action(
        "traffic_mark",
        "traffic",
        "toggle_mark",
        "m",
        "Mark",
        "Mark the selected request: it stays (with its details) until unmarked",
        show=False,
    ),
    Action(
        "traffic_marked_only",
        "traffic",
        "marked_only",
        "M",
        "Marked only",
        "Show only marked requests (the ~marked filter); again: everything",
        show=False,
    ),
    Action(
        "traffic_unmark_all",
        "traffic",
        "unmark_all",
        "U",
        "Unmark all",
        "Unmark every marked request",
        show=False,
    ),
    Action(
        "traffic_clear",
        "traffic",
        "clear_list",
        "z",
        "Clear",
        "Clear the list (asks first; marked requests stay, the proxies keep recording)",
        confirm=True,
        show=False,
    ),
    Action(
        "traffic_sort",
        "traffic",
        "sort",
        "o",
        "Sort",
        "Sort the list by a column (completion order is the default)",
        show=False,
    ),
    Action(
        "traffic_reverse",
        "traffic",
        "reverse_order",
        "v",
        "Reverse",
        "Reverse the list's order",
        show=False,
    ),
    Action(
        "traffic_export_har",
        "traffic",
        "export_har",
        "w",
        "Export HAR",
        "Export (save) the requests shown, filter applied, as a HAR 1.2 file",
        show=False,
    ),
    Action(
        "traffic_replay",
        "traffic",
        "replay",
        "r",
        "Replay",
        "Replay the selected request through the proxy that handled it (a new, linked row ↻)",
    ),
    Action(
        "traffic_edit_replay",
        "traffic",
        "edit_replay",
        "e",
        "Edit+replay",
        "Edit the selected request (method, URL, headers, body) and send it as a replay",
    ),
    Action(
        "traffic_intercept",
        "traffic",
        "intercept",
        "i",
        "Intercept",
        "Set the intercept filter: hold matching requests or responses (empty: hold nothing)",
    ),
    Action(
        "traffic_held_list",
        "traffic",
        "held_list",
        "H",
        "Held",
        "List every exchange held by the intercept filter (open, edit, resume or kill one)",
        show=False,
    ),
    Action(
        "traffic_resume_held",
        "traffic",
        "resume_held",
        "a",
        "Resume",
        "Resume the oldest held exchange (with its edits; H lists them all)",
        show=False,
    ),
    Action(
        "traffic_resume_all_held",
        "traffic",
        "resume_all_held",
        "A",
        "Resume all",
        "Resume every held exchange (with their edits)",
        show=False,
    ),
    Action(
        "traffic_kill_held",
        "traffic",
        "kill_held",
        "X",
        "Kill held",
        "Kill the oldest held exchange: its client gets no answer (asks first)",
        confirm=True,
        show=False,
    ),
    Action(
        "traffic_edit_held",
        "traffic",
        "edit_held",
        "E",
        "Edit held",
        "Edit the oldest held exchange (request line or status, headers, body), then resume it "
        "(E: e is edit+replay in this view)",
        show=False,
    ),
    # -- Backends ----------------------------------------------------------------------------
    Action(
        "weight_up",
        "backends",
        "weight(1)",
        "plus",
        "+weight",
        "Raise the selected backend's weight by 1",
    ),
    Action(
        "weight_down",
        "backends",
        "weight(-1)",
        "minus",
        "-weight",
        "Lower the selected backend's weight by 1",
    ),
    Action(
        "weight_set",
        "backends",
        "type_weight",
        "equals_sign",
        "=weight",
        "Type a weight for the selected backend",
    ),
    Action(
        "algorithm",
        "backends",
        "algorithm",
        "a",
        "Algorithm",
        "Choose the balancing algorithm of the selected pool",
    ),
    Action(
        "drain",
        "backends",
        "drain",
        "d",
        "Drain",
        "Drain the backend (finish in-flight requests, take no new ones) or undrain it",
    ),
    Action(
        "toggle_enabled",
        "backends",
        "toggle_enabled",
        "x",
        "Disable",
        "Disable the backend (asks first) or enable it again",
        confirm=True,
    ),
    Action(
        "fault_kill",
        "backends",
        "fault('kill')",
        "X",
        "Kill",
        "Demo: kill the backend's server (asks first) or revive it",
        confirm=True,
        demo=True,
    ),
    Action(
        "fault_latency",
        "backends",
        "fault('latency')",
        "L",
        "Latency",
        "Demo: add 300 ms to the backend's answers (again: remove)",
        demo=True,
    ),
    Action(
        "fault_errors",
        "backends",
        "fault('error_rate')",
        "E",
        "Errors",
        "Demo: make half the backend's answers 500 (again: stop)",
        demo=True,
    ),
    Action(
        "fault_health",
        "backends",
        "fault('health_fail')",
        "H",
        "Fail checks",
        "Demo: make the backend's /healthz fail (again: pass)",
        demo=True,
    ),
    Action(
        "fault_flap",
        "backends",
        "fault('flap')",
        "F",
        "Flap",
        "Demo: make the backend's /healthz flap up and down",
        demo=True,
    ),
    # -- Cache -------------------------------------------------------------------------------
    Action(
        "cache_purge",
        "cache",
        "purge",
        "p",
        "Purge",
        "Purge every cached response (asks first)",
        confirm=True,
    ),
    Action(
        "cache_toggle",
        "cache",
        "toggle_caching",
        "c",
        "On/off",
        "Turn caching on or off for the reverse or the forward proxy",
    ),
    # -- Rules -------------------------------------------------------------------------------
    Action("rule_new", "rules", "new", "n", "New", "Add a rule"),
    Action("rule_edit", "rules", "edit", "e", "Edit", "Edit the selected rule"),
    Action(
        "rule_toggle", "rules", "toggle", "space", "On/off", "Enable or disable the selected rule"
    ),
    Action(
        "rule_up",
        "rules",
        "move(-1)",
        "K",
        "Move up",
        "Move the selected rule up (order decides which rule wins)",
    ),
    Action("rule_down", "rules", "move(1)", "J", "Move down", "Move the selected rule down"),
    Action(
        "rule_delete",
        "rules",
        "delete",
        "delete",
        "Delete",
        "Remove the selected rule (asks first)",
        confirm=True,
    ),
    Action(
        "rule_test",
        "rules",
        "test",
        "t",
        "Test",
        "Dry run: which rules would fire for a request you describe",
    ),
    # -- Lessons -----------------------------------------------------------------------------
    Action(
        "lessons_reset",
        "lessons",
        "reset_progress_now",
        "",
        "Reset progress",
        "Forget which lessons were finished (kept across restarts)",
    ),
    # -- request detail ------------------------------------------------------------------------
    Action(
        "detail_replay",
        "detail",
        "replay",
        "r",
        "Replay",
        "Replay this request through the proxy that handled it",
    ),
    Action(
        "detail_edit_replay",
        "detail",
        "edit_replay",
        "e",
        "Edit+replay",
        "Edit this request (method, URL, headers, body) and send it as a replay",
    ),
    Action(
        "detail_close",
        "detail",
        "close",
        "escape,q",
        "Back",
        "Back to the traffic list (q here never quits)",
        palette=False,
    ),
    # -- held exchanges: the list (H in Traffic) and the detail of one ---------------------------
    Action(
        "held_open",
        "held_list",
        "open",
        "enter",
        "Open",
        "Open the selected held exchange: what will be sent, its edits, its time left",
        palette=False,
    ),
    *(
        Action(
            f"{prefix}_{aid}",
            scope,
            act,
            key,
            label,
            f"{what} {target}{more}",
            confirm=aid == "kill",
            palette=False,
        )
        for prefix, scope, target in (
            ("held_list", "held_list", "the selected held exchange"),
            ("held", "held", "this held exchange"),
        )
        for aid, act, key, label, what, more in (
            ("resume", "resume", "a", "Resume", "Resume", " (with its edits)"),
            ("edit", "edit", "e", "Edit", "Edit", ": request line or status, headers, body"),
            ("kill", "kill", "X", "Kill", "Kill", ": its client gets no answer (asks first)"),
        )
    ),
    *(
        Action(
            f"{scope}_resume_all",
            scope,
            "resume_all",
            "A",
            "Resume all",
            "Resume every held exchange (with their edits)",
            palette=False,
        )
        for scope in ("held_list", "held")
    ),
    Action(
        "held_list_close",
        "held_list",
        "close",
        "escape,q",
        "Back",
        "Back to the traffic list (q here never quits)",
        palette=False,
    ),
)
"""The one table of actions."""

_BY_ID = {a.id: a for a in ACTIONS}


def action(action_id: str) -> Action:
    """The action with ``action_id``."""
    return _BY_ID[action_id]


def in_scope(scope: str) -> tuple[Action, ...]:
    """The actions of ``scope``, in table order."""
    return tuple(a for a in ACTIONS if a.scope == scope)


def bindings(scope: str) -> list[Binding]:
    """Textual bindings for every keyed action of ``scope``."""
    return [a.binding() for a in in_scope(scope) if a.keys]


def keys_of(a: Action, keymap: dict[str, str] | None = None) -> list[str]:
    """The keys that run ``a`` now (the user's keymap wins over the defaults)."""
    keys = (keymap or {}).get(a.id, a.keys)
    return [k.strip() for k in keys.split(",") if k.strip()]


def scopes() -> Iterable[str]:
    """Every scope, in the order help shows them."""
    return SCOPE_TITLES.keys()
