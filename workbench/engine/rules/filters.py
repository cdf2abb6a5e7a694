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

The syntax and the table of filters: :mod:`.filter_parser`; each filter's builder:
:mod:`.filter_atoms`; the header filters and their per-evaluation memo: :mod:`.header_filters`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.engine.rules.filter_atoms import CACHE_OUTCOMES, Predicate
from workbench.engine.rules.filter_parser import FILTERS, FilterSyntaxError, Parser
from workbench.engine.rules.header_filters import begin_evaluation, end_evaluation

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord

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
    parser = Parser(expr)
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
