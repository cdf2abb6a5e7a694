"""The header filters (``~h``, ``~hq``, ``~hs``): one regex search over a joined header block.

A rule set with several header filters builds each record's blocks once per evaluation
(:func:`begin_evaluation` … :func:`end_evaluation`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from workbench.engine.rules.filter_atoms import ATOM, Node, user_regex
from workbench.engine.rules.regex import UnsafeRegexError, compile_regex

if TYPE_CHECKING:
    from workbench.engine.observe.records import Headers, RequestRecord

# Header filters search one "\n"-joined block of "Name: value" lines rather than each line: one
# regex call instead of one per header. The block starts with "\n" so that every line, the first
# included, follows a newline (see _anchor).


def _block(headers: Headers) -> str:
    return "\n" + "\n".join(map(": ".join, headers))


class _Memo:
    """Header blocks of the record a rule set is evaluating, built at most once per evaluation.

    Fifty rules may hold a dozen header filters; joining and lowercasing the headers once instead
    of a dozen times is most of their cost. Only :func:`begin_evaluation` turns this on, because
    outside an evaluation nothing guarantees the header lists are not edited in place between calls.
    """

    __slots__ = ("rec", "req", "req_lower", "resp", "resp_lower")

    def __init__(self) -> None:
        self.rec: RequestRecord | None = None
        self.req: str | None = None
        self.req_lower: str | None = None
        self.resp: str | None = None
        self.resp_lower: str | None = None


_memo = _Memo()


def begin_evaluation(rec: RequestRecord) -> None:
    """Let header filters reuse work for ``rec`` until :func:`end_evaluation` (single-threaded)."""
    m = _memo
    m.rec = rec
    m.req = m.req_lower = m.resp = m.resp_lower = None


def end_evaluation() -> None:
    """Forget what :func:`begin_evaluation` allowed to be reused."""
    m = _memo
    m.rec = None
    m.req = m.req_lower = m.resp = m.resp_lower = None


def _request_block(rec: RequestRecord, lower: bool) -> str:
    m = _memo
    if m.rec is not rec:
        b = _block(rec.request_headers)
        return b.lower() if lower else b
    if lower:
        b = m.req_lower
        if b is None:
            b = m.req_lower = _request_block(rec, False).lower()
        return b
    b = m.req
    if b is None:
        b = m.req = _block(rec.request_headers)
    return b


def _response_block(rec: RequestRecord, lower: bool) -> str | None:
    headers = rec.response_headers
    if headers is None:
        return None
    m = _memo
    if m.rec is not rec:
        b = _block(headers)
        return b.lower() if lower else b
    if lower:
        b = m.resp_lower
        if b is None:
            b = m.resp_lower = _block(headers).lower()
        return b
    b = m.resp
    if b is None:
        b = m.resp = _block(headers)
    return b


def _fold(pattern: str) -> str | None:
    """``pattern`` rewritten to run without re.IGNORECASE on lowercased text, or None if unsafe.

    Why: with IGNORECASE, a pattern that starts with a letter loses the regex engine's fast
    literal scan, and on a 400-character header block that is several microseconds per search.
    Lowercasing the subject once and the pattern's literal letters gives the same answers as long
    as no letter is spelled in a way lowercasing cannot see: inside a class (``[A-Z]``), as a
    code escape (``\\x41``, ``\\N{…}``, octal), or in group syntax (``(?P<Name>``).
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt in ("x", "u", "U", "N", "0") or (
                nxt.isdigit() and pattern[i + 2 : i + 4].isdigit()
            ):
                return None
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c.isupper():
                return None
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            # A "]" right after "[" or "[^" is a literal, not the end of the class.
            j = i + 1 + (pattern[i + 1 : i + 2] == "^")
            if pattern[j : j + 1] == "]":
                out.append(pattern[i : j + 1])
                i = j + 1
                continue
        elif c == "(" and pattern[i + 1 : i + 3] == "?P":
            return None
        out.append(c.lower())
        i += 1
    return "".join(out)


def _has_top_level_bar(pattern: str) -> bool:
    depth = 0
    in_class = False
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def _header_test(arg: str) -> tuple[Callable[[str], bool], bool]:
    """Compile a header regex into (test of a block, whether the block must be lowercased).

    The answer is always the per-line one: whether some single "Name: value" line matches.
    """
    line_rx = user_regex(arg, multiline=True)  # validates, and serves the line-by-line fallback
    folded = _fold(arg)
    ignorecase = folded is None
    source = folded if folded is not None else arg
    if folded is not None:
        line_rx = user_regex(folded, ignorecase=False, multiline=True)
    line_search = line_rx.search

    def per_line(block: str) -> bool:
        for line in block.split("\n")[1:]:
            if line_search(line) is not None:
                return True
        return False

    # Zero-width assertions that could look at a neighbouring line, or switch multiline mode off,
    # make block search unreliable: go line by line.
    if any(t in arg for t in ("\\A", "\\Z", "\\z", "(?-")):
        return per_line, folded is not None

    # "^name:" anchored at each line start becomes "\nname:", which the engine can find with its
    # fast literal scan instead of trying a match at every position of the block.
    skip = 0
    block_rx = None
    if source.startswith("^") and not _has_top_level_bar(source):
        try:
            block_rx = compile_regex(
                "\n(?:" + source[1:] + ")", ignorecase=ignorecase, multiline=True
            )
            skip = 1
        except UnsafeRegexError:
            pass
    if block_rx is None:
        block_rx = user_regex(source, ignorecase=ignorecase, multiline=True)
    matched = block_rx.matched
    if block_rx.python is not None:
        search = block_rx.python.search

        def test(block: str) -> bool:
            m = search(block)
            if m is None:
                return False
            # A match spanning lines (possible with \s or [^x]) is not a per-line match; ask again.
            if "\n" not in m.group()[skip:]:
                return True
            return per_line(block)

    else:

        def test(block: str) -> bool:
            m = matched(block)
            if m is None:
                return False
            if "\n" not in m[skip:]:
                return True
            return per_line(block)

    return test, folded is not None


def header_filter(arg: str) -> Node:
    test, lower = _header_test(arg)

    def header(rec: RequestRecord) -> bool:
        if test(_request_block(rec, lower)):
            return True
        resp = _response_block(rec, lower)
        return resp is not None and test(resp)

    return header, f'a header matches "{arg}"', ATOM


def request_header_filter(arg: str) -> Node:
    test, lower = _header_test(arg)

    def request_header(rec: RequestRecord) -> bool:
        return test(_request_block(rec, lower))

    return request_header, f'a request header matches "{arg}"', ATOM


def response_header_filter(arg: str) -> Node:
    test, lower = _header_test(arg)

    def response_header(rec: RequestRecord) -> bool:
        resp = _response_block(rec, lower)
        return resp is not None and test(resp)

    return response_header, f'a response header matches "{arg}"', ATOM
