"""What an action is: :class:`Action`, the scopes it can belong to, and the navigation keys
no action may take."""

from __future__ import annotations

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
