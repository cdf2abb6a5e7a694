"""The workbench's colours, by meaning, from the current theme: the one place views get colours.

A view never names a colour. It names a *role* (``ok``, ``bad``, ``warn``, ``info``, ``accent``,
``muted``, ``text``) and gets the theme's colour for it, in one of two forms:

- :func:`role` gives a Textual style string (``"bold $text-error"``). Text built in Python uses
  it as a span style and is shown through :func:`themed`, which keeps the variables unresolved
  until the text is drawn, so a theme change (the projector theme) restyles text that is
  already on screen without the view doing anything.
- :func:`theme_styles` gives Rich styles, for renderers that need resolved colours (the Traffic
  list's strips, ``DataTable`` cells). Those views redraw on ``app.theme_changed_signal``
  (:class:`ThemeAware` does the subscribing and the caching).

``.tcss`` files use the same variables directly (``color: $text-success``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.content import Content, Span
from textual.style import Style as VisualStyle
from textual.widgets import Tree

ROLES: dict[str, str] = {
    "ok": "text-success",
    "bad": "text-error",
    "warn": "text-warning",
    "info": "text-primary",
    "accent": "text-accent",
    "muted": "foreground-muted",
    "text": "foreground",
}
"""Role → theme variable. ``muted`` is the foreground blended towards the background (readable
in every theme, unlike Rich's ``dim`` on an already dim colour)."""

STATE_ROLES: dict[str, str] = {
    "up": "ok",
    "down": "bad",
    "ejected": "bad",
    "draining": "warn",
    "disabled": "muted",
}
"""The role that colours each backend state (Backends view, Overview diagram)."""

_CACHE: WeakKeyDictionary[Any, tuple[str, dict[str, Style]]] = WeakKeyDictionary()
_PARSED: WeakKeyDictionary[Any, tuple[str, dict[str, Style]]] = WeakKeyDictionary()


def role(name: str, *attributes: str) -> str:
    """The Textual style for a role, e.g. ``role("bad", "bold")`` → ``"bold $text-error"``."""
    return " ".join((*attributes, f"${ROLES[name]}"))


def theme_styles(app: Any) -> dict[str, Style]:
    """One Rich style per role for ``app``'s current theme (translucent colours blended).

    Also ``bold``. Cached per app and theme, so calling it on every redraw costs a lookup.
    """
    cached = _CACHE.get(app)
    if cached is not None and cached[0] == app.theme:
        return cached[1]
    variables = app.get_css_variables()
    background = _parse(variables.get("background")) or Color(0, 0, 0)
    out: dict[str, Style] = {}
    for name, variable in ROLES.items():
        colour = _parse(variables.get(variable))
        if colour is None:
            out[name] = Style()
            continue
        if colour.a < 1:
            colour = background + colour
        out[name] = Style(color=colour.rich_color)
    out["bold"] = Style(bold=True)
    _CACHE[app] = (app.theme, out)
    return out


def rich_style(app: Any, style: str) -> Style:
    """A :func:`role` style string (``"bold $text-error"``) as a Rich style of the current theme.

    For renderers that take only Rich styles (``Tree`` labels, ``DataTable`` cells).
    """
    cached = _PARSED.get(app)
    if cached is None or cached[0] != app.theme:
        cached = (app.theme, {})
        _PARSED[app] = cached
    known = cached[1]
    if style in known:
        return known[style]
    variables = app.get_css_variables()
    background = _parse(variables.get("background")) or Color(0, 0, 0)
    out = Style()
    for token in style.split():
        if token.startswith("$"):
            colour = _parse(variables.get(token[1:]))
            if colour is not None:
                out += Style(color=(background + colour if colour.a < 1 else colour).rich_color)
        else:
            out += Style.parse(token)
    known[style] = out
    return out


def resolve(text: Text, app: Any) -> Text:
    """A copy of ``text`` with :func:`role` style strings turned into the theme's Rich styles."""
    out = text.copy()
    out.spans = [
        s._replace(style=rich_style(app, s.style)) if isinstance(s.style, str) else s
        for s in out.spans
    ]
    if isinstance(out.style, str) and out.style:
        out.style = rich_style(app, out.style)
    return out


def themed(text: Text | Content | str) -> Content:
    """``text`` as Textual content whose role styles resolve against the theme when drawn.

    Span styles may be Textual style strings (from :func:`role`) or Rich ``Style`` objects.
    """
    if isinstance(text, Content):
        return text
    if isinstance(text, str):
        return Content(text)
    spans: list[Span] = []
    if text.style:
        spans.append(Span(0, len(text.plain), _visual(text.style)))
    spans.extend(Span(s.start, s.end, _visual(s.style)) for s in text.spans if s.style)
    return Content(text.plain, spans)


def _visual(style: str | Style) -> str | VisualStyle:
    return style if isinstance(style, str) else VisualStyle.from_rich_style(style)


class ThemeAware:
    """Mixin for widgets that draw with :func:`theme_styles`: cached styles, redraw on change.

    Call :meth:`watch_theme` once mounted; :meth:`theme_changed` (override it) runs after each
    theme change, when :attr:`styles_` already has the new colours.
    """

    def watch_theme(self, callback: Callable[[], None] | None = None) -> None:
        """Subscribe to theme changes (``callback`` defaults to :meth:`theme_changed`)."""
        action = callback or self.theme_changed
        app: Any = self.app  # type: ignore[attr-defined]
        app.theme_changed_signal.subscribe(self, lambda _theme: action())

    @property
    def styles_(self) -> dict[str, Style]:
        """The current theme's Rich style per role."""
        return theme_styles(self.app)  # type: ignore[attr-defined]

    def theme_changed(self) -> None:
        """Redraw with the new theme's colours (default: a plain refresh)."""
        self.refresh()  # type: ignore[attr-defined]


class ThemedTree(Tree):
    """A ``Tree`` whose labels may use :func:`role` styles; redrawn when the theme changes."""

    def render_label(self, node: Any, base_style: Style, style: Style) -> Text:
        label = node._label
        node._label = resolve(label, self.app)
        try:
            return super().render_label(node, base_style, style)
        finally:
            node._label = label

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._invalidate()


def _parse(value: str | None) -> Color | None:
    if not value:
        return None
    try:
        return Color.parse(value)
    except Exception:  # "auto 60%" and other CSS-only values
        return None
