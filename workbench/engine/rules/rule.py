"""One rule: its compiled form and the validation of its config (name, action, fields, filter).

:func:`compile_rule` checks one :class:`RuleConfig` and compiles its ``when`` filter; every
problem is a :class:`RuleError` naming the field (and, for a filter syntax error, the column).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from workbench.config.model import RULE_ACTIONS, RULE_PHASES, RuleConfig
from workbench.engine.rules.filters import Filter, FilterSyntaxError, parse_filter

__all__ = ["FINAL_ACTIONS", "MAX_DELAY", "Rule", "RuleError", "compile_rule"]

FINAL_ACTIONS = frozenset({"block", "allow", "redirect"})
"""Actions that end evaluation of the phase when their rule matches."""

MAX_DELAY = 600.0
"""Longest delay a rule may add, in seconds; longer ones would only trip every timeout."""

# RFC 9110 token characters: what a header name may contain.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class RuleError(ValueError):
    """A rule that cannot be compiled, or a control edit that cannot be applied.

    ``index`` is the rule's position (``None`` when the edit names no position), ``field`` the
    dotted name of the offending field (``when``, ``status``, …), ``column`` the 1-based column in
    the ``when`` expression for filter syntax errors.
    """

    def __init__(
        self,
        index: int | None,
        field: str,
        message: str,
        *,
        name: str | None = None,
        column: int | None = None,
    ) -> None:
        self.index = index
        self.field = field
        self.message = message
        self.name = name
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"rules[{self.index}]")
        if self.name:
            where.append(repr(self.name))
        prefix = f"rule {' '.join(where)}: " if where else ""
        col = f"col {self.column}: " if self.column is not None else ""
        return f"{prefix}{self.field}: {col}{self.message}"


@dataclass(slots=True, eq=False)
class Rule:
    """One compiled rule; ``hits`` counts the requests it matched (all-time, carried on edits)."""

    config: RuleConfig
    filter: Filter
    hits: int = 0


def compile_rule(
    cfg: RuleConfig, index: int | None = None, *, filter: Filter | None = None
) -> Rule:
    """Validate one rule config and compile its filter; raises :class:`RuleError`.

    ``filter`` skips re-parsing when the caller already holds the compiled ``when``.
    """

    def fail(fld: str, message: str, column: int | None = None) -> RuleError:
        return RuleError(index, fld, message, name=cfg.name or None, column=column)

    if not isinstance(cfg.name, str) or not cfg.name.strip():
        raise fail("name", "a rule needs a name")
    if cfg.action not in RULE_ACTIONS:
        hint = difflib.get_close_matches(str(cfg.action), RULE_ACTIONS, n=1)
        extra = f" (did you mean {hint[0]}?)" if hint else ""
        raise fail(
            "action", f"expected one of {', '.join(RULE_ACTIONS)}, got {cfg.action!r}{extra}"
        )
    if cfg.phase not in RULE_PHASES:
        raise fail("phase", f"expected one of {', '.join(RULE_PHASES)}, got {cfg.phase!r}")
    if filter is None:
        if not isinstance(cfg.when, str):
            raise fail("when", f"expected a filter expression, got {cfg.when!r}")
        # A blank expression matches everything, as in the display filter (and the config
        # loader accepts it); the trace then shows "matched ()", which makes the cause visible.
        try:
            filter = parse_filter(cfg.when)
        except FilterSyntaxError as exc:
            raise fail("when", exc.message, exc.column) from None
    _check_action(cfg, fail)
    return Rule(cfg, filter)


def _field_value_ok(text: str) -> bool:
    """Whether ``text`` can go out as an HTTP field value (RFC 9110 §5.5: VCHAR, SP, HTAB, and
    the obs-text bytes 0x80–0xFF, which the proxies send as Latin-1)."""
    return all(c == "\t" or " " <= c <= "~" or "\xa0" <= c <= "\xff" for c in text)


def _check_action(cfg: RuleConfig, fail: Callable[..., RuleError]) -> None:
    action = cfg.action
    status = cfg.status
    if status is not None and action in ("block", "redirect"):
        lo, hi = (300, 399) if action == "redirect" else (200, 599)
        if isinstance(status, bool) or not isinstance(status, int) or not lo <= status <= hi:
            raise fail("status", f"{action}: expected a status from {lo} to {hi}, got {status!r}")
    if action == "redirect" and not (isinstance(cfg.location, str) and cfg.location.strip()):
        raise fail("location", "redirect needs a location (the URL to send the client to)")
    if action == "redirect" and any(c in cfg.location for c in "\r\n"):  # type: ignore[operator]
        raise fail("location", "a location cannot contain line breaks")
    if action == "redirect" and not (
        cfg.location.isascii() and _field_value_ok(cfg.location)  # type: ignore[union-attr]
    ):
        raise fail(
            "location",
            "a location must be plain ASCII (write other characters percent-encoded, "
            "e.g. /caf%C3%A9)",
        )
    if action in ("set_header", "remove_header"):
        if not isinstance(cfg.header, str) or not _TOKEN.fullmatch(cfg.header):
            raise fail(
                "header", f"{action} needs a header name (letters, digits, -), got {cfg.header!r}"
            )
    if action in ("set_header", "tag"):
        if not isinstance(cfg.value, str) or (action == "tag" and not cfg.value.strip()):
            what = "the header value" if action == "set_header" else "the label"
            raise fail("value", f"{action} needs a value: {what}")
        if any(c in cfg.value for c in "\r\n\0"):
            # A line break in a header value would let a rule inject whole headers.
            raise fail("value", "a value cannot contain line breaks or NUL")
        if action == "set_header" and not _field_value_ok(cfg.value):
            # Header bytes go out as Latin-1; anything else would fail every matching request.
            raise fail(
                "value",
                "a header value may hold only printable ASCII and Latin-1 characters "
                "(no control characters)",
            )
    if action == "delay":
        d = cfg.delay
        if (
            isinstance(d, bool)
            or not isinstance(d, int | float)
            or not math.isfinite(d)
            or not 0 <= d <= MAX_DELAY
        ):
            raise fail("delay", f"delay needs a duration from 0 to {MAX_DELAY:g}s, got {d!r}")
