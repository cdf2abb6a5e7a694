"""Converters: one YAML node to one model value, or :data:`~.nodes.BAD` after reporting why.

Each converter has the signature ``(checker, node, path) -> value``; the builders here
(:func:`int_field`, :func:`list_field`, :func:`object_field`, …) make them. Addresses are parsed
here too (the CLI's ``--listen-*`` overrides use :func:`parse_address`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from yaml.nodes import Node, ScalarNode, SequenceNode

from workbench.config.model import (
    Address,
)
from workbench.config.nodes import (
    BAD,
    NAME,
    NAME_RULE,
    TOKEN,
    Checker,
    Conv,
    join_path,
    suggest,
)
from workbench.config.units import parse_duration, parse_size

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


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# Converters: (checker, node, path) -> value, or BAD after reporting a problem


def int_field(lo: int | None = None, hi: int | None = None) -> Conv:
    if lo is not None and hi is not None:
        wanted = f"an integer from {lo} to {hi}"
    elif lo is not None:
        wanted = f"an integer ≥ {lo}"
    else:
        wanted = "an integer"

    def conv(chk: Checker, node: Node, path: str) -> Any:
        v = chk.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(v, int) or isinstance(v, bool):
            return chk.report(node, path, f"expected an integer, got {chk.describe(node)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return chk.report(node, path, f"expected {wanted}, got {v}")
        return v

    return conv


def number_field(lo: float = 0.0) -> Conv:
    def conv(chk: Checker, node: Node, path: str) -> Any:
        v = chk.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(v, int | float) or isinstance(v, bool) or v != v:
            return chk.report(node, path, f"expected a number, got {chk.describe(node)}")
        if v < lo:
            return chk.report(node, path, f"expected a number ≥ {lo:g}, got {chk.describe(node)}")
        return float(v)

    return conv


def bool_field(chk: Checker, node: Node, path: str) -> Any:
    v = chk.value(node) if isinstance(node, ScalarNode) else None
    if not isinstance(v, bool):
        return chk.report(node, path, f"expected true or false, got {chk.describe(node)}")
    return v


def str_field(optional: bool = False, empty: bool = False) -> Conv:
    def conv(chk: Checker, node: Node, path: str) -> Any:
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


def name_field(chk: Checker, node: Node, path: str) -> Any:
    text = str_field()(chk, node, path)
    if text is not BAD and not NAME.fullmatch(text):
        return chk.report(node, path, f"invalid name {text!r}: {NAME_RULE}")
    return text


def header_name_field(chk: Checker, node: Node, path: str) -> Any:
    text = str_field()(chk, node, path)
    if text is not BAD and not TOKEN.fullmatch(text):
        return chk.report(node, path, f"invalid header name {text!r}")
    return text


def path_field(chk: Checker, node: Node, path: str) -> Any:
    text = str_field()(chk, node, path)
    if text is not BAD and not text.startswith("/"):
        return chk.report(node, path, f"expected a path starting with '/', got {text!r}")
    return text


def choice_field(options: Sequence[str]) -> Conv:
    def conv(chk: Checker, node: Node, path: str) -> Any:
        text = str_field()(chk, node, path)
        if text is BAD:
            return BAD
        if text not in options:
            return chk.report(
                node,
                path,
                f"expected one of {', '.join(options)}, got {text!r}{suggest(text, options)}",
            )
        return text

    return conv


def duration_field(positive: bool = False, optional: bool = False) -> Conv:
    return _quantity_field("a duration", "2s or 500ms", parse_duration, positive, optional)


def size_field(positive: bool = False) -> Conv:
    return _quantity_field("a size", "512KiB or 64MiB", parse_size, positive)


def _quantity_field(
    what: str,
    examples: str,
    parse: Callable[[Any], float],
    positive: bool,
    optional: bool = False,
) -> Conv:
    """A number with a unit (``500ms``, ``64MiB``) or a bare number, parsed by ``parse``."""

    def conv(chk: Checker, node: Node, path: str) -> Any:
        if optional and chk.is_null(node):
            return None
        v = chk.value(node) if isinstance(node, ScalarNode) else None
        if v is None or isinstance(v, bool) or not isinstance(v, int | float | str):
            return chk.report(
                node, path, f"expected {what} such as {examples}, got {chk.describe(node)}"
            )
        try:
            amount = parse(v)
        except ValueError as exc:
            return chk.report(node, path, str(exc))
        if positive and amount == 0:
            return chk.report(node, path, f"expected {what} > 0, got {chk.describe(node)}")
        return amount

    return conv


def address_field(chk: Checker, node: Node, path: str) -> Any:
    v = chk.value(node) if isinstance(node, ScalarNode) else None
    if isinstance(v, bool) or not isinstance(v, int | str):
        return chk.report(
            node, path, f"expected an address such as 127.0.0.1:8080, got {chk.describe(node)}"
        )
    try:
        return parse_address(v)
    except ValueError as exc:
        return chk.report(node, path, str(exc))


def cidr_field(chk: Checker, node: Node, path: str) -> Any:
    text = str_field()(chk, node, path)
    if text is BAD:
        return BAD
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return chk.report(
            node, path, f"invalid network {text!r}: use an address or CIDR such as 10.0.0.0/8"
        )
    return text


def url_field(chk: Checker, node: Node, path: str) -> Any:
    text = str_field()(chk, node, path)
    if text is BAD:
        return BAD
    hint = "expected http://HOST:PORT (or https://, or demo://NAME), optionally with a path"
    if text.startswith("demo://"):
        # A built-in demo backend, started by the classroom runtime and resolved to its port.
        name = text[len("demo://") :]
        if not NAME.fullmatch(name):
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


def expect_status_field(chk: Checker, node: Node, path: str) -> Any:
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


def hash_key_field(chk: Checker, node: Node, path: str) -> Any:
    text = str_field()(chk, node, path)
    if text is BAD:
        return BAD
    if text in ("client_ip", "path", "url"):
        return text
    if text.startswith("header:") and TOKEN.fullmatch(text[7:]):
        return text
    options = ("client_ip", "path", "url", "header:NAME")
    return chk.report(
        node, path, f"expected one of {', '.join(options)}, got {text!r}{suggest(text, options)}"
    )


SUPPORTED_VERSION = 1
"""The config format this workbench reads (``version:``)."""


def version_field(chk: Checker, node: Node, path: str) -> Any:
    v = int_field()(chk, node, path)
    if v is not BAD and v != SUPPORTED_VERSION:
        return chk.report(
            node, path, f"unsupported version {v}: this workbench reads version {SUPPORTED_VERSION}"
        )
    return v


def optional_field(convert: Conv) -> Conv:
    """``convert``, but null means None (a rule field left unset)."""

    def conv(chk: Checker, node: Node, path: str) -> Any:
        return None if chk.is_null(node) else convert(chk, node, path)

    return conv


def list_field(item: Conv) -> Conv:
    def conv(chk: Checker, node: Node, path: str) -> Any:
        if chk.is_null(node):
            return ()
        if not isinstance(node, SequenceNode):
            return chk.report(node, path, f"expected a list, got {chk.describe(node)}")
        out = []
        for i, child in enumerate(node.value):
            sub = f"{path}[{i}]"
            chk.nodes[sub] = child
            v = item(chk, child, sub)
            if v is not BAD:
                out.append(v)
        return tuple(out)

    return conv


def str_map_field(value: Conv, key_check: Callable[[str], str | None] | None = None) -> Conv:
    def conv(chk: Checker, node: Node, path: str) -> Any:
        if chk.is_null(node):
            return {}
        items = chk.mapping(node, path)
        if items is None:
            return BAD
        out: dict[str, Any] = {}
        for key, knode, vnode in items:
            sub = join_path(path, key)
            error = key_check(key) if key_check else None
            if error:
                chk.report(knode, sub, error)
                continue
            v = value(chk, vnode, sub)
            if v is not BAD:
                out[key] = v
        return out

    return conv


Check = Callable[[Checker, Any, Node, str], None]


def object_field(
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

    def conv(chk: Checker, node: Node, path: str, **extra: Any) -> Any:
        if chk.is_null(node):
            if nullable:
                return None
            if not required:
                return cls(**extra)
        items = chk.mapping(node, path)
        if items is None:
            return BAD
        kwargs: dict[str, Any] = dict(extra)
        complete = True
        present = set()
        for key, knode, vnode in items:
            sub = join_path(path, key)
            convert = spec.get(key)
            if convert is None:
                hint = suggest(key, spec) or f" (allowed: {', '.join(spec)})"
                chk.report(knode, sub, f"unknown key {key!r}{hint}")
                continue
            present.add(key)
            chk.nodes[sub] = vnode
            v = convert(chk, vnode, sub)
            if v is BAD:
                complete = complete and key not in required
                continue
            kwargs[key] = v
        for key in required:
            if key not in present:
                chk.report(node, join_path(path, key), "required key is missing")
                complete = False
        if not complete:
            return BAD
        obj = cls(**kwargs)
        if check is not None:
            check(chk, obj, node, path)
        return obj

    return conv
