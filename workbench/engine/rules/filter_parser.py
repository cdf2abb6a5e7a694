"""The filter language's syntax: the table of filters, argument reading, recursive descent.

The parser compiles as it reads: each filter becomes a source node (see :mod:`.filter_atoms`),
and ``!``, ``&`` and ``|`` join nodes into one Python expression over ``rec``.
"""

from __future__ import annotations

import difflib
import itertools

from workbench.engine.rules.filter_atoms import (
    AND,
    ATOM,
    OR,
    ArgError,
    Node,
    Src,
    WithArg,
    always,
    anchored_on_path,
    backend_filter,
    cache_filter,
    code_filter,
    domain_filter,
    domain_name,
    has_failed,
    is_answered,
    is_held,
    is_marked,
    is_pending,
    is_upgraded,
    join_nodes,
    method_filter,
    negate,
    source_filter,
    tag_filter,
    trace_filter,
    type_filter,
    url_filter,
    user_regex,
    was_intercepted,
)
from workbench.engine.rules.header_filters import (
    header_filter,
    request_header_filter,
    response_header_filter,
)
from workbench.engine.rules.url_normal import normalize

_names = itertools.count()


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


_FLAGS = {
    "q": "(rec.status is None)",
    "s": "(rec.status is not None)",
    "e": "(rec.error is not None)",
    "marked": "rec.marked",
    "all": "True",
}
"""Inline sources of the filters without an argument."""

FILTERS: dict[str, tuple[str, WithArg | Node]] = {
    "d": ("DOMAIN", domain_filter),
    "u": ("REGEX", url_filter),
    "m": ("METHOD", method_filter),
    "h": ("REGEX", header_filter),
    "hq": ("REGEX", request_header_filter),
    "hs": ("REGEX", response_header_filter),
    "c": ("CODE", code_filter),
    "t": ("REGEX", type_filter),
    "src": ("CIDR", source_filter),
    "q": ("", (is_pending, "no response yet", ATOM)),
    "s": ("", (is_answered, "has a response", ATOM)),
    "e": ("", (has_failed, "failed with an error", ATOM)),
    "cache": ("OUTCOME", cache_filter),
    "b": ("NAME", backend_filter),
    "tag": ("NAME", tag_filter),
    "trace": ("REGEX", trace_filter),
    "marked": ("", (is_marked, "marked", ATOM)),
    "upgrade": ("", (is_upgraded, "upgraded", ATOM)),
    "intercepted": ("", (was_intercepted, "decrypted by HTTPS interception", ATOM)),
    "held": ("", (is_held, "held by the intercept filter", ATOM)),
    "all": ("", (always, "everything", ATOM)),
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


# -- the parser -------------------------------------------------------------------------------
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Parser:
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

    def parse(self) -> Src:
        if not self.skip_ws():
            return "True", "everything", ATOM
        node = self.parse_or()
        c = self.skip_ws()
        if c == ")":
            raise self.error(self.i, "unbalanced ')'")
        if c:  # parse_or only stops at ")" or the end; kept as a guard
            raise self.error(self.i, f"unexpected {c!r}")
        return node

    def parse_or(self, after: str | None = None) -> Src:
        nodes = [self.parse_and(after)]
        while self.skip_ws() == "|":
            self.i += 1
            nodes.append(self.parse_and("'|'"))
        return nodes[0] if len(nodes) == 1 else join_nodes(nodes, OR)

    def parse_and(self, after: str | None) -> Src:
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
        return nodes[0] if len(nodes) == 1 else join_nodes(nodes, AND)

    def parse_unary(self, after: str | None) -> Src:
        c = self.skip_ws()
        start = self.i
        if c == "!":
            self.i += 1
            return negate(self.parse_unary("'!'"))
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
        return self.atom("u", url_filter, arg, arg_pos)

    def parse_filter(self) -> Src:
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

    def atom(self, name: str, builder: WithArg, arg: str, arg_pos: int) -> Src:
        """Build one filter with an argument and return its source node."""
        try:
            fn, desc, prec = builder(arg)  # validates the argument too
        except ArgError as exc:
            raise self.error(arg_pos, str(exc)) from None
        # The most common filters are written inline; the rest call their closure.
        if name == "u":
            # ``~u ^/api`` anchors on the path; anything else searches the full URL.
            # Matched against the normalised URL (see url_normal): an encoded or dotted
            # spelling of the same resource does not slip past the rule.
            field = "rec.path" if anchored_on_path(arg) else "rec.url"
            norm = self.bind(normalize)
            src = f"({self.bind(user_regex(arg).search)}({norm}({field})) is not None)"
        elif name == "m":
            src = f"(rec.method == {self.bind(arg.upper())})"
            self.last = ("m", arg.upper(), src)
        elif name == "d":
            dom = domain_name(arg)
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
