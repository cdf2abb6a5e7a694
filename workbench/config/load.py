"""Load and validate a workbench YAML file into the frozen model of :mod:`workbench.config.model`.

The loader composes YAML to *nodes* (not Python objects) so every value keeps the line and column
it came from, then walks the node tree against a small schema. It never stops at the first mistake:
every problem is collected, each with ``FILE:LINE:COL``, a dotted key path and a message, and all
of them are raised together in one :class:`ConfigError`.

The live rule editor (admin API and UI) goes through :func:`parse_rule`, which turns its plain dict
into nodes and runs the very same converters, so both speak one grammar with one set of messages.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.representer import SafeRepresenter

from workbench.config.hostglob import host_glob_error
from workbench.config.model import (
    ALGORITHMS,
    HOLD_PHASES,
    HOLD_TIMEOUT_ACTIONS,
    PRIVACY_MODES,
    RULE_ACTIONS,
    RULE_PHASES,
    Address,
    AdminConfig,
    AuthConfig,
    BackendConfig,
    CacheConfig,
    Config,
    DemoConfig,
    ForwardConfig,
    HealthConfig,
    HoldConfig,
    InterceptConfig,
    Limits,
    PassiveConfig,
    PoolConfig,
    RecordsConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
    Timeouts,
    TlsConfig,
    TrafficConfig,
)
from workbench.config.passwords import HASH_FORMAT, is_password_hash
from workbench.config.units import parse_duration, parse_size

__all__ = [
    "ConfigError",
    "Problem",
    "check_files",
    "load_config",
    "load_config_text",
    "parse_address",
    "parse_rule",
]

SUPPORTED_VERSION = 1


@dataclass(frozen=True)
class Problem:
    """One mistake in a config: where it is (1-based line and column; 0 when unknown) and what."""

    file: str
    line: int
    col: int
    path: str
    """Dotted key path such as ``reverse.pools.web.backends[1].weight`` ("" for the whole file)."""
    message: str

    def __str__(self) -> str:
        # Editors jump to FILE:LINE:COL; a 0 position (live edits, unreadable file) would mislead.
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config was rejected; ``problems`` lists every mistake found, in document order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


# --------------------------------------------------------------------------------------------
# Address parsing (also used by the CLI's --listen-* overrides)

_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_ADDRESS_HINT = "use HOST:PORT, [IPv6]:PORT, :PORT or PORT"


def _parse_port(text: str, value: object) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(f"invalid address {value!r}: port must be a number from 0 to 65535")
    return int(text)


def _check_host(host: str, value: object) -> None:
    if all(part.isdigit() for part in host.split(".")):
        # Looks like IPv4, so it must be one (a hostname regex would happily take 999.1.1.1).
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(
                f"invalid address {value!r}: {host!r} is not an IPv4 address"
            ) from None
    elif not _HOSTNAME.fullmatch(host):
        raise ValueError(f"invalid address {value!r}: {host!r} is not a valid host name")


def parse_address(value: str | int) -> Address:
    """An :class:`Address` from ``host:port``, ``[::1]:8080``, ``:8080`` or ``8080``.

    A missing host means 127.0.0.1: listening on every interface must be asked for explicitly
    (``0.0.0.0:8080``). Port 0 picks a free port. Raises ValueError.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"invalid address {value!r}: {_ADDRESS_HINT}")
    if isinstance(value, int):
        return Address("127.0.0.1", _parse_port(str(value), value))
    text = value.strip()
    if text.isdigit():
        return Address("127.0.0.1", _parse_port(text, value))
    if text.startswith("["):
        m = re.fullmatch(r"\[([^\]]*)\]:([^:]*)", text)
        if m is None:
            raise ValueError(f"invalid address {value!r}: {_ADDRESS_HINT}")
        try:
            ipaddress.IPv6Address(m.group(1))
        except ValueError:
            raise ValueError(
                f"invalid address {value!r}: {m.group(1)!r} is not an IPv6 address"
            ) from None
        return Address(m.group(1), _parse_port(m.group(2), value))
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"invalid address {value!r}: {_ADDRESS_HINT}")
    if ":" in host:
        raise ValueError(
            f"invalid address {value!r}: put an IPv6 address in brackets, e.g. [::1]:8080"
        )
    if not host:
        return Address("127.0.0.1", _parse_port(port, value))
    _check_host(host, value)
    return Address(host, _parse_port(port, value))


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# The node walker

_BAD: Any = object()
"""Returned by a converter after it reported a problem; the caller drops the value."""

_NULL_TAG = "tag:yaml.org,2002:null"
# Tags SafeLoader builds itself; anything else (``!!python/object``, ``!custom``) is refused.
_SAFE_TAGS = frozenset(
    "tag:yaml.org,2002:" + t
    for t in ("null", "bool", "int", "float", "str", "binary", "timestamp", "seq", "map", "merge")
    + ("omap", "pairs", "set")
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_NAME_RULE = "names start with a letter or digit and use only letters, digits, '-', '_' and '.'"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

Conv = Callable[["_Checker", Node, str], Any]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass
class _Checker:
    """State of one validation run: the problems found and the facts cross-checks need."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    """Dotted path → value node, for problems found after a value was converted."""
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    """Kind ("backend", "route", "rule") → name → path of its first use."""
    pool_names: set[str] = field(default_factory=set)
    route_pools: list[tuple[str, Node, str]] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)
    """Paths that already have a problem, so follow-up checks do not pile on."""
    constructor: SafeConstructor = field(default_factory=SafeConstructor)

    def report(self, node: Node | None, path: str, message: str) -> Any:
        mark = node.start_mark if node is not None else None
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        self.problems.append(Problem(self.file, line, col, path, message))
        self.reported.add(path)
        return _BAD

    def had_problem(self, path: str) -> bool:
        """Whether a problem was reported at ``path`` or anywhere below it."""
        return any(p == path or p.startswith((path + ".", path + "[")) for p in self.reported)

    def value(self, node: Node) -> Any:
        """The Python value of a scalar node (its raw text if YAML cannot construct it)."""
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            return node.value

    @staticmethod
    def is_null(node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == _NULL_TAG

    def describe(self, node: Node) -> str:
        """How a value reads in a "got …" message."""
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        v = self.value(node)
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return node.value
        return repr(node.value)

    def mapping(self, node: Node, path: str) -> list[tuple[str, Node, Node]] | None:
        """(key, key node, value node) of a mapping, reporting duplicate and non-text keys."""
        if not isinstance(node, MappingNode):
            self.report(node, path, f"expected a mapping, got {self.describe(node)}")
            return None
        try:
            # Resolves YAML merge keys (<<: *defaults) in place, as the normal loader would.
            self.constructor.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.report(node, path, f"invalid merge: {getattr(exc, 'problem', exc)}")
            return None
        items: list[tuple[str, Node, Node]] = []
        seen: set[str] = set()
        for knode, vnode in node.value:
            if not isinstance(knode, ScalarNode) or self.is_null(knode):
                self.report(knode, path, f"expected a key name, got {self.describe(knode)}")
                continue
            key = knode.value
            if key in seen:
                self.report(
                    knode, _join(path, key), "duplicate key (YAML would keep only the last)"
                )
                continue
            seen.add(key)
            items.append((key, knode, vnode))
        return items

    def check_tags(self, node: Node, path: str = "") -> None:
        """Report explicit tags (``!python/object``…) that a safe loader refuses to build."""
        stack = [node]
        seen: set[int] = set()
        while stack:
            n = stack.pop()
            if id(n) in seen:  # aliases can make the tree a graph
                continue
            seen.add(id(n))
            if n.tag not in _SAFE_TAGS:
                tag = n.tag.replace("tag:yaml.org,2002:", "!!")
                self.report(n, path, f"unsupported YAML tag {tag!r}")
            if isinstance(n, MappingNode):
                for k, v in n.value:
                    stack.extend((k, v))
            elif isinstance(n, SequenceNode):
                stack.extend(n.value)

    def unique(self, kind: str, name: str, path: str, hint: str = "") -> None:
        first = self.names.setdefault(kind, {}).setdefault(name, path)
        if first != path:
            node = self.nodes.get(_join(path, "name"))
            self.report(
                node,
                _join(path, "name"),
                f"duplicate {kind} name {name!r} (first used at {first}){hint}",
            )


# --------------------------------------------------------------------------------------------
# Converters: (checker, node, path) -> value, or _BAD after reporting a problem


def _int(lo: int | None = None, hi: int | None = None) -> Conv:
    if lo is not None and hi is not None:
        wanted = f"an integer from {lo} to {hi}"
    elif lo is not None:
        wanted = f"an integer ≥ {lo}"
    else:
        wanted = "an integer"

    def conv(chk: _Checker, node: Node, path: str) -> Any:
        v = chk.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(v, int) or isinstance(v, bool):
            return chk.report(node, path, f"expected an integer, got {chk.describe(node)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return chk.report(node, path, f"expected {wanted}, got {v}")
        return v

    return conv


def _number(lo: float = 0.0) -> Conv:
    def conv(chk: _Checker, node: Node, path: str) -> Any:
        v = chk.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(v, int | float) or isinstance(v, bool) or v != v:
            return chk.report(node, path, f"expected a number, got {chk.describe(node)}")
        if v < lo:
            return chk.report(node, path, f"expected a number ≥ {lo:g}, got {chk.describe(node)}")
        return float(v)

    return conv


def _bool(chk: _Checker, node: Node, path: str) -> Any:
    v = chk.value(node) if isinstance(node, ScalarNode) else None
    if not isinstance(v, bool):
        return chk.report(node, path, f"expected true or false, got {chk.describe(node)}")
    return v


def _str(optional: bool = False, empty: bool = False) -> Conv:
    def conv(chk: _Checker, node: Node, path: str) -> Any:
        if chk.is_null(node):
            if optional:
                return None
            return chk.report(node, path, "expected a string, got null")
        if not isinstance(node, ScalarNode):
            return chk.report(node, path, f"expected a string, got {chk.describe(node)}")
        # The raw text: `name: 1.10` or `value: yes` mean the characters the user typed.
        text: str = node.value
        if not text and not empty:
            return chk.report(node, path, "must not be empty")
        return text

    return conv


def _name(chk: _Checker, node: Node, path: str) -> Any:
    text = _str()(chk, node, path)
    if text is not _BAD and not _NAME.fullmatch(text):
        return chk.report(node, path, f"invalid name {text!r}: {_NAME_RULE}")
    return text


def _header_name(chk: _Checker, node: Node, path: str) -> Any:
    text = _str()(chk, node, path)
    if text is not _BAD and not _TOKEN.fullmatch(text):
        return chk.report(node, path, f"invalid header name {text!r}")
    return text


def _path_str(chk: _Checker, node: Node, path: str) -> Any:
    text = _str()(chk, node, path)
    if text is not _BAD and not text.startswith("/"):
        return chk.report(node, path, f"expected a path starting with '/', got {text!r}")
    return text


def _choice(options: Sequence[str]) -> Conv:
    def conv(chk: _Checker, node: Node, path: str) -> Any:
        text = _str()(chk, node, path)
        if text is _BAD:
            return _BAD
        if text not in options:
            return chk.report(
                node,
                path,
                f"expected one of {', '.join(options)}, got {text!r}{_suggest(text, options)}",
            )
        return text

    return conv


def _duration(positive: bool = False, optional: bool = False) -> Conv:
    def conv(chk: _Checker, node: Node, path: str) -> Any:
        if optional and chk.is_null(node):
            return None
        v = chk.value(node) if isinstance(node, ScalarNode) else None
        if v is None or isinstance(v, bool) or not isinstance(v, int | float | str):
            return chk.report(
                node, path, f"expected a duration such as 2s or 500ms, got {chk.describe(node)}"
            )
        try:
            seconds = parse_duration(v)
        except ValueError as exc:
            return chk.report(node, path, str(exc))
        if positive and seconds == 0:
            return chk.report(node, path, f"expected a duration > 0, got {chk.describe(node)}")
        return seconds

    return conv


def _size(positive: bool = False) -> Conv:
    def conv(chk: _Checker, node: Node, path: str) -> Any:
        v = chk.value(node) if isinstance(node, ScalarNode) else None
        if v is None or isinstance(v, bool) or not isinstance(v, int | float | str):
            return chk.report(
                node, path, f"expected a size such as 512KiB or 64MiB, got {chk.describe(node)}"
            )
        try:
            size = parse_size(v)
        except ValueError as exc:
            return chk.report(node, path, str(exc))
        if positive and size == 0:
            return chk.report(node, path, f"expected a size > 0, got {chk.describe(node)}")
        return size

    return conv


def _address(chk: _Checker, node: Node, path: str) -> Any:
    v = chk.value(node) if isinstance(node, ScalarNode) else None
    if isinstance(v, bool) or not isinstance(v, int | str):
        return chk.report(
            node, path, f"expected an address such as 127.0.0.1:8080, got {chk.describe(node)}"
        )
    try:
        return parse_address(v)
    except ValueError as exc:
        return chk.report(node, path, str(exc))


def _cidr(chk: _Checker, node: Node, path: str) -> Any:
    text = _str()(chk, node, path)
    if text is _BAD:
        return _BAD
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return chk.report(
            node, path, f"invalid network {text!r}: use an address or CIDR such as 10.0.0.0/8"
        )
    return text


def _url(chk: _Checker, node: Node, path: str) -> Any:
    text = _str()(chk, node, path)
    if text is _BAD:
        return _BAD
    hint = "expected http://HOST:PORT (or https://, or demo://NAME), optionally with a path"
    if text.startswith("demo://"):
        # A built-in demo backend, started by the classroom runtime and resolved to its port.
        name = text[len("demo://") :]
        if not _NAME.fullmatch(name):
            return chk.report(node, path, f"invalid URL {text!r}: demo://NAME needs a backend name")
        return text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return chk.report(
            node, path, f"invalid URL {text!r}: port must be a number from 1 to 65535"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return chk.report(node, path, f"invalid URL {text!r}: {hint}")
    if parts.query or parts.fragment or parts.username or parts.password:
        return chk.report(
            node, path, f"invalid URL {text!r}: no query, fragment or user info allowed"
        )
    return text


def _expect_status(chk: _Checker, node: Node, path: str) -> Any:
    v = chk.value(node) if isinstance(node, ScalarNode) else None
    hint = 'expected a status such as 200 or a range such as "200-399"'
    if isinstance(v, int) and not isinstance(v, bool):
        lo = hi = v
    elif isinstance(v, str) and (m := re.fullmatch(r"\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?", v)):
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
    else:
        return chk.report(node, path, f"{hint}, got {chk.describe(node)}")
    if not (100 <= lo <= hi <= 599):
        return chk.report(
            node, path, f"statuses must be 100-599, low before high, got {chk.describe(node)}"
        )
    return (lo, hi)


def _hash_key(chk: _Checker, node: Node, path: str) -> Any:
    text = _str()(chk, node, path)
    if text is _BAD:
        return _BAD
    if text in ("client_ip", "path", "url"):
        return text
    if text.startswith("header:") and _TOKEN.fullmatch(text[7:]):
        return text
    options = ("client_ip", "path", "url", "header:NAME")
    return chk.report(
        node, path, f"expected one of {', '.join(options)}, got {text!r}{_suggest(text, options)}"
    )


def _version(chk: _Checker, node: Node, path: str) -> Any:
    v = _int()(chk, node, path)
    if v is not _BAD and v != SUPPORTED_VERSION:
        return chk.report(
            node, path, f"unsupported version {v}: this workbench reads version {SUPPORTED_VERSION}"
        )
    return v


def _optional(convert: Conv) -> Conv:
    """``convert``, but null means None (a rule field left unset)."""

    def conv(chk: _Checker, node: Node, path: str) -> Any:
        return None if chk.is_null(node) else convert(chk, node, path)

    return conv


def _list(item: Conv) -> Conv:
    def conv(chk: _Checker, node: Node, path: str) -> Any:
        if chk.is_null(node):
            return ()
        if not isinstance(node, SequenceNode):
            return chk.report(node, path, f"expected a list, got {chk.describe(node)}")
        out = []
        for i, child in enumerate(node.value):
            sub = f"{path}[{i}]"
            chk.nodes[sub] = child
            v = item(chk, child, sub)
            if v is not _BAD:
                out.append(v)
        return tuple(out)

    return conv


def _str_map(value: Conv, key_check: Callable[[str], str | None] | None = None) -> Conv:
    def conv(chk: _Checker, node: Node, path: str) -> Any:
        if chk.is_null(node):
            return {}
        items = chk.mapping(node, path)
        if items is None:
            return _BAD
        out: dict[str, Any] = {}
        for key, knode, vnode in items:
            sub = _join(path, key)
            error = key_check(key) if key_check else None
            if error:
                chk.report(knode, sub, error)
                continue
            v = value(chk, vnode, sub)
            if v is not _BAD:
                out[key] = v
        return out

    return conv


Check = Callable[[_Checker, Any, Node, str], None]


def _obj(
    cls: type,
    spec: dict[str, Conv],
    *,
    required: tuple[str, ...] = (),
    nullable: bool = False,
    check: Check | None = None,
) -> Callable[..., Any]:
    """A converter for a mapping that becomes ``cls``; ``spec`` maps allowed keys to converters.

    ``nullable``: ``key: null`` means None (an optional section is off); otherwise null means the
    defaults. The converter takes extra keyword arguments (a pool's name comes from its key).
    """

    def conv(chk: _Checker, node: Node, path: str, **extra: Any) -> Any:
        if chk.is_null(node):
            if nullable:
                return None
            if not required:
                return cls(**extra)
        items = chk.mapping(node, path)
        if items is None:
            return _BAD
        kwargs: dict[str, Any] = dict(extra)
        complete = True
        present = set()
        for key, knode, vnode in items:
            sub = _join(path, key)
            convert = spec.get(key)
            if convert is None:
                hint = _suggest(key, spec) or f" (allowed: {', '.join(spec)})"
                chk.report(knode, sub, f"unknown key {key!r}{hint}")
                continue
            present.add(key)
            chk.nodes[sub] = vnode
            v = convert(chk, vnode, sub)
            if v is _BAD:
                complete = complete and key not in required
                continue
            kwargs[key] = v
        for key in required:
            if key not in present:
                chk.report(node, _join(path, key), "required key is missing")
                complete = False
        if not complete:
            return _BAD
        obj = cls(**kwargs)
        if check is not None:
            check(chk, obj, node, path)
        return obj

    return conv


# --------------------------------------------------------------------------------------------
# The schema


def _check_admin(chk: _Checker, admin: AdminConfig, node: Node, path: str) -> None:
    if admin.token == "":
        chk.report(chk.nodes.get(_join(path, "token")), _join(path, "token"), "must not be empty")
    elif admin.token is None and not _is_loopback(admin.listen.host):
        chk.report(
            chk.nodes.get(_join(path, "listen"), node),
            _join(path, "token"),
            f"required when the admin API listens on a non-loopback address ({admin.listen}): "
            "anyone who can reach it could reconfigure the proxy",
        )


def _check_tls(chk: _Checker, tls: TlsConfig, node: Node, path: str) -> None:
    if tls.self_signed and (tls.cert or tls.key):
        chk.report(node, path, "use either self_signed: true or cert and key, not both")
    elif not tls.self_signed and not (tls.cert and tls.key):
        missing = "cert" if not tls.cert else "key"
        chk.report(node, _join(path, missing), "required (give cert and key, or self_signed: true)")


def _check_backend(chk: _Checker, backend: BackendConfig, node: Node, path: str) -> None:
    chk.unique(
        "backend",
        backend.name,
        path,
        "; backend names must be unique across all pools (the admin API addresses them by name)",
    )


def _check_route(chk: _Checker, route: RouteConfig, node: Node, path: str) -> None:
    chk.unique("route", route.name, path)
    chk.route_pools.append(
        (route.pool, chk.nodes.get(_join(path, "pool"), node), _join(path, "pool"))
    )


def _check_cache(chk: _Checker, cache: CacheConfig, node: Node, path: str) -> None:
    if cache.max_object_size > cache.max_size:
        sub = _join(path, "max_object_size")
        chk.report(chk.nodes.get(sub, node), sub, "must not be larger than max_size")


def _check_records(chk: _Checker, records: RecordsConfig, node: Node, path: str) -> None:
    if records.body_cap > records.body_budget:
        sub = _join(path, "body_cap")
        chk.report(chk.nodes.get(sub, node), sub, "must not be larger than body_budget")


def _check_auth(chk: _Checker, auth: AuthConfig, node: Node, path: str) -> None:
    if not auth.users and not chk.had_problem(_join(path, "users")):
        chk.report(node, _join(path, "users"), "needs at least one user (or remove auth)")


def _check_user(name: str) -> str | None:
    if not name or ":" in name:
        return f"invalid user name {name!r}: must be non-empty and contain no ':'"
    return None


def _password_hash(chk: _Checker, node: Node, path: str) -> Any:
    text = _str()(chk, node, path)
    if text is not _BAD and not is_password_hash(text):
        return chk.report(
            node,
            path,
            f"expected a password hash of the form {HASH_FORMAT}, not a plain password; "
            "make one with `workbench hash-password`",
        )
    return text


def _keymap_key(key: str) -> str | None:
    return None if key else "empty binding id"


# Which optional rule fields each action reads; others set on that rule are mistakes.
_RULE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # action: (required fields, optional fields)
    "block": ((), ("status",)),
    "allow": ((), ()),
    "redirect": (("location",), ("status",)),
    "set_header": (("header", "value"), ()),
    "remove_header": (("header",), ()),
    "delay": (("delay",), ()),
    "tag": (("value",), ()),
}
_RULE_OPTIONAL = ("status", "location", "header", "value", "delay")
_FIELD_HELP = {
    "location": "the redirect target",
    "header": "the header name",
    "value": "the header value",
    "delay": "how long to wait, e.g. 500ms",
}


def _check_rule(chk: _Checker, rule: RuleConfig, node: Node, path: str) -> None:
    chk.unique("rule", rule.name, path)
    needed, optional = _RULE_FIELDS[rule.action]
    for name in _RULE_OPTIONAL:
        sub = _join(path, name)
        value = getattr(rule, name)
        if name in needed and value is None and sub not in chk.reported:
            what = "the tag label" if (rule.action, name) == ("tag", "value") else _FIELD_HELP[name]
            chk.report(chk.nodes.get(sub, node), sub, f"required for {rule.action} rules ({what})")
        elif value is not None and name not in needed and name not in optional:
            users = [a for a, (req, opt) in _RULE_FIELDS.items() if name in req or name in opt]
            chk.report(
                chk.nodes.get(sub, node),
                sub,
                f"not used by {rule.action} rules (only by {', '.join(users)})",
            )
    if rule.status is not None and rule.action == "redirect" and not 300 <= rule.status <= 399:
        sub = _join(path, "status")
        chk.report(
            chk.nodes.get(sub, node), sub, f"expected a 3xx redirect status, got {rule.status}"
        )
    if not chk.had_problem(path):
        # What the rule engine would refuse at start (a header value that cannot go on the wire,
        # a line break…) is a config problem with a position, not a traceback from `run`.
        try:
            from workbench.engine.rules.rule import RuleError, compile_rule
        except ImportError:  # the rule engine is optional to the loader
            return
        try:
            compile_rule(rule)
        except RuleError as exc:
            sub = _join(path, exc.field)
            chk.report(chk.nodes.get(sub, node), sub, exc.message)


def _when(chk: _Checker, node: Node, path: str) -> Any:
    # Empty is allowed: the filter language reads it as "match everything".
    text = _str(empty=True)(chk, node, path)
    if text is _BAD:
        return _BAD
    try:
        from workbench.engine.rules.filters import FilterSyntaxError, parse_filter
    except ImportError:  # the filter engine is optional to the loader; the rule engine re-checks
        return text
    try:
        parse_filter(text)
    except FilterSyntaxError as exc:
        column = getattr(exc, "column", None)
        message = getattr(exc, "message", None) or str(exc)
        prefix = f"col {column}: " if column else ""
        return chk.report(node, path, f"{prefix}{message}")
    return text


_TIMEOUTS = _obj(
    Timeouts,
    {
        "connect": _duration(positive=True),
        "response": _duration(positive=True),
        "idle": _duration(positive=True),
    },
)
_LIMITS = _obj(
    Limits,
    {
        "max_header_size": _size(positive=True),
        "max_body_size": _size(),
        "client_timeout": _duration(positive=True),
        "keepalive_timeout": _duration(),
        "max_connections_per_backend": _int(1),
    },
)
_ADMIN = _obj(
    AdminConfig, {"listen": _address, "token": _str(optional=True, empty=True)}, check=_check_admin
)
_AUTH = _obj(
    AuthConfig,
    {"users": _str_map(_password_hash, _check_user), "realm": _str()},
    nullable=True,
    check=_check_auth,
)


def _host_glob(chk: _Checker, node: Node, path: str) -> Any:
    text = _str()(chk, node, path)
    if text is _BAD:
        return _BAD
    error = host_glob_error(text)
    return chk.report(node, path, error) if error else text.lower()


def _file(chk: _Checker, node: Node, path: str) -> Any:
    text = _str(optional=True)(chk, node, path)
    if text is None or text is _BAD:
        return text
    file = Path(text).expanduser()
    if not file.is_file():
        why = "is a directory" if file.is_dir() else "no such file"
        return chk.report(node, path, f"cannot read {text!r}: {why}")
    return str(file)


def _dir(chk: _Checker, node: Node, path: str) -> Any:
    text = _str(optional=True)(chk, node, path)
    if text is None or text is _BAD:
        return text
    folder = Path(text).expanduser()
    if folder.exists() and not folder.is_dir():
        return chk.report(node, path, f"{text!r} exists and is not a directory")
    return str(folder)


_INTERCEPT = _obj(
    InterceptConfig,
    {
        "hosts": _list(_host_glob),
        "ca_dir": _dir,
        "upstream_ca_file": _file,
        "upstream_verify": _bool,
    },
)
_FORWARD = _obj(
    ForwardConfig,
    {
        "listen": _address,
        "allow_clients": _list(_cidr),
        "connect_ports": _list(_int(1, 65535)),
        "deny_destinations": _list(_cidr),
        "privacy": _choice(PRIVACY_MODES),
        "cache": _bool,
        "auth": _AUTH,
        "max_origin_stats": _int(1, 100_000),
        "timeouts": _TIMEOUTS,
        "limits": _LIMITS,
        "intercept": _INTERCEPT,
    },
)
_TLS = _obj(
    TlsConfig,
    {"cert": _str(optional=True), "key": _str(optional=True), "self_signed": _bool},
    nullable=True,
    check=_check_tls,
)
_ROUTE = _obj(
    RouteConfig,
    {
        "name": _name,
        "pool": _str(),
        "host": _str(),
        "path_prefix": _path_str,
        "strip_prefix": _bool,
    },
    required=("name", "pool"),
    check=_check_route,
)
_BACKEND = _obj(
    BackendConfig,
    {"name": _name, "url": _url, "weight": _int(0)},
    required=("name", "url"),
    check=_check_backend,
)
_HEALTH = _obj(
    HealthConfig,
    {
        "path": _path_str,
        "interval": _duration(positive=True),
        "timeout": _duration(positive=True),
        "expect_status": _expect_status,
        "rise": _int(1),
        "fall": _int(1),
    },
    nullable=True,
)
_PASSIVE = _obj(PassiveConfig, {"consecutive_failures": _int(0), "eject_for": _duration()})
_POOL = _obj(
    PoolConfig,
    {
        "backends": _list(_BACKEND),
        "algorithm": _choice(ALGORITHMS),
        "health": _HEALTH,
        "passive": _PASSIVE,
        "retries": _int(0),
        "timeouts": _TIMEOUTS,
        "hash_key": _hash_key,
    },
)


def _pools(chk: _Checker, node: Node, path: str) -> Any:
    if chk.is_null(node):
        return {}
    items = chk.mapping(node, path)
    if items is None:
        return _BAD
    pools: dict[str, PoolConfig] = {}
    for key, knode, vnode in items:
        sub = _join(path, key)
        if not _NAME.fullmatch(key):
            chk.report(knode, sub, f"invalid pool name {key!r}: {_NAME_RULE}")
            continue
        # Remember the name even if the pool itself is broken, so routes to it are not blamed.
        chk.pool_names.add(key)
        chk.nodes[sub] = vnode
        pool = _POOL(chk, vnode, sub, name=key)
        if pool is not _BAD:
            pools[key] = pool
    return pools


def _check_reverse(chk: _Checker, reverse: ReverseConfig, node: Node, path: str) -> None:
    known = sorted(chk.pool_names)
    for pool, pnode, sub in chk.route_pools:
        if pool not in chk.pool_names:
            have = f"pools: {', '.join(known)}" if known else "no pools are defined"
            chk.report(pnode, sub, f"no pool named {pool!r}{_suggest(pool, known)} ({have})")


_REVERSE = _obj(
    ReverseConfig,
    {
        "listen": _address,
        "tls": _TLS,
        "forwarded_headers": _bool,
        "hide_backend_headers": _list(_header_name),
        "cache": _bool,
        "routes": _list(_ROUTE),
        "pools": _pools,
        "limits": _LIMITS,
    },
    check=_check_reverse,
)


def _stale_window(chk: _Checker, node: Node, path: str) -> Any:
    if isinstance(node, ScalarNode) and chk.value(node) is False:
        return 0.0
    if isinstance(node, ScalarNode) and chk.value(node) is True:
        return chk.report(node, path, "expected a duration such as 5m, or false for off")
    return _duration()(chk, node, path)


def _targeted_field(chk: _Checker, node: Node, path: str) -> Any:
    name = _header_name(chk, node, path)
    if name is not _BAD and name.lower() == "cache-control":
        return chk.report(node, path, "Cache-Control is always read; list targeted fields only")
    return name


_CACHE = _obj(
    CacheConfig,
    {
        "max_size": _size(),
        "max_object_size": _size(),
        "store_set_cookie": _bool,
        "serve_stale_on_error": _stale_window,
        "targeted_fields": _list(_targeted_field),
    },
    check=_check_cache,
)
_RECORDS = _obj(
    RecordsConfig,
    {"body_cap": _size(), "body_budget": _size(positive=True)},
    check=_check_records,
)
_RULE = _obj(
    RuleConfig,
    {
        "name": _name,
        "when": _when,
        "action": _choice(RULE_ACTIONS),
        "phase": _choice(RULE_PHASES),
        "enabled": _bool,
        "status": _optional(_int(100, 599)),
        "location": _str(optional=True),
        "header": _optional(_header_name),
        "value": _str(optional=True, empty=True),
        "delay": _duration(optional=True),
    },
    required=("name", "when", "action"),
    check=_check_rule,
)
_DEMO = _obj(
    DemoConfig,
    {
        "backends": _int(0, 64),
        "base_port": _int(0, 65535),
        "traffic": _obj(TrafficConfig, {"rate": _number(0.0), "enabled": _bool}),
    },
)
_HOLD = _obj(
    HoldConfig,
    {
        "filter": _optional(_when),
        "phase": _choice(HOLD_PHASES),
        "timeout": _duration(positive=True),
        "on_timeout": _choice(HOLD_TIMEOUT_ACTIONS),
        "max_held": _int(1, 10_000),
    },
)
_CONFIG = _obj(
    Config,
    {
        "version": _version,
        "admin": _ADMIN,
        "forward": _FORWARD,
        "reverse": _REVERSE,
        "cache": _CACHE,
        "records": _RECORDS,
        "rules": _list(_RULE),
        "demo": _DEMO,
        "hold": _HOLD,
        "keymap": _str_map(_str(), _keymap_key),
    },
)


# --------------------------------------------------------------------------------------------
# Entry points


def _syntax_problem(filename: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        if mark is not None:
            return Problem(filename, mark.line + 1, mark.column + 1, "", f"invalid YAML: {message}")
        return Problem(filename, 0, 0, "", f"invalid YAML: {message}")
    return Problem(filename, 0, 0, "", f"invalid YAML: {exc}")


def load_config_text(text: str, filename: str = "<string>") -> Config:
    """Parse and validate config text; raises ConfigError listing every problem.

    ``filename`` is used in problem messages and becomes ``Config.source`` unless it is a
    placeholder in angle brackets.
    """
    source = None if filename.startswith("<") else filename
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(filename, exc)]) from None
    if root is None or _Checker.is_null(root):
        return Config(source=source)
    chk = _Checker(filename)
    chk.check_tags(root)
    cfg = _CONFIG(chk, root, "", source=source)
    if chk.problems:
        # Cross-checks run after their section, so restore reading order for the user.
        raise ConfigError(sorted(chk.problems, key=lambda p: (p.line, p.col)))
    assert cfg is not _BAD  # every _BAD comes with a reported problem
    return cfg


def load_config(path: str | Path) -> Config:
    """Read, parse and validate a config file; raises ConfigError listing every problem."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            [Problem(name, 0, 0, "", f"cannot read file: {exc.strerror or exc}")]
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(name, 0, 0, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
        ) from None
    return load_config_text(text, name)


def parse_rule(data: dict[str, Any], path: str = "rules[0]") -> RuleConfig:
    """A RuleConfig from a plain dict (a live edit), checked exactly like a rule in a config file.

    Raises ConfigError whose problems use the file name ``<live>`` and no position. Uniqueness of
    the name among existing rules is the caller's business.
    """
    chk = _Checker("<live>")
    try:
        node = SafeRepresenter().represent_data(data)
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("<live>", 0, 0, path, f"not plain data: {exc}")]) from None
    rule = _RULE(chk, node, path)
    if chk.problems:
        raise ConfigError(chk.problems)
    assert rule is not _BAD
    return rule


def check_files(paths: list[str]) -> tuple[int, list[str]]:
    """Validate each file for ``workbench check``: (0, ["FILE: ok", …]) or (2, problem lines).

    A file that starts nothing fails; one that runs but makes requests fail passes with
    ``FILE: warning: …`` lines (see :mod:`workbench.config.lint`).
    """
    from workbench.config.lint import nothing_to_run, warnings

    if not paths:
        return 2, ["no config files given"]
    failed = False
    lines: list[str] = []
    for p in paths:
        try:
            cfg = load_config(p)
        except ConfigError as exc:
            failed = True
            lines.extend(str(problem) for problem in exc.problems)
            continue
        empty = nothing_to_run(cfg)
        if empty:
            failed = True
            lines.append(f"{p}: {empty}")
            continue
        found = warnings(cfg)
        lines.extend(f"{p}: warning: {w}" for w in found)
        lines.append(
            f"{p}: ok"
            + (f" ({len(found)} warnings)" if len(found) > 1 else " (1 warning)" if found else "")
        )
    return (2 if failed else 0), lines
