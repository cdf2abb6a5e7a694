"""Parsing the fields the cache reads: Cache-Control, HTTP-dates, Age, URLs, Vary'd values.

Everything here is pure and memoised where a hit would otherwise parse the same value again.
Invalid input never raises: each function documents what an invalid value means.
"""

from __future__ import annotations

import calendar
import re
import time
from functools import lru_cache

from workbench.engine.observe.records import Headers

__all__ = [
    "MAX_DELTA",
    "CacheControl",
    "delta_seconds",
    "field_value",
    "normalize_url",
    "normalize_vary_value",
    "opaque_tag",
    "parse_age",
    "parse_cache_control",
    "parse_http_date",
    "parse_targeted",
    "split_url",
]

MAX_DELTA = 2**31
"""Delta-seconds cap (RFC 9111 §1.2.2); also "any staleness" for a bare ``max-stale``."""

ETAG_RE = re.compile(r'(?:W/)?"[^"]*"')
_DIRECTIVE_RE = re.compile(r'([^\s,=]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?')


# -- Cache-Control -----------------------------------------------------------------------------


class CacheControl:
    """Parsed ``Cache-Control`` (request or response). Shared between callers: never mutate.

    Delta-seconds fields are ``None`` when absent; a malformed or missing argument reads as 0,
    which for ``max-age`` means "stale" (RFC 9111 §4.2.1). A bare ``max-stale`` is
    :data:`MAX_DELTA`. When a directive repeats, the first occurrence wins. The qualified forms
    ``no-cache="A, B"`` and ``private="A"`` set ``no_cache_fields`` / ``private_fields``
    (lower-case names) instead of the unqualified flag (RFC 9111 §5.2.2.4, §5.2.2.7).
    """

    __slots__ = (
        "max_age",
        "s_maxage",
        "max_stale",
        "min_fresh",
        "stale_while_revalidate",
        "stale_if_error",
        "no_cache",
        "no_store",
        "private",
        "public",
        "must_revalidate",
        "proxy_revalidate",
        "must_understand",
        "only_if_cached",
        "immutable",
        "no_transform",
        "no_cache_fields",
        "private_fields",
    )

    def __init__(self) -> None:
        self.max_age: int | None = None
        self.s_maxage: int | None = None
        self.max_stale: int | None = None
        self.min_fresh: int | None = None
        self.stale_while_revalidate: int | None = None
        self.stale_if_error: int | None = None
        self.no_cache = False
        self.no_store = False
        self.private = False
        self.public = False
        self.must_revalidate = False
        self.proxy_revalidate = False
        self.must_understand = False
        self.only_if_cached = False
        self.immutable = False
        self.no_transform = False
        self.no_cache_fields: tuple[str, ...] = ()
        self.private_fields: tuple[str, ...] = ()

    def __repr__(self) -> str:
        set_ = {
            k: getattr(self, k) for k in self.__slots__ if getattr(self, k) not in (None, False, ())
        }
        return f"CacheControl({set_})"


EMPTY_CC = CacheControl()

_FLAGS = {
    "no-cache": "no_cache",
    "no-store": "no_store",
    "private": "private",
    "public": "public",
    "must-revalidate": "must_revalidate",
    "proxy-revalidate": "proxy_revalidate",
    "must-understand": "must_understand",
    "only-if-cached": "only_if_cached",
    "immutable": "immutable",
    "no-transform": "no_transform",
}
_DELTAS = {
    "max-age": "max_age",
    "s-maxage": "s_maxage",
    "max-stale": "max_stale",
    "min-fresh": "min_fresh",
    "stale-while-revalidate": "stale_while_revalidate",
    "stale-if-error": "stale_if_error",
}
_QUALIFIED = {"no-cache": "no_cache_fields", "private": "private_fields"}


def delta_seconds(arg: str | None) -> int:
    """A delta-seconds argument (RFC 9111 §1.2.2): capped at 2^31; malformed or missing → 0."""
    if arg is None:
        return 0
    if arg[:1] == '"':
        # Senders must use the token form, but RFC 9111 §5.2 asks recipients to take both.
        arg = arg[1:-1]
    if arg.isascii() and arg.isdigit():
        return min(int(arg), MAX_DELTA)
    return 0


def _field_names(arg: str) -> tuple[str, ...]:
    if arg[:1] == '"':
        arg = arg[1:-1]
    return tuple(sorted({n.strip().lower() for n in arg.split(",") if n.strip()}))


@lru_cache(maxsize=2048)
def parse_cache_control(value: str) -> CacheControl:
    """Parse a (comma-joined) ``Cache-Control`` value; memoised, so a hit costs a dict lookup."""
    cc = CacheControl()
    for m in _DIRECTIVE_RE.finditer(value):
        name = m.group(1).lower()
        arg = m.group(2)
        attr = _FLAGS.get(name)
        if attr is not None:
            qualified = _QUALIFIED.get(name)
            names = _field_names(arg) if qualified and arg else ()
            if names:
                assert qualified is not None
                setattr(cc, qualified, tuple(sorted({*getattr(cc, qualified), *names})))
            else:
                setattr(cc, attr, True)
            continue
        attr = _DELTAS.get(name)
        if attr is not None and getattr(cc, attr) is None:
            setattr(
                cc, attr, MAX_DELTA if arg is None and name == "max-stale" else delta_seconds(arg)
            )
    return cc


# -- targeted cache control (RFC 9213) ---------------------------------------------------------

_SF_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SF_ITEM = re.compile(
    r"(?P<int>-?\d{1,15})(?![\d.])"
    r"|(?P<dec>-?\d{1,12}\.\d{1,3})"
    r'|(?P<str>"(?:[^"\\\x00-\x1f\x7f]|\\["\\])*")'
    r"|(?P<tok>[A-Za-z*][\w!#$%&'*+\-.^`|~:/]*)"
    r"|(?P<bytes>:[A-Za-z0-9+/=]*:)"
    r"|(?P<bool>\?[01])"
)


def _sf_item(s: str, i: int) -> tuple[str, str, int] | None:
    """(kind, text, next index) of the bare item at ``s[i]``, or None if there is none."""
    m = _SF_ITEM.match(s, i)
    if m is None or m.lastgroup is None:
        return None
    return m.lastgroup, m.group(), m.end()


def _sf_params(s: str, i: int) -> int | None:
    """Skip ``;key[=item]`` parameters (their meaning is not used here)."""
    while i < len(s) and s[i] == ";":
        i += 1
        while i < len(s) and s[i] == " ":
            i += 1
        k = _SF_KEY.match(s, i)
        if k is None:
            return None
        i = k.end()
        if i < len(s) and s[i] == "=":
            item = _sf_item(s, i + 1)
            if item is None:
                return None
            i = item[2]
    return i


def _sf_dictionary(s: str) -> list[tuple[str, str, str]] | None:
    """A Structured Field Dictionary (RFC 8941 §3.2) as (key, kind, text); None when invalid."""
    out: list[tuple[str, str, str]] = []
    s = s.strip(" \t")
    i, n = 0, len(s)
    while i < n:
        k = _SF_KEY.match(s, i)
        if k is None:
            return None
        key, i = k.group(), k.end()
        kind, text = "bool", "?1"
        if i < n and s[i] == "=":
            i += 1
            if i < n and s[i] == "(":  # an inner list: valid, but no directive takes one
                j = s.find(")", i)
                if j < 0:
                    return None
                kind, text, i = "list", s[i : j + 1], j + 1
            else:
                item = _sf_item(s, i)
                if item is None:
                    return None
                kind, text, i = item
        p = _sf_params(s, i)
        if p is None:
            return None
        i = p
        out.append((key, kind, text))
        while i < n and s[i] in " \t":
            i += 1
        if i == n:
            break
        if s[i] != ",":
            return None
        i += 1
        while i < n and s[i] in " \t":
            i += 1
        if i == n:
            return None  # a trailing comma
    return out


@lru_cache(maxsize=256)
def parse_targeted(value: str) -> str | None:
    """A targeted cache-control field (RFC 9213) as equivalent ``Cache-Control`` text.

    The field is a Structured Field Dictionary; an invalid or empty one is None (the cache then
    falls back to ``Cache-Control``). A directive whose value has the wrong type is ignored:
    ``max-age`` etc. need a non-negative Integer, flags a Boolean (``?0`` turns one off),
    ``private``/``no-cache`` may carry a String of field names.
    """
    members = _sf_dictionary(value)
    if not members:
        return None
    seen: set[str] = set()
    parts: list[str] = []
    for key, kind, text in members:
        if key in seen:  # RFC 8941: a later duplicate overrides; keep the last one
            parts = [p for p in parts if p.split("=", 1)[0] != key]
        seen.add(key)
        if key in _DELTAS:
            if kind == "int" and not text.startswith("-"):
                parts.append(f"{key}={text}")
        elif key in _FLAGS:
            if kind == "bool":
                if text == "?1":
                    parts.append(key)
            elif kind == "str" and key in _QUALIFIED:
                parts.append(f"{key}={text}")
    return ", ".join(parts)


# -- dates and ages ----------------------------------------------------------------------------

_WKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
_IMF = re.compile(rf"{_WKDAY}, (?P<d>\d\d) {_MONTH} (?P<y>\d{{4}}) {_TIME} GMT", re.I)
_RFC850 = re.compile(rf"{_WEEKDAY}, (?P<d>\d\d)-{_MONTH}-(?P<y>\d\d) {_TIME} GMT", re.I)
_ASCTIME = re.compile(rf"{_WKDAY} {_MONTH} (?P<d>[ \d]\d) {_TIME} (?P<y>\d{{4}})", re.I)
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}


@lru_cache(maxsize=1024)
def parse_http_date(value: str) -> float | None:
    """An HTTP-date (RFC 9110 §5.6.7) as a POSIX timestamp; None when invalid.

    Exactly the three formats: IMF-fixdate ``Sun, 06 Nov 1994 08:49:37 GMT``, obsolete RFC 850
    ``Sunday, 06-Nov-94 08:49:37 GMT`` and asctime ``Sun Nov  6 08:49:37 1994``. Names match
    case-insensitively (RFC 9111 §4.2); anything else — another zone, a missing or extra part,
    an impossible day or time — is invalid. A two-digit year more than 50 years ahead is taken
    in the previous century; a leap second reads as second 59 (the earlier time, §4.2).
    """
    text = value.strip(" \t")
    m = _IMF.fullmatch(text) or _ASCTIME.fullmatch(text)
    year: int
    if m is not None:
        year = int(m["y"])
    else:
        m = _RFC850.fullmatch(text)
        if m is None:
            return None
        year = 2000 + int(m["y"])
        if year > time.gmtime().tm_year + 50:
            year -= 100
    day = int(m["d"])
    hour, minute, second = int(m["h"]), int(m["m"]), int(m["s"])
    month = _MONTHS[m["mon"].lower()]
    if hour > 23 or minute > 59 or second > 60 or year < 1:
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return float(calendar.timegm((year, month, day, hour, minute, min(second, 59), 0, 0, 0)))


def parse_age(value: str | None) -> float:
    """The ``Age`` field (RFC 9111 §5.1) as seconds.

    Absent → 0. Age is a singleton, but when several caches each appended their own value the
    first member of the list is the one that counts (``"7200, 0"`` → 7200). Values beyond 2^31
    are 2^31 (§1.2.2). An invalid value (negative, fractional, not a number) cannot be trusted
    to make the response younger, so it counts as 2^31: the response is stale.
    """
    if value is None:
        return 0.0
    first = value.split(",", 1)[0].strip(" \t")
    if first.isascii() and first.isdigit():
        return float(min(int(first), MAX_DELTA))
    return float(MAX_DELTA)


# -- URLs and request fields -------------------------------------------------------------------


@lru_cache(maxsize=4096)
def normalize_url(url: str) -> str:
    """Lower-case scheme and host, drop userinfo, default port and fragment; empty path → ``/``."""
    i = url.find("://")
    if i < 0:
        return url
    scheme = url[:i].lower()
    rest = url[i + 3 :]
    k = len(rest)
    for ch in "/?#":
        j = rest.find(ch)
        if 0 <= j < k:
            k = j
    authority, tail = rest[:k].lower(), rest[k:]
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    if (scheme == "http" and authority.endswith(":80")) or (
        scheme == "https" and authority.endswith(":443")
    ):
        authority = authority.rsplit(":", 1)[0]
    h = tail.find("#")
    if h >= 0:
        tail = tail[:h]
    if not tail.startswith("/"):
        tail = "/" + tail
    return f"{scheme}://{authority}{tail}"


def split_url(url: str) -> tuple[str, str]:
    """(origin, path-and-query) of a normalised absolute URL."""
    i = url.find("://")
    if i < 0:
        return "", url
    j = url.find("/", i + 3)
    return (url, "/") if j < 0 else (url[:j], url[j:])


def field_value(headers: Headers, lname: str) -> str | None:
    """All ``lname`` fields joined with ``", "`` (None: absent). ``lname`` is lower-case."""
    found: list[str] | None = None
    for n, v in headers:
        if n.lower() == lname:
            if found is None:
                found = [v.strip()]
            else:
                found.append(v.strip())
    return None if found is None else ", ".join(found)


def opaque_tag(tag: str) -> str:
    """The opaque part of an entity tag, for weak comparison (RFC 9110 §8.8.3.2)."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


_UNORDERED_LISTS = frozenset({"accept", "accept-encoding", "accept-language", "accept-charset"})
"""Fields whose members carry their own weights (``q=``), so member order means nothing and
tokens are case-insensitive (RFC 9110 §12.5): equivalent values may be sorted and lower-cased."""


def _q_normal(param: str) -> str | None:
    """``q=1.0`` → None (the default), ``q=0.50`` → ``q=0.5``; other parameters unchanged."""
    name, _, val = param.partition("=")
    name = name.strip()
    val = val.strip()
    if name != "q":
        return f"{name}={val}" if val else name
    try:
        q = float(val)
    except ValueError:
        return f"q={val}"
    if q >= 1.0:
        return None
    return f"q={q:.3f}".rstrip("0").rstrip(".") if q > 0 else "q=0"


@lru_cache(maxsize=4096)
def normalize_vary_value(lname: str, value: str | None) -> str | None:
    """A request field's value as Vary matching compares it (RFC 9111 §4.1).

    Whitespace around list commas and parameters never matters. For ``Accept``,
    ``Accept-Encoding``, ``Accept-Language`` and ``Accept-Charset`` the members are also
    lower-cased, their ``q=1`` dropped and sorted: ``"gzip, br"`` and ``"BR,gzip;q=1"`` select
    the same stored variant. Other fields keep their case and order.
    """
    if value is None:
        return None
    members = [m.strip(" \t") for m in value.split(",")]
    members = [m for m in members if m]
    if lname not in _UNORDERED_LISTS:
        return ", ".join(members)
    out = set()
    for m in members:
        head, *params = (p.strip(" \t") for p in m.lower().split(";"))
        kept = [p for p in (_q_normal(p) for p in params if p) if p is not None]
        out.add(";".join([head, *kept]))
    return ", ".join(sorted(out))
