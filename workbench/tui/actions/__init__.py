"""Every action of the workbench, declared once.

Bindings, the key bar, the help screen, the command palette and the user's ``keymap:`` are all
derived from :data:`ACTIONS`; nothing else lists keys. An action belongs to a *scope*: ``app``
(works everywhere), ``list`` (every list: the same navigation keys in every view), a view id
(``traffic``, ``backends``, ...) or a screen (``detail``).

Two rules keep a classroom safe: navigation keys (``j``/``k``, arrows, ``g``/``G``, Home/End,
PgUp/PgDn) never do anything else in any view, and an action that stops or removes something
(``confirm=True``) asks first in a small dialog.

The table is kept by scope: :mod:`.everywhere` (``app`` and ``list``), :mod:`.traffic`,
:mod:`.views` (Backends, Cache, Rules, Lessons) and :mod:`.screens` (detail, held exchanges);
:mod:`.model` defines :class:`Action`. This module joins them, in that order, into one table.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding

from workbench.tui.actions.everywhere import APP_ACTIONS, LIST_ACTIONS
from workbench.tui.actions.model import NAVIGATION_KEYS, SCOPE_TITLES, Action
from workbench.tui.actions.screens import DETAIL_ACTIONS, HELD_ACTIONS
from workbench.tui.actions.traffic import TRAFFIC_ACTIONS
from workbench.tui.actions.views import (
    BACKENDS_ACTIONS,
    CACHE_ACTIONS,
    LESSONS_ACTIONS,
    RULES_ACTIONS,
)

__all__ = [
    "ACTIONS",
    "NAVIGATION_KEYS",
    "SCOPE_TITLES",
    "Action",
    "action",
    "bindings",
    "in_scope",
    "keys_of",
    "scopes",
]

ACTIONS: tuple[Action, ...] = (
    *APP_ACTIONS,
    *LIST_ACTIONS,
    *TRAFFIC_ACTIONS,
    *BACKENDS_ACTIONS,
    *CACHE_ACTIONS,
    *RULES_ACTIONS,
    *LESSONS_ACTIONS,
    *DETAIL_ACTIONS,
    *HELD_ACTIONS,
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
