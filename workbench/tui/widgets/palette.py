"""Rich styles made from the current theme's colours.

Cells of a ``DataTable`` and ``Text`` built in Python cannot use CSS variables, so views ask for
the theme's colours here by role (``ok``, ``bad``, ``warn``, …) instead of naming Rich colours.
The projector theme (or any other) then restyles every view; views redraw when the theme
changes (``app.theme_changed_signal``).
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.color import Color

ROLES: dict[str, str] = {
    "ok": "text-success",
    "bad": "text-error",
    "warn": "text-warning",
    "info": "text-primary",
    "accent": "text-accent",
    "muted": "foreground-muted",
    "text": "foreground",
}
"""Role → theme variable."""


def theme_styles(app: Any) -> dict[str, Style]:
    """One Rich style per role for ``app``'s current theme (translucent colours blended)."""
    variables = app.get_css_variables()
    background = _parse(variables.get("background"), Color(0, 0, 0))
    out: dict[str, Style] = {}
    for role, name in ROLES.items():
        colour = _parse(variables.get(name), None)
        if colour is None:
            out[role] = Style()
            continue
        if colour.a < 1:
            colour = background + colour
        out[role] = Style(color=colour.rich_color)
    out["bold"] = Style(bold=True)
    return out


def _parse(value: str | None, default: Color | None) -> Color | None:
    if not value:
        return default
    try:
        return Color.parse(value)
    except Exception:  # "auto 60%" and other CSS-only values
        return default
