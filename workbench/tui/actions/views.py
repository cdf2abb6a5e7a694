"""Actions of the Backends, Cache, Rules and Lessons views."""

from __future__ import annotations

from workbench.tui.actions.model import Action

BACKENDS_ACTIONS: tuple[Action, ...] = (
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
)
"""Actions of the ``backends`` scope (weights, drain, demo faults)."""

CACHE_ACTIONS: tuple[Action, ...] = (
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
)
"""Actions of the ``cache`` scope."""

RULES_ACTIONS: tuple[Action, ...] = (
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
)
"""Actions of the ``rules`` scope."""

LESSONS_ACTIONS: tuple[Action, ...] = (
    Action(
        "lessons_reset",
        "lessons",
        "reset_progress_now",
        "",
        "Reset progress",
        "Forget which lessons were finished (kept across restarts)",
    ),
)
"""Actions of the ``lessons`` scope."""
