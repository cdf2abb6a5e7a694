"""Edits to the list of rule configs: pure functions that return a new list or raise.

``engine.control`` compiles the result into a new :class:`~.ruleset.RuleSet` and swaps it in; on a
:class:`~.rule.RuleError` nothing changes.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence

from workbench.config.model import RuleConfig
from workbench.engine.rules.rule import RuleError, compile_rule

__all__ = ["add_rule", "delete_rule", "move_rule", "replace_rule", "set_enabled"]


def _find(configs: Sequence[RuleConfig], name: str) -> int:
    for i, c in enumerate(configs):
        if c.name == name:
            return i
    hint = difflib.get_close_matches(name, [c.name for c in configs], n=1)
    extra = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise RuleError(None, "name", f"no rule named {name!r}{extra}")


def add_rule(
    configs: Sequence[RuleConfig], new: RuleConfig, index: int | None = None
) -> list[RuleConfig]:
    """A copy of ``configs`` with ``new`` inserted at ``index`` (default: the end)."""
    if any(c.name == new.name for c in configs):
        raise RuleError(None, "name", f"a rule named {new.name!r} already exists", name=new.name)
    at = len(configs) if index is None else index
    if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= len(configs):
        raise RuleError(None, "index", f"expected a position from 0 to {len(configs)}, got {at!r}")
    compile_rule(new, at)
    out = list(configs)
    out.insert(at, new)
    return out


def replace_rule(configs: Sequence[RuleConfig], name: str, new: RuleConfig) -> list[RuleConfig]:
    """A copy of ``configs`` with the rule ``name`` replaced by ``new`` (which may rename it)."""
    i = _find(configs, name)
    if new.name != name and any(c.name == new.name for c in configs):
        raise RuleError(i, "name", f"a rule named {new.name!r} already exists", name=new.name)
    compile_rule(new, i)
    out = list(configs)
    out[i] = new
    return out


def set_enabled(configs: Sequence[RuleConfig], name: str, enabled: bool) -> list[RuleConfig]:
    """A copy of ``configs`` with the rule ``name`` switched on or off."""
    i = _find(configs, name)
    out = list(configs)
    out[i] = dataclasses.replace(out[i], enabled=bool(enabled))
    return out


def move_rule(
    configs: Sequence[RuleConfig], name: str, delta: int = 0, *, to: int | None = None
) -> list[RuleConfig]:
    """A copy of ``configs`` with the rule ``name`` moved by ``delta`` places (negative: earlier).

    A move past either end stops at that end (the UI's ``K`` on the first rule does nothing);
    ``to`` moves to an absolute position instead, which must exist.
    """
    i = _find(configs, name)
    if to is not None:
        if isinstance(to, bool) or not isinstance(to, int) or not 0 <= to < len(configs):
            raise RuleError(
                None, "index", f"expected a position from 0 to {len(configs) - 1}, got {to!r}"
            )
        target = to
    else:
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise RuleError(None, "move", f"expected an integer offset, got {delta!r}")
        target = min(max(i + delta, 0), len(configs) - 1)
    out = list(configs)
    out.insert(target, out.pop(i))
    return out


def delete_rule(configs: Sequence[RuleConfig], name: str) -> list[RuleConfig]:
    """A copy of ``configs`` without the rule ``name``."""
    i = _find(configs, name)
    out = list(configs)
    del out[i]
    return out
