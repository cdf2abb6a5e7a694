"""Actions of the request detail and of the held exchanges (their list and one of them)."""

from __future__ import annotations

from workbench.tui.actions.model import Action

DETAIL_ACTIONS: tuple[Action, ...] = (
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
)
"""Actions of the ``detail`` scope (the request detail screen)."""

HELD_ACTIONS: tuple[Action, ...] = (
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
"""Actions of the ``held_list`` and ``held`` scopes."""
