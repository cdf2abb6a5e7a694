"""User regexes that always run in linear time.

Rules and display filters take regexes from users (``~u``, ``~h``, ``~t``…) and run them on text
the traffic controls (URLs, header lines). Python's ``re`` backtracks: ``(a+)+$`` doubles its time
with every character of a URL, and even ``a*b`` is quadratic. So every user regex is checked with
RE2 (google-re2), a linear-time engine, and runs on it — unless a static look at the pattern proves
that ``re`` cannot backtrack more than a constant per position, in which case ``re`` runs it
(about three times cheaper per call on the short strings rules look at).

Patterns RE2 cannot take (backreferences, lookaround, possessive and atomic groups) are refused
with :class:`UnsafeRegexError`; the caller names the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import re2

__all__ = ["UnsafeRegexError", "UserRegex", "compile_regex"]

try:  # the wrapper's own search() costs 3–8 µs per call; its core costs about 1 µs
    from re2 import _re2

    _UNANCHORED = _re2.RE2.Anchor.UNANCHORED
except (ImportError, AttributeError):  # pragma: no cover - a future wrapper layout
    _re2 = None

_MAX_PATHS = 256
"""Most alternatives ``re`` may try at one position before RE2 is preferred."""
_BOUNDED = 64
"""A repeat with a larger upper bound counts as unbounded."""


class UnsafeRegexError(ValueError):
    """A regex that does not compile, or needs a feature the linear-time engine lacks."""


class UserRegex:
    """A compiled user regex: ``search(text)`` is None when nothing matches, else truthy.

    ``matched(text)`` returns the matched text (or None); ``engine`` says which engine runs it
    (``"re"`` or ``"re2"``), for tests and the curious; ``python`` is the ``re`` pattern when
    ``re`` runs it (hot loops may call it directly).
    """

    __slots__ = ("pattern", "engine", "search", "matched", "python")

    def __init__(
        self,
        pattern: str,
        engine: str,
        search: Callable[[str], object | None],
        matched: Callable[[str], str | None],
        python: re.Pattern[str] | None = None,
    ) -> None:
        self.pattern = pattern
        self.engine = engine
        self.search = search
        self.matched = matched
        self.python = python

    def __repr__(self) -> str:
        return f"UserRegex({self.pattern!r}, engine={self.engine!r})"


def compile_regex(pattern: str, *, ignorecase: bool = True, multiline: bool = False) -> UserRegex:
    """Compile a user regex for linear-time searching; raises :class:`UnsafeRegexError`."""
    flags = (re.IGNORECASE if ignorecase else 0) | (re.MULTILINE if multiline else 0)
    rx2 = _compile_re2(pattern, ignorecase, multiline)
    try:
        py = re.compile(pattern, flags)
    except (re.error, RecursionError, OverflowError):
        py = None  # RE2-only syntax such as \z or \pL: RE2 runs it
    if py is not None and _backtracking_is_linear(pattern, flags):
        search = py.search

        def matched_re(text: str) -> str | None:
            m = search(text)
            return None if m is None else m.group()

        return UserRegex(pattern, "re", search, matched_re, py)
    return _re2_regex(pattern, rx2)


def _translate(pattern: str) -> str:
    """Python's spelling to RE2's: ``\\Z`` (end of text) is ``\\z`` there."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            out.append("\\z" if nxt == "Z" else c + nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _compile_re2(pattern: str, ignorecase: bool, multiline: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = not ignorecase
    options.never_capture = True
    options.log_errors = False
    source = ("(?m)" if multiline else "") + _translate(pattern)
    try:
        if _re2 is not None:
            rx = _re2.RE2(source.encode(), options)
            if not rx.ok():
                raise re2.error(rx.error())
            return rx
        return re2.compile(source, options)
    except re2.error as exc:
        raise UnsafeRegexError(_explain(pattern, str(exc))) from None


_UNSUPPORTED = (
    ("(?=", "lookahead (?=…)"),
    ("(?!", "negative lookahead (?!…)"),
    ("(?<=", "lookbehind (?<=…)"),
    ("(?<!", "negative lookbehind (?<!…)"),
    ("(?>", "atomic groups (?>…)"),
)


def _explain(pattern: str, re2_message: str | bytes) -> str:
    if isinstance(re2_message, bytes):
        re2_message = re2_message.decode("utf-8", "replace")
    try:
        re.compile(pattern)
    except re.error as exc:
        return exc.msg  # broken for every engine: Python's message is the clearer one
    except (RecursionError, OverflowError):
        return "pattern too complex"
    if "too large" in re2_message or "too big" in re2_message:
        return "pattern too large for the linear-time regex engine"
    what = next((name for token, name in _UNSUPPORTED if token in pattern), None)
    if what is None and re.search(r"(?<!\\)(?:\\\\)*\\[1-9]|\(\?P=", pattern):
        what = "backreferences"
    if what is None and re.search(r"[*+?}]\+", pattern):
        what = "possessive repeats"
    what = what or f"this syntax ({re2_message})"
    return (
        f"{what} not supported: filters use a linear-time regex engine "
        "(no backreferences, lookaround, atomic groups or possessive repeats)"
    )


def _re2_regex(pattern: str, rx: Any) -> UserRegex:
    if _re2 is None:  # pragma: no cover - a future wrapper layout
        wrapped = rx.search

        def matched_w(text: str) -> str | None:
            m = wrapped(text)
            return None if m is None else m.group()

        return UserRegex(pattern, "re2", wrapped, matched_w)

    match = rx.Match
    anchor = _UNANCHORED

    def search(text: str) -> tuple[int, int] | None:
        b = text.encode("utf-8", "surrogatepass")
        span = match(anchor, b, 0, len(b))[0]
        return None if span[0] < 0 else span

    def matched(text: str) -> str | None:
        b = text.encode("utf-8", "surrogatepass")
        start, end = match(anchor, b, 0, len(b))[0]
        return None if start < 0 else b[start:end].decode("utf-8", "surrogatepass")

    return UserRegex(pattern, "re2", search, matched)


# -- when Python's backtracking engine is safe -------------------------------------------------
# Sufficient conditions, checked on re's own parse tree:
# * at one start position re tries a bounded number of paths: optional parts, bounded repeats and
#   alternatives multiply to at most _MAX_PATHS, and at most one repeat is unbounded;
# * that unbounded repeat matches one character per step, sits at the top level, and its runs
#   from different start positions cannot overlap (so all runs together cost O(n)): the pattern
#   is anchored at the start of the text, or it begins with fixed single characters one of which
#   the repeat cannot match (``\ncookie: .*x``: ``.`` stops at a newline; ``^auth:\s*basic``:
#   a run of spaces can hold no second ``auth:``). A second start inside one run would put
#   that character inside the run, so runs only overlap for starts less than a prefix apart.
# Anything else (nested quantifiers, ``.*a.*b``, ``x*y`` unanchored…) runs on RE2.

_SINGLE = {"LITERAL", "NOT_LITERAL", "ANY", "IN"}
_REPEATS = {"MAX_REPEAT", "MIN_REPEAT"}


def _backtracking_is_linear(pattern: str, flags: int) -> bool:
    try:
        from re import _compiler, _parser  # type: ignore[attr-defined]

        tree = _parser.parse(pattern, flags)
        flags |= tree.state.flags
        items = _flatten(list(tree))
        unbounded = [i for i, (op, av) in enumerate(items) if _is_unbounded(op, av)]
        rest = [item for i, item in enumerate(items) if i not in unbounded]
        if _paths(rest) > _MAX_PATHS:
            return False
        if not unbounded:
            return True
        if len(unbounded) > 1:
            return False
        pos = unbounded[0]
        op, (_lo, _hi, body) = items[pos]
        body = list(body)
        if len(body) != 1 or str(body[0][0]) not in _SINGLE:
            return False
        if _anchored_at_start(items, flags):
            return True
        prefix = items[:pos]
        if not prefix or any(str(o) not in _SINGLE for o, _ in prefix):
            return False
        step = _compiler.compile(_parser.SubPattern(tree.state, body), flags)
        for item_op, value in prefix:
            if str(item_op) == "LITERAL":
                ch = chr(value)
                if not any(step.fullmatch(v) for v in {ch, ch.lower(), ch.upper()}):
                    return True
        return False
    except Exception:  # any surprise in re's private parse tree: take the safe engine
        return False


def _flatten(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Top-level items with plain groups ``( … )`` opened up (they do not change matching)."""
    out: list[tuple[Any, Any]] = []
    for op, av in items:
        if str(op) == "SUBPATTERN" and not av[1] and not av[2]:
            out.extend(_flatten(list(av[3])))
        else:
            out.append((op, av))
    return out


def _is_unbounded(op: Any, av: Any) -> bool:
    return str(op) in _REPEATS and av[1] > _BOUNDED


def _anchored_at_start(items: list[tuple[Any, Any]], flags: int) -> bool:
    if not items or str(items[0][0]) != "AT":
        return False
    where = str(items[0][1])
    return where == "AT_BEGINNING_STRING" or (where == "AT_BEGINNING" and not flags & re.MULTILINE)


def _paths(items: list[tuple[Any, Any]]) -> int:
    """An upper bound on the paths re can try through ``items`` at one start position.

    Unbounded repeats, lookaround, backreferences and the like count as too many.
    """
    total = 1
    for op, av in items:
        name = str(op)
        if name in _SINGLE or name in ("AT", "CATEGORY"):
            continue
        if name == "SUBPATTERN":
            n = _paths(list(av[3]))
        elif name == "BRANCH":
            n = sum(_paths(list(b)) for b in av[1])
        elif name in _REPEATS:
            lo, hi, body = av
            if hi > _BOUNDED:
                return _MAX_PATHS + 1
            inner = _paths(list(body))
            n = (hi - lo + 1) * inner**hi if inner > 1 else hi - lo + 1
        else:
            return _MAX_PATHS + 1
        total *= n
        if total > _MAX_PATHS:
            return total
    return total
