"""The filters of the language, one builder each: argument checks, then a predicate over a record.

A builder (``~d`` → :func:`domain_filter`) turns its argument into a node: (predicate,
description, precedence). :mod:`.filter_parser` combines nodes into one Python expression; the
header filters (``~h``, ``~hq``, ``~hs``) live in :mod:`.header_filters`.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from workbench.engine.rules.regex import UnsafeRegexError, UserRegex, compile_regex
from workbench.engine.rules.url_normal import normalize

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord

Predicate = Callable[["RequestRecord"], bool]
"""A compiled filter: takes a record, answers whether it matches."""

CACHE_OUTCOMES = ("hit", "miss", "stale", "revalidated", "bypass", "uncacheable")

# A filter builder returns (predicate, description, precedence); precedence decides where
# describe() needs parentheses: 1 = or, 2 = and, 3 = a single filter or a negation. The parser
# turns each into a source node (Python expression, description, precedence); see Filter.source.
Node = tuple[Predicate, str, int]
Src = tuple[str, str, int]
ATOM, AND, OR = 3, 2, 1


def always(rec: RequestRecord) -> bool:
    return True


class ArgError(Exception):
    """Raised by a filter builder; the parser turns it into a FilterSyntaxError at the argument."""


def user_regex(arg: str, *, ignorecase: bool = True, multiline: bool = False) -> UserRegex:
    """Compile a user regex with a linear-time guarantee (see :mod:`.regex`)."""
    try:
        return compile_regex(arg, ignorecase=ignorecase, multiline=multiline)
    except UnsafeRegexError as exc:
        # The regex's own position is relative to the argument; the caller reports the argument's
        # column, and the message keeps the engine's detail.
        raise ArgError(f"bad regex {arg!r}: {exc}") from None


def domain_name(arg: str) -> str:
    """The normalised ~d argument: lower case, without a leading "*." or "." or a trailing "."."""
    if "/" in arg:
        raise ArgError(f"~d takes a host name such as example.com, not {arg!r} (use ~u for URLs)")
    dom = arg.lower().removeprefix("*.").removeprefix(".").rstrip(".")
    if not dom:
        raise ArgError(f"~d needs a host name, got {arg!r}")
    return dom


def domain_filter(arg: str) -> Node:
    dom = domain_name(arg)
    suffix = "." + dom

    def domain(rec: RequestRecord) -> bool:
        host = rec.host.lower()
        return host == dom or host.endswith(suffix)

    return domain, f"host is {dom} (or a subdomain)", ATOM


def anchored_on_path(pattern: str) -> bool:
    """``^/…`` patterns are about the path (mitmproxy users write them that way too)."""
    return pattern.startswith("^/")


def url_filter(arg: str) -> Node:
    search = user_regex(arg).search

    # Matched against the normalised URL (see url_normal), so that an encoded or dotted
    # spelling of the same resource does not slip past the rule.
    if anchored_on_path(arg):

        def url(rec: RequestRecord) -> bool:
            return search(normalize(rec.path)) is not None

    else:

        def url(rec: RequestRecord) -> bool:
            return search(normalize(rec.url)) is not None

    return url, f'URL matches "{arg}"', ATOM


def method_filter(arg: str) -> Node:
    want = arg.upper()

    # HTTP methods are case-sensitive tokens and the proxies only accept the standard upper-case
    # ones, so only the argument needs folding (`~m get` works).
    def method(rec: RequestRecord) -> bool:
        return rec.method == want

    return method, f"method is {want}", ATOM


_CODE_RE = re.compile(r"(?:(?P<one>\d{3})|(?P<cls>[1-5])xx|(?P<lo>\d{3})-(?P<hi>\d{3}))", re.I)


def code_filter(arg: str) -> Node:
    m = _CODE_RE.fullmatch(arg)
    if m is None:
        raise ArgError(f"expected a status code like 404, 4xx or 500-599, got {arg!r}")
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
            raise ArgError(f"status range {arg!r} is backwards (the low end comes first)")
        text = f"status is {lo}-{hi}"
    if not (100 <= lo and hi <= 599):
        raise ArgError(f"status codes run from 100 to 599, got {arg!r}")

    if lo == hi:

        def code(rec: RequestRecord) -> bool:
            return rec.status == lo

    else:

        def code(rec: RequestRecord) -> bool:
            s = rec.status
            return s is not None and lo <= s <= hi

    return code, text, ATOM


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


def type_filter(arg: str) -> Node:
    search = user_regex(arg).search

    def content_type(rec: RequestRecord) -> bool:
        ct = _content_type(rec)
        return ct is not None and search(ct) is not None

    return content_type, f'content type matches "{arg}"', ATOM


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


def source_filter(arg: str) -> Node:
    try:
        net = ipaddress.ip_network(arg, strict=False)
    except ValueError:
        raise ArgError(
            f"expected an IP address or CIDR block such as 10.0.0.0/8, got {arg!r}"
        ) from None

    def source(rec: RequestRecord) -> bool:
        addr = _client_address(rec.client)
        # Membership across IP versions is simply False, never an error.
        return addr is not None and addr in net

    return source, f"client is in {net}", ATOM


def cache_filter(arg: str) -> Node:
    want = arg.lower()
    if want not in CACHE_OUTCOMES:
        hint = difflib.get_close_matches(want, CACHE_OUTCOMES, n=1)
        extra = f" (did you mean {hint[0]}?)" if hint else ""
        raise ArgError(f"~cache takes one of {', '.join(CACHE_OUTCOMES)}, got {arg!r}{extra}")

    def cache(rec: RequestRecord) -> bool:
        return rec.cache == want

    return cache, f"cache outcome is {want}", ATOM


def backend_filter(arg: str) -> Node:
    if any(c in arg for c in "*?["):
        match = re.compile(fnmatch.translate(arg), re.IGNORECASE).match

        def backend(rec: RequestRecord) -> bool:
            b = rec.backend
            return b is not None and match(b) is not None

        return backend, f"backend matches {arg}", ATOM
    want = arg.lower()

    def backend_is(rec: RequestRecord) -> bool:
        b = rec.backend
        return b is not None and b.lower() == want

    return backend_is, f"backend is {arg}", ATOM


def tag_filter(arg: str) -> Node:
    def tag(rec: RequestRecord) -> bool:
        tags = rec.tags
        return tags is not None and arg in tags

    return tag, f"tagged {arg}", ATOM


def trace_filter(arg: str) -> Node:
    search = user_regex(arg).search

    def trace(rec: RequestRecord) -> bool:
        for stage, verdict, detail in rec.trace:
            if search(f"{stage} {verdict} {detail}") is not None:
                return True
        return False

    return trace, f"a trace step matches {arg}", ATOM


def is_marked(rec: RequestRecord) -> bool:
    return rec.marked


def is_upgraded(rec: RequestRecord) -> bool:
    # Records made before upgrades were recorded (or by other tools) have no such field.
    return getattr(rec, "upgrade", None) is not None


def was_intercepted(rec: RequestRecord) -> bool:
    if getattr(rec, "intercepted", None):
        return True
    return any(stage == "tls" and verdict == "intercepted" for stage, verdict, _ in rec.trace)


def is_held(rec: RequestRecord) -> bool:
    return any(stage == "hold" and verdict == "held" for stage, verdict, _ in rec.trace)


def is_pending(rec: RequestRecord) -> bool:
    return rec.status is None


def is_answered(rec: RequestRecord) -> bool:
    return rec.status is not None


def has_failed(rec: RequestRecord) -> bool:
    return rec.error is not None


WithArg = Callable[[str], Node]


# -- combinators ------------------------------------------------------------------------------
def negate(node: Src) -> Src:
    src, desc, _ = node
    return f"(not {src})", f"not ({desc})", ATOM


def join_nodes(nodes: list[Src], prec: int) -> Src:
    """Combine with and (``prec == AND``) or or (``OR``)."""
    word = " and " if prec == AND else " or "
    if prec == AND:
        # `~all` adds nothing to a conjunction
        nodes = [n for n in nodes if n[0] != "True"] or [("True", "everything", ATOM)]
    desc = word.join(d if p > prec else f"({d})" for _, d, p in nodes)
    if prec == OR and any(src == "True" for src, _, _ in nodes):
        return "True", desc, prec
    if len(nodes) == 1:
        return nodes[0][0], desc, prec
    return "(" + word.join(src for src, _, _ in nodes) + ")", desc, prec
