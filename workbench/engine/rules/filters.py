"""Filter expressions (mitmproxy's convention), compiled once into a fast predicate.

The same language drives rules (``when:``) and the UI's display filter::

    ~d DOMAIN    host is DOMAIN or a subdomain of it (case-insensitive)
    ~u REGEX     URL matches (^/… on the path)   ~m METHOD   method is METHOD
    ~h REGEX     a request or response header line ("Name: value") matches
    ~hq REGEX    a request header line matches   ~hs REGEX   a response header line matches
    ~c CODE      status is CODE; also 4xx (a class) and 500-599 (an inclusive range)
    ~t REGEX     content type matches (the response's, else the request's)
    ~src CIDR    client address is in the block (a bare address is a single host)
    ~q           no response yet                 ~s          has a response
    ~e           the request failed with an error
    ~cache X     cache outcome is X (hit, miss, stale, revalidated, bypass, uncacheable)
    ~b NAME      backend is NAME; a glob such as web-* is allowed
    ~tag NAME    a tag rule labelled the request NAME
    ~trace REGEX a step of the trace ("stage verdict detail") matches, e.g. ~trace retry
    ~marked      marked by the user              ~upgrade    upgraded (e.g. to WebSocket)
    ~intercepted decrypted by HTTPS interception ~held       held by the intercept filter
    ~all         everything

Operators, tightest first: ``!`` (not), ``&`` (and; two filters side by side also mean and),
``|`` (or); parentheses group. A bare word without ``~`` (``example.com``) means ``~u WORD``.

Arguments are bare words or quoted strings. A bare regex runs to the next whitespace or to a ``)``
that closes a group, so it may contain ``|`` and balanced parentheses: ``~u /(v1|v2)/``. Other
bare arguments also end at ``&``, ``|`` and ``)``: ``~d a.test|~d b.test``. A regex with a space
in it needs quotes: ``~hq "^user-agent: curl"`` (unquoted, ``curl`` would be a second filter).
In quoted strings ``\\"``, ``\\'`` and ``\\\\`` stand for the character itself; any other
backslash is kept, so regex escapes such as ``"\\.json$"`` need no doubling. Regexes are
case-insensitive.

An empty (or all-blank) expression matches everything: that is what a cleared display filter means.

Compilation turns the expression into one generated Python expression over ``rec`` (the simple
filters inline, the others as calls to prebuilt closures, regexes compiled once), evaluated as a
lambda: no tree walking per call, and no allocation beyond what a regex search needs.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import itertools
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from workbench.engine.rules.regex import UnsafeRegexError, UserRegex, compile_regex

if TYPE_CHECKING:
    from workbench.engine.observe.records import Headers, RequestRecord

Predicate = Callable[["RequestRecord"], bool]
"""A compiled filter: takes a record, answers whether it matches."""

CACHE_OUTCOMES = ("hit", "miss", "stale", "revalidated", "bypass", "uncacheable")

__all__ = [
    "CACHE_OUTCOMES",
    "FILTERS",
    "Filter",
    "FilterSyntaxError",
    "Predicate",
    "begin_evaluation",
    "end_evaluation",
    "parse_filter",
]


class FilterSyntaxError(ValueError):
    """A filter expression that does not parse; ``column`` is 1-based."""

    def __init__(self, expression: str, column: int, message: str) -> None:
        super().__init__(f"col {column}: {message}")
        self.expression = expression
        self.column = column
        self.message = message

    def __str__(self) -> str:
        return f"col {self.column}: {self.message}"

    def caret(self) -> str:
        """The expression with a ``^`` under the offending column (for monospace displays)."""
        return f"{self.expression}\n{' ' * (self.column - 1)}^"


class Filter:
    """A compiled filter expression; call it with a :class:`RequestRecord`."""

    __slots__ = (
        "expression",
        "predicate",
        "source",
        "namespace",
        "uses_headers",
        "key",
        "_description",
    )

    def __init__(
        self,
        expression: str,
        source: str,
        namespace: dict[str, object],
        predicate: Predicate,
        description: str,
        uses_headers: bool = False,
        key: tuple[str, str] | None = None,
    ) -> None:
        self.expression = expression
        """The source text, as the user typed it."""
        self.source = source
        """The filter as one Python expression over ``rec`` (names resolve in ``namespace``).

        A rule set pastes the sources of all its rules into one generated function, so testing
        fifty rules costs one Python call instead of fifty.
        """
        self.namespace = namespace
        """The compiled regexes, constants and helpers ``source`` refers to (unique names)."""
        self.predicate = predicate
        """The compiled predicate; hot loops call it directly to skip one method call."""
        self.uses_headers = uses_headers
        """Whether a header filter is involved (worth a :func:`begin_evaluation` scope)."""
        self.key = key
        """``("d", domain)`` or ``("m", METHOD)`` when the whole expression is that one filter.

        A rule set indexes such rules in a dict instead of testing them one by one.
        """
        self._description = description

    def __call__(self, rec: RequestRecord) -> bool:
        return self.predicate(rec)

    @property
    def matches_everything(self) -> bool:
        """True for the empty expression and ``~all``: there is nothing to test."""
        return self.source == "True"

    def describe(self) -> str:
        """The expression in words, e.g. ``method is GET and status is 4xx``."""
        return self._description

    def __repr__(self) -> str:
        return f"Filter({self.expression!r})"


def parse_filter(expr: str) -> Filter:
    """Compile ``expr``; raises :class:`FilterSyntaxError` naming the column of the problem.

    An empty or all-blank expression compiles to a filter that matches everything.
    """
    parser = _Parser(expr)
    try:
        src, desc, _ = parser.parse()
        predicate = eval(f"lambda rec: {src}", dict(parser.ns))
    except (RecursionError, MemoryError):
        # The parser (and Python's own compiler) recurse once per nesting level.
        raise FilterSyntaxError(expr, 1, "expression nested too deeply") from None
    key = None
    if parser.atoms == 1 and parser.last is not None and parser.last[2] == src:
        key = parser.last[:2]
    return Filter(expr, src, parser.ns, predicate, desc, parser.uses_headers, key)


# -- the filters ------------------------------------------------------------------------------
# A filter builder returns (predicate, description, precedence); precedence decides where
# describe() needs parentheses: 1 = or, 2 = and, 3 = a single filter or a negation. The parser
# turns each into a source node (Python expression, description, precedence); see Filter.source.
_Node = tuple[Predicate, str, int]
_Src = tuple[str, str, int]
_names = itertools.count()
_ATOM, _AND, _OR = 3, 2, 1


def _always(rec: RequestRecord) -> bool:
    return True


class _ArgError(Exception):
    """Raised by a filter builder; the parser turns it into a FilterSyntaxError at the argument."""


def _regex(arg: str, *, ignorecase: bool = True, multiline: bool = False) -> UserRegex:
    """Compile a user regex with a linear-time guarantee (see :mod:`.regex`)."""
    try:
        return compile_regex(arg, ignorecase=ignorecase, multiline=multiline)
    except UnsafeRegexError as exc:
        # The regex's own position is relative to the argument; the caller reports the argument's
        # column, and the message keeps the engine's detail.
        raise _ArgError(f"bad regex {arg!r}: {exc}") from None


def _domain(arg: str) -> str:
    """The normalised ~d argument: lower case, without a leading "*." or "." or a trailing "."."""
    if "/" in arg:
        raise _ArgError(f"~d takes a host name such as example.com, not {arg!r} (use ~u for URLs)")
    dom = arg.lower().removeprefix("*.").removeprefix(".").rstrip(".")
    if not dom:
        raise _ArgError(f"~d needs a host name, got {arg!r}")
    return dom


def _f_domain(arg: str) -> _Node:
    dom = _domain(arg)
    suffix = "." + dom

    def domain(rec: RequestRecord) -> bool:
        host = rec.host.lower()
        return host == dom or host.endswith(suffix)

    return domain, f"host is {dom} (or a subdomain)", _ATOM


def _anchored_on_path(pattern: str) -> bool:
    """``^/…`` patterns are about the path (mitmproxy users write them that way too)."""
    return pattern.startswith("^/")


def _f_url(arg: str) -> _Node:
    search = _regex(arg).search

    if _anchored_on_path(arg):

        def url(rec: RequestRecord) -> bool:
            return search(rec.path) is not None

    else:

        def url(rec: RequestRecord) -> bool:
            return search(rec.url) is not None

    return url, f'URL matches "{arg}"', _ATOM


def _f_method(arg: str) -> _Node:
    want = arg.upper()

    # HTTP methods are case-sensitive tokens and the proxies only accept the standard upper-case
    # ones, so only the argument needs folding (`~m get` works).
    def method(rec: RequestRecord) -> bool:
        return rec.method == want

    return method, f"method is {want}", _ATOM


# -- header filters -----------------------------------------------------------------------------
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
    line_rx = _regex(arg, multiline=True)  # validates, and serves the line-by-line fallback
    folded = _fold(arg)
    ignorecase = folded is None
    source = folded if folded is not None else arg
    if folded is not None:
        line_rx = _regex(folded, ignorecase=False, multiline=True)
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
        block_rx = _regex(source, ignorecase=ignorecase, multiline=True)
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


def _f_header(arg: str) -> _Node:
    test, lower = _header_test(arg)

    def header(rec: RequestRecord) -> bool:
        if test(_request_block(rec, lower)):
            return True
        resp = _response_block(rec, lower)
        return resp is not None and test(resp)

    return header, f'a header matches "{arg}"', _ATOM


def _f_request_header(arg: str) -> _Node:
    test, lower = _header_test(arg)

    def request_header(rec: RequestRecord) -> bool:
        return test(_request_block(rec, lower))

    return request_header, f'a request header matches "{arg}"', _ATOM


def _f_response_header(arg: str) -> _Node:
    test, lower = _header_test(arg)

    def response_header(rec: RequestRecord) -> bool:
        resp = _response_block(rec, lower)
        return resp is not None and test(resp)

    return response_header, f'a response header matches "{arg}"', _ATOM


_CODE_RE = re.compile(r"(?:(?P<one>\d{3})|(?P<cls>[1-5])xx|(?P<lo>\d{3})-(?P<hi>\d{3}))", re.I)


def _f_code(arg: str) -> _Node:
    m = _CODE_RE.fullmatch(arg)
    if m is None:
        raise _ArgError(f"expected a status code like 404, 4xx or 500-599, got {arg!r}")
    if m["one"]:
        lo = hi = int(m["one"])
        text = f"status is {lo}"
    elif m["cls"]:
        lo = int(m["cls"]) * 100
        hi = lo + 99
        text = f"status is {m['cls']}xx"
    else:
        lo, hi = int(m["lo"]), int(m["hi"])
        if lo > hi:
            raise _ArgError(f"status range {arg!r} is backwards (the low end comes first)")
        text = f"status is {lo}-{hi}"
    if not (100 <= lo and hi <= 599):
        raise _ArgError(f"status codes run from 100 to 599, got {arg!r}")

    if lo == hi:

        def code(rec: RequestRecord) -> bool:
            return rec.status == lo

    else:

        def code(rec: RequestRecord) -> bool:
            s = rec.status
            return s is not None and lo <= s <= hi

    return code, text, _ATOM


def _content_type(rec: RequestRecord) -> str | None:
    """The response's content type when known, else the request's (e.g. a JSON POST body)."""
    ct = rec.content_type
    if ct is not None:
        return ct
    for headers in (rec.response_headers, rec.request_headers):
        if headers:
            for name, value in headers:
                if name.lower() == "content-type":
                    return value
    return None


def _f_type(arg: str) -> _Node:
    search = _regex(arg).search

    def content_type(rec: RequestRecord) -> bool:
        ct = _content_type(rec)
        return ct is not None and search(ct) is not None

    return content_type, f'content type matches "{arg}"', _ATOM


@lru_cache(maxsize=4096)
def _client_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse a client address once; clients repeat, and ip_address() costs about a microsecond."""
    try:
        addr = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d
    return addr


def _f_source(arg: str) -> _Node:
    try:
        net = ipaddress.ip_network(arg, strict=False)
    except ValueError:
        raise _ArgError(
            f"expected an IP address or CIDR block such as 10.0.0.0/8, got {arg!r}"
        ) from None

    def source(rec: RequestRecord) -> bool:
        addr = _client_address(rec.client)
        # Membership across IP versions is simply False, never an error.
        return addr is not None and addr in net

    return source, f"client is in {net}", _ATOM


def _f_cache(arg: str) -> _Node:
    want = arg.lower()
    if want not in CACHE_OUTCOMES:
        hint = difflib.get_close_matches(want, CACHE_OUTCOMES, n=1)
        extra = f" (did you mean {hint[0]}?)" if hint else ""
        raise _ArgError(f"~cache takes one of {', '.join(CACHE_OUTCOMES)}, got {arg!r}{extra}")

    def cache(rec: RequestRecord) -> bool:
        return rec.cache == want

    return cache, f"cache outcome is {want}", _ATOM


def _f_backend(arg: str) -> _Node:
    if any(c in arg for c in "*?["):
        match = re.compile(fnmatch.translate(arg), re.IGNORECASE).match

        def backend(rec: RequestRecord) -> bool:
            b = rec.backend
            return b is not None and match(b) is not None

        return backend, f"backend matches {arg}", _ATOM
    want = arg.lower()

    def backend_is(rec: RequestRecord) -> bool:
        b = rec.backend
        return b is not None and b.lower() == want

    return backend_is, f"backend is {arg}", _ATOM


def _f_tag(arg: str) -> _Node:
    def tag(rec: RequestRecord) -> bool:
        tags = rec.tags
        return tags is not None and arg in tags

    return tag, f"tagged {arg}", _ATOM


def _f_trace(arg: str) -> _Node:
    search = _regex(arg).search

    def trace(rec: RequestRecord) -> bool:
        for stage, verdict, detail in rec.trace:
            if search(f"{stage} {verdict} {detail}") is not None:
                return True
        return False

    return trace, f"a trace step matches {arg}", _ATOM


def _marked(rec: RequestRecord) -> bool:
    return rec.marked


def _upgraded(rec: RequestRecord) -> bool:
    # Records made before upgrades were recorded (or by other tools) have no such field.
    return getattr(rec, "upgrade", None) is not None


def _intercepted(rec: RequestRecord) -> bool:
    if getattr(rec, "intercepted", None):
        return True
    return any(stage == "tls" and verdict == "intercepted" for stage, verdict, _ in rec.trace)


def _held(rec: RequestRecord) -> bool:
    return any(stage == "hold" and verdict == "held" for stage, verdict, _ in rec.trace)


def _pending(rec: RequestRecord) -> bool:
    return rec.status is None


def _answered(rec: RequestRecord) -> bool:
    return rec.status is not None


def _failed(rec: RequestRecord) -> bool:
    return rec.error is not None


_WithArg = Callable[[str], _Node]

_FLAGS = {
    "q": "(rec.status is None)",
    "s": "(rec.status is not None)",
    "e": "(rec.error is not None)",
    "marked": "rec.marked",
    "all": "True",
}
"""Inline sources of the filters without an argument."""

FILTERS: dict[str, tuple[str, _WithArg | _Node]] = {
    "d": ("DOMAIN", _f_domain),
    "u": ("REGEX", _f_url),
    "m": ("METHOD", _f_method),
    "h": ("REGEX", _f_header),
    "hq": ("REGEX", _f_request_header),
    "hs": ("REGEX", _f_response_header),
    "c": ("CODE", _f_code),
    "t": ("REGEX", _f_type),
    "src": ("CIDR", _f_source),
    "q": ("", (_pending, "no response yet", _ATOM)),
    "s": ("", (_answered, "has a response", _ATOM)),
    "e": ("", (_failed, "failed with an error", _ATOM)),
    "cache": ("OUTCOME", _f_cache),
    "b": ("NAME", _f_backend),
    "tag": ("NAME", _f_tag),
    "trace": ("REGEX", _f_trace),
    "marked": ("", (_marked, "marked", _ATOM)),
    "upgrade": ("", (_upgraded, "upgraded", _ATOM)),
    "intercepted": ("", (_intercepted, "decrypted by HTTPS interception", _ATOM)),
    "held": ("", (_held, "held by the intercept filter", _ATOM)),
    "all": ("", (_always, "everything", _ATOM)),
}
"""Filter name (without ``~``) → (argument placeholder or "" for none, builder or fixed node)."""

# Words people reach for from other tools; the hint teaches the short name.
_ALIASES = {
    "domain": "d",
    "dom": "d",
    "host": "d",
    "url": "u",
    "path": "u",
    "method": "m",
    "header": "h",
    "code": "c",
    "status": "c",
    "type": "t",
    "ct": "t",
    "ip": "src",
    "client": "src",
    "error": "e",
    "backend": "b",
}


def _suggest(name: str, word: str) -> str:
    """A "did you mean" hint for an unknown filter name, or a list of the known ones.

    ``word`` is the whole non-blank run after the ``~``, which may go on past the name.
    """
    if name in _ALIASES:
        return f" (did you mean ~{_ALIASES[name]}?)"
    # "~dexample.com": a known filter glued to its argument.
    glued = [
        k
        for k in FILTERS
        if FILTERS[k][0] and word != name and word.startswith(k) and len(name) > len(k)
    ]
    if glued:
        k = max(glued, key=len)
        return f" (did you mean '~{k} {word[len(k) :]}'?)"
    close = difflib.get_close_matches(name, list(FILTERS), n=1, cutoff=0.5)
    if close:
        return f" (did you mean ~{close[0]}?)"
    return " (filters: " + " ".join("~" + k for k in FILTERS) + ")"


# -- combinators ------------------------------------------------------------------------------
def _not(node: _Src) -> _Src:
    src, desc, _ = node
    return f"(not {src})", f"not ({desc})", _ATOM


def _join(nodes: list[_Src], prec: int) -> _Src:
    """Combine with and (``prec == _AND``) or or (``_OR``)."""
    word = " and " if prec == _AND else " or "
    if prec == _AND:
        # `~all` adds nothing to a conjunction
        nodes = [n for n in nodes if n[0] != "True"] or [("True", "everything", _ATOM)]
    desc = word.join(d if p > prec else f"({d})" for _, d, p in nodes)
    if prec == _OR and any(src == "True" for src, _, _ in nodes):
        return "True", desc, prec
    if len(nodes) == 1:
        return nodes[0][0], desc, prec
    return "(" + word.join(src for src, _, _ in nodes) + ")", desc, prec


# -- the parser -------------------------------------------------------------------------------
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class _Parser:
    """Recursive descent over the text, compiling as it goes (no intermediate tree)."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.uses_headers = False
        self.atoms = 0
        """How many filters (``~x``) the expression holds."""
        self.last: tuple[str, str, str] | None = None
        """(name, normalised argument, source) of the last indexable filter (~d, ~m)."""
        self.ns: dict[str, object] = {}
        """What the generated source refers to."""

    def bind(self, value: object) -> str:
        """A fresh global name for ``value`` (unique across filters, so rule sets can merge)."""
        name = f"_f{next(_names)}"
        self.ns[name] = value
        return name

    def error(self, pos: int, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(self.s, pos + 1, message)

    def skip_ws(self) -> str:
        """Skip whitespace; return the next character ("" at the end)."""
        s, i, n = self.s, self.i, self.n
        while i < n and s[i].isspace():
            i += 1
        self.i = i
        return s[i] if i < n else ""

    def parse(self) -> _Src:
        if not self.skip_ws():
            return "True", "everything", _ATOM
        node = self.parse_or()
        c = self.skip_ws()
        if c == ")":
            raise self.error(self.i, "unbalanced ')'")
        if c:  # parse_or only stops at ")" or the end; kept as a guard
            raise self.error(self.i, f"unexpected {c!r}")
        return node

    def parse_or(self, after: str | None = None) -> _Src:
        nodes = [self.parse_and(after)]
        while self.skip_ws() == "|":
            self.i += 1
            nodes.append(self.parse_and("'|'"))
        return nodes[0] if len(nodes) == 1 else _join(nodes, _OR)

    def parse_and(self, after: str | None) -> _Src:
        nodes = [self.parse_unary(after)]
        while True:
            c = self.skip_ws()
            if c == "&":
                self.i += 1
                nodes.append(self.parse_unary("'&'"))
            elif c and c not in ")|":
                nodes.append(self.parse_unary(None))  # juxtaposition: `~m GET ~d x`
            else:
                break
        return nodes[0] if len(nodes) == 1 else _join(nodes, _AND)

    def parse_unary(self, after: str | None) -> _Src:
        c = self.skip_ws()
        start = self.i
        if c == "!":
            self.i += 1
            return _not(self.parse_unary("'!'"))
        if c == "(":
            self.i += 1
            if self.skip_ws() == ")":
                raise self.error(self.i, "expected an expression inside '( )'")
            node = self.parse_or("'('")
            if self.skip_ws() != ")":
                raise self.error(start, "unbalanced '(' (no matching ')')")
            self.i += 1
            return node
        if c == "~":
            return self.parse_filter()
        if c in ("", ")", "&", "|"):
            where = f" after {after}" if after else ""
            raise self.error(start, f"expected an expression{where}")
        # A bare word or quoted string on its own is a URL regex, as in mitmproxy.
        arg, arg_pos = self.read_arg("~u", regex=True)
        self.atoms += 1
        return self.atom("u", _f_url, arg, arg_pos)

    def parse_filter(self) -> _Src:
        s, start = self.s, self.i
        j = start + 1
        while j < self.n and s[j] in _NAME_CHARS:
            j += 1
        name = s[start + 1 : j]
        if not name:
            raise self.error(start, "expected a filter name after '~', such as ~d or ~u")
        spec = FILTERS.get(name)
        if spec is None:
            word = s[start + 1 :].split(None, 1)[0]
            raise self.error(start, f"unknown filter ~{name}{_suggest(name, word)}")
        self.i = j
        self.atoms += 1
        if name in ("h", "hq", "hs"):
            self.uses_headers = True
        placeholder, builder = spec
        if not placeholder:
            fn, desc, prec = builder  # type: ignore[misc]
            inline = _FLAGS.get(name)
            return (inline or f"{self.bind(fn)}(rec)"), desc, prec
        arg, arg_pos = self.read_arg(f"~{name}", regex=placeholder == "REGEX")
        return self.atom(name, builder, arg, arg_pos)  # type: ignore[arg-type]

    def atom(self, name: str, builder: _WithArg, arg: str, arg_pos: int) -> _Src:
        """Build one filter with an argument and return its source node."""
        try:
            fn, desc, prec = builder(arg)  # validates the argument too
        except _ArgError as exc:
            raise self.error(arg_pos, str(exc)) from None
        # The most common filters are written inline; the rest call their closure.
        if name == "u":
            # ``~u ^/api`` anchors on the path; anything else searches the full URL.
            field = "rec.path" if _anchored_on_path(arg) else "rec.url"
            src = f"({self.bind(_regex(arg).search)}({field}) is not None)"
        elif name == "m":
            src = f"(rec.method == {self.bind(arg.upper())})"
            self.last = ("m", arg.upper(), src)
        elif name == "d":
            dom = _domain(arg)
            d, suffix = self.bind(dom), self.bind("." + dom)
            # Records carry the host already lower-cased.
            src = f"((_h := rec.host) == {d} or _h.endswith({suffix}))"
            self.last = ("d", dom, src)
        else:
            src = f"{self.bind(fn)}(rec)"
        return src, desc, prec

    def read_arg(self, owner: str, regex: bool) -> tuple[str, int]:
        """Read one argument for ``owner``; returns (text, position of its first character)."""
        c = self.skip_ws()
        start = self.i
        if c in ("", ")", "&", "|", "~"):
            # An operator or another filter where the argument belongs: almost always a missing
            # argument; a literal one can still be quoted.
            raise self.error(start, f"expected an argument after {owner}")
        if c in "\"'":
            return self.read_quoted(c), start
        return self.read_bare(regex), start

    def read_quoted(self, quote: str) -> str:
        s, n = self.s, self.n
        start = self.i
        i = start + 1
        out: list[str] = []
        while i < n:
            ch = s[i]
            if ch == "\\" and i + 1 < n:
                nxt = s[i + 1]
                # Only the quotes and the backslash itself are escapes; everything else stays,
                # so regex escapes like \. or \d are written once.
                out.append(nxt if nxt in "\"'\\" else ch + nxt)
                i += 2
                continue
            if ch == quote:
                self.i = i + 1
                return "".join(out)
            out.append(ch)
            i += 1
        raise self.error(start, f"unterminated string (no closing {quote})")

    def read_bare(self, regex: bool) -> str:
        """A bare word: up to whitespace or a ``)`` closing a group.

        A regex may hold ``|``, ``&`` and balanced parentheses; other arguments (domains, codes,
        names) never do, so there those characters end the word: ``~d a.test|~d b.test``.
        """
        s, n = self.s, self.n
        start = i = self.i
        depth = 0
        in_class = False
        while i < n:
            ch = s[i]
            if ch.isspace():
                break
            if not regex:
                if ch in "&|)":
                    break
                i += 1
                continue
            if ch == "\\":
                i += 2  # an escaped character never opens or closes anything
                continue
            if in_class:
                in_class = ch != "]"
            elif ch == "[":
                in_class = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break  # closes the enclosing group, not part of the word
                depth -= 1
            i += 1
        i = min(i, n)
        self.i = i
        return s[start:i]
