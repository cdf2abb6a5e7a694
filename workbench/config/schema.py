"""The schema: each config section's converter and the checks that span several fields.

:data:`CONFIG` converts a whole file, :data:`RULE` one rule (also for live edits). Defaults are the
model's own (:mod:`workbench.config.model`); a key the file leaves out keeps its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yaml.nodes import Node, ScalarNode

from workbench.config.convert import (
    address_field,
    bool_field,
    choice_field,
    cidr_field,
    duration_field,
    expect_status_field,
    hash_key_field,
    header_name_field,
    int_field,
    is_loopback,
    list_field,
    name_field,
    number_field,
    object_field,
    optional_field,
    path_field,
    size_field,
    str_field,
    str_map_field,
    url_field,
    version_field,
)
from workbench.config.hostglob import host_glob_error
from workbench.config.model import (
    ALGORITHMS,
    HOLD_PHASES,
    HOLD_TIMEOUT_ACTIONS,
    PRIVACY_MODES,
    RULE_ACTIONS,
    RULE_PHASES,
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
from workbench.config.nodes import (
    BAD,
    NAME,
    NAME_RULE,
    Checker,
    join_path,
    suggest,
)
from workbench.config.passwords import HASH_FORMAT, is_password_hash

# --------------------------------------------------------------------------------------------
# The schema


def _check_admin(chk: Checker, admin: AdminConfig, node: Node, path: str) -> None:
    if admin.token == "":
        chk.report(
            chk.nodes.get(join_path(path, "token")), join_path(path, "token"), "must not be empty"
        )
    elif admin.token is None and not is_loopback(admin.listen.host):
        chk.report(
            chk.nodes.get(join_path(path, "listen"), node),
            join_path(path, "token"),
            f"required when the admin API listens on a non-loopback address ({admin.listen}): "
            "anyone who can reach it could reconfigure the proxy",
        )


def _check_tls(chk: Checker, tls: TlsConfig, node: Node, path: str) -> None:
    if tls.self_signed and (tls.cert or tls.key):
        chk.report(node, path, "use either self_signed: true or cert and key, not both")
    elif not tls.self_signed and not (tls.cert and tls.key):
        missing = "cert" if not tls.cert else "key"
        chk.report(
            node, join_path(path, missing), "required (give cert and key, or self_signed: true)"
        )


def _check_backend(chk: Checker, backend: BackendConfig, node: Node, path: str) -> None:
    chk.unique(
        "backend",
        backend.name,
        path,
        "; backend names must be unique across all pools (the admin API addresses them by name)",
    )


def _check_route(chk: Checker, route: RouteConfig, node: Node, path: str) -> None:
    chk.unique("route", route.name, path)
    chk.route_pools.append(
        (route.pool, chk.nodes.get(join_path(path, "pool"), node), join_path(path, "pool"))
    )


def _check_cache(chk: Checker, cache: CacheConfig, node: Node, path: str) -> None:
    if chk.had_problem(path):
        return  # a bad size was reported already: comparing with a default is noise
    if cache.max_object_size > cache.max_size:
        sub = join_path(path, "max_object_size")
        chk.report(chk.nodes.get(sub, node), sub, "must not be larger than max_size")


def _check_records(chk: Checker, records: RecordsConfig, node: Node, path: str) -> None:
    if chk.had_problem(path):
        return  # a bad size was reported already: comparing with a default is noise
    if records.body_cap > records.body_budget:
        sub = join_path(path, "body_cap")
        chk.report(chk.nodes.get(sub, node), sub, "must not be larger than body_budget")


def _check_auth(chk: Checker, auth: AuthConfig, node: Node, path: str) -> None:
    if not auth.users and not chk.had_problem(join_path(path, "users")):
        chk.report(node, join_path(path, "users"), "needs at least one user (or remove auth)")


def _check_user(name: str) -> str | None:
    if not name or ":" in name:
        return f"invalid user name {name!r}: must be non-empty and contain no ':'"
    return None


def _password_hash(chk: Checker, node: Node, path: str) -> Any:
    text = str_field()(chk, node, path)
    if text is not BAD and not is_password_hash(text):
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


def _check_rule(chk: Checker, rule: RuleConfig, node: Node, path: str) -> None:
    chk.unique("rule", rule.name, path)
    needed, optional = _RULE_FIELDS[rule.action]
    for name in _RULE_OPTIONAL:
        sub = join_path(path, name)
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
        sub = join_path(path, "status")
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
            sub = join_path(path, exc.field)
            chk.report(chk.nodes.get(sub, node), sub, exc.message)


def _when(chk: Checker, node: Node, path: str) -> Any:
    # Empty is allowed: the filter language reads it as "match everything".
    text = str_field(empty=True)(chk, node, path)
    if text is BAD:
        return BAD
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


_TIMEOUTS = object_field(
    Timeouts,
    {
        "connect": duration_field(positive=True),
        "response": duration_field(positive=True),
        "idle": duration_field(positive=True),
    },
)
_LIMITS = object_field(
    Limits,
    {
        "max_header_size": size_field(positive=True),
        "max_body_size": size_field(),
        "client_timeout": duration_field(positive=True),
        "keepalive_timeout": duration_field(),
        "max_connections_per_backend": int_field(1),
    },
)
_ADMIN = object_field(
    AdminConfig,
    {"listen": address_field, "token": str_field(optional=True, empty=True)},
    check=_check_admin,
)
_AUTH = object_field(
    AuthConfig,
    {"users": str_map_field(_password_hash, _check_user), "realm": str_field()},
    nullable=True,
    check=_check_auth,
)


def _host_glob(chk: Checker, node: Node, path: str) -> Any:
    text = str_field()(chk, node, path)
    if text is BAD:
        return BAD
    error = host_glob_error(text)
    return chk.report(node, path, error) if error else text.lower()


def _file(chk: Checker, node: Node, path: str) -> Any:
    text = str_field(optional=True)(chk, node, path)
    if text is None or text is BAD:
        return text
    if text.startswith("demo://"):
        # A file the built-in demo makes when it starts (the classroom's HTTPS origin
        # certificate, demo://secure); the demo names a wrong one when it resolves it.
        return text
    file = Path(text).expanduser()
    if not file.is_file():
        why = "is a directory" if file.is_dir() else "no such file"
        return chk.report(node, path, f"cannot read {text!r}: {why}")
    return str(file)


def _dir(chk: Checker, node: Node, path: str) -> Any:
    text = str_field(optional=True)(chk, node, path)
    if text is None or text is BAD:
        return text
    folder = Path(text).expanduser()
    if folder.exists() and not folder.is_dir():
        return chk.report(node, path, f"{text!r} exists and is not a directory")
    return str(folder)


_INTERCEPT = object_field(
    InterceptConfig,
    {
        "hosts": list_field(_host_glob),
        "ca_dir": _dir,
        "upstream_ca_file": _file,
        "upstream_verify": bool_field,
    },
)
_FORWARD = object_field(
    ForwardConfig,
    {
        "listen": address_field,
        "allow_clients": list_field(cidr_field),
        "connect_ports": list_field(int_field(1, 65535)),
        "deny_destinations": list_field(cidr_field),
        "privacy": choice_field(PRIVACY_MODES),
        "cache": bool_field,
        "auth": _AUTH,
        "max_origin_stats": int_field(1, 100_000),
        "timeouts": _TIMEOUTS,
        "limits": _LIMITS,
        "intercept": _INTERCEPT,
    },
)
_TLS = object_field(
    TlsConfig,
    {"cert": str_field(optional=True), "key": str_field(optional=True), "self_signed": bool_field},
    nullable=True,
    check=_check_tls,
)
_ROUTE = object_field(
    RouteConfig,
    {
        "name": name_field,
        "pool": str_field(),
        "host": str_field(),
        "path_prefix": path_field,
        "strip_prefix": bool_field,
    },
    required=("name", "pool"),
    check=_check_route,
)
_BACKEND = object_field(
    BackendConfig,
    {"name": name_field, "url": url_field, "weight": int_field(0)},
    required=("name", "url"),
    check=_check_backend,
)
_HEALTH = object_field(
    HealthConfig,
    {
        "path": path_field,
        "interval": duration_field(positive=True),
        "timeout": duration_field(positive=True),
        "expect_status": expect_status_field,
        "rise": int_field(1),
        "fall": int_field(1),
    },
    nullable=True,
)
_PASSIVE = object_field(
    PassiveConfig, {"consecutive_failures": int_field(0), "eject_for": duration_field()}
)
_POOL = object_field(
    PoolConfig,
    {
        "backends": list_field(_BACKEND),
        "algorithm": choice_field(ALGORITHMS),
        "health": _HEALTH,
        "passive": _PASSIVE,
        "retries": int_field(0),
        "timeouts": _TIMEOUTS,
        "hash_key": hash_key_field,
    },
)


def _pools(chk: Checker, node: Node, path: str) -> Any:
    if chk.is_null(node):
        return {}
    items = chk.mapping(node, path)
    if items is None:
        return BAD
    pools: dict[str, PoolConfig] = {}
    for key, knode, vnode in items:
        sub = join_path(path, key)
        if not NAME.fullmatch(key):
            chk.report(knode, sub, f"invalid pool name {key!r}: {NAME_RULE}")
            continue
        # Remember the name even if the pool itself is broken, so routes to it are not blamed.
        chk.pool_names.add(key)
        chk.nodes[sub] = vnode
        pool = _POOL(chk, vnode, sub, name=key)
        if pool is not BAD:
            pools[key] = pool
    return pools


def _check_reverse(chk: Checker, reverse: ReverseConfig, node: Node, path: str) -> None:
    known = sorted(chk.pool_names)
    for pool, pnode, sub in chk.route_pools:
        if pool not in chk.pool_names:
            have = f"pools: {', '.join(known)}" if known else "no pools are defined"
            chk.report(pnode, sub, f"no pool named {pool!r}{suggest(pool, known)} ({have})")


_REVERSE = object_field(
    ReverseConfig,
    {
        "listen": address_field,
        "tls": _TLS,
        "forwarded_headers": bool_field,
        "hide_backend_headers": list_field(header_name_field),
        "cache": bool_field,
        "routes": list_field(_ROUTE),
        "pools": _pools,
        "limits": _LIMITS,
    },
    check=_check_reverse,
)


def _stale_window(chk: Checker, node: Node, path: str) -> Any:
    if isinstance(node, ScalarNode) and chk.value(node) is False:
        return 0.0
    if isinstance(node, ScalarNode) and chk.value(node) is True:
        return chk.report(node, path, "expected a duration such as 5m, or false for off")
    return duration_field()(chk, node, path)


def _targeted_field(chk: Checker, node: Node, path: str) -> Any:
    name = header_name_field(chk, node, path)
    if name is not BAD and name.lower() == "cache-control":
        return chk.report(node, path, "Cache-Control is always read; list targeted fields only")
    return name


_CACHE = object_field(
    CacheConfig,
    {
        "max_size": size_field(),
        "max_object_size": size_field(),
        "store_set_cookie": bool_field,
        "serve_stale_on_error": _stale_window,
        "targeted_fields": list_field(_targeted_field),
    },
    check=_check_cache,
)
_RECORDS = object_field(
    RecordsConfig,
    {"body_cap": size_field(), "body_budget": size_field(positive=True)},
    check=_check_records,
)
RULE = object_field(
    RuleConfig,
    {
        "name": name_field,
        "when": _when,
        "action": choice_field(RULE_ACTIONS),
        "phase": choice_field(RULE_PHASES),
        "enabled": bool_field,
        "status": optional_field(int_field(100, 599)),
        "location": str_field(optional=True),
        "header": optional_field(header_name_field),
        "value": str_field(optional=True, empty=True),
        "delay": duration_field(optional=True),
    },
    required=("name", "when", "action"),
    check=_check_rule,
)
_DEMO = object_field(
    DemoConfig,
    {
        "backends": int_field(0, 64),
        "base_port": int_field(0, 65535),
        "traffic": object_field(TrafficConfig, {"rate": number_field(0.0), "enabled": bool_field}),
    },
)
_HOLD = object_field(
    HoldConfig,
    {
        "filter": optional_field(_when),
        "phase": choice_field(HOLD_PHASES),
        "timeout": duration_field(positive=True),
        "on_timeout": choice_field(HOLD_TIMEOUT_ACTIONS),
        "max_held": int_field(1, 10_000),
    },
)
CONFIG = object_field(
    Config,
    {
        "version": version_field,
        "admin": _ADMIN,
        "forward": _FORWARD,
        "reverse": _REVERSE,
        "cache": _CACHE,
        "records": _RECORDS,
        "rules": list_field(RULE),
        "demo": _DEMO,
        "hold": _HOLD,
        "keymap": str_map_field(str_field(), _keymap_key),
    },
)
