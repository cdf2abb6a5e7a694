"""Write a :class:`Config` back out as YAML that :func:`load_config_text` reads to an equal Config.

Durations and sizes are written the way people write them (``2s``, ``64MiB``); sections and fields
that are ``None`` are left out, because leaving them out is how a file says "off" / "unset".
PyYAML cannot keep comments, so callers save to a file the user chose, never over theirs silently.
"""

from __future__ import annotations

from typing import Any

import yaml

from workbench.config.model import (
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
    PoolConfig,
    RecordsConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
    Timeouts,
    TlsConfig,
)
from workbench.config.units import format_duration, format_size

__all__ = ["config_to_data", "dump_config", "rule_to_data"]


def _timeouts(t: Timeouts) -> dict[str, Any]:
    return {
        "connect": format_duration(t.connect),
        "response": format_duration(t.response),
        "idle": format_duration(t.idle),
    }


def _limits(limits: Limits) -> dict[str, Any]:
    return {
        "max_header_size": format_size(limits.max_header_size),
        "max_body_size": format_size(limits.max_body_size),
        "client_timeout": format_duration(limits.client_timeout),
        "keepalive_timeout": format_duration(limits.keepalive_timeout),
        "max_connections_per_backend": limits.max_connections_per_backend,
    }


def _admin(a: AdminConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"listen": str(a.listen)}
    if a.token is not None:
        out["token"] = a.token
    return out


def _auth(a: AuthConfig) -> dict[str, Any]:
    return {"users": dict(a.users), "realm": a.realm}


def _forward(f: ForwardConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "listen": str(f.listen),
        "allow_clients": list(f.allow_clients),
        "connect_ports": list(f.connect_ports),
        "deny_destinations": list(f.deny_destinations),
        "privacy": f.privacy,
        "cache": f.cache,
        "max_origin_stats": f.max_origin_stats,
    }
    if f.auth is not None:
        out["auth"] = _auth(f.auth)
    out["timeouts"] = _timeouts(f.timeouts)
    out["limits"] = _limits(f.limits)
    if f.intercept != InterceptConfig():
        out["intercept"] = _intercept(f.intercept)
    return out


def _intercept(i: InterceptConfig) -> dict[str, Any]:
    return {
        "hosts": list(i.hosts),
        "ca_dir": i.ca_dir,
        "upstream_ca_file": i.upstream_ca_file,
        "upstream_verify": i.upstream_verify,
    }


def _tls(t: TlsConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if t.cert is not None:
        out["cert"] = t.cert
    if t.key is not None:
        out["key"] = t.key
    if t.self_signed:
        out["self_signed"] = True
    return out


def _route(r: RouteConfig) -> dict[str, Any]:
    return {
        "name": r.name,
        "host": r.host,
        "path_prefix": r.path_prefix,
        "pool": r.pool,
        "strip_prefix": r.strip_prefix,
    }


def _backend(b: BackendConfig) -> dict[str, Any]:
    return {"name": b.name, "url": b.url, "weight": b.weight}


def _health(h: HealthConfig) -> dict[str, Any]:
    lo, hi = h.expect_status
    return {
        "path": h.path,
        "interval": format_duration(h.interval),
        "timeout": format_duration(h.timeout),
        "expect_status": lo if lo == hi else f"{lo}-{hi}",
        "rise": h.rise,
        "fall": h.fall,
    }


def _pool(p: PoolConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "algorithm": p.algorithm,
        "backends": [_backend(b) for b in p.backends],
    }
    if p.health is not None:
        out["health"] = _health(p.health)
    out["passive"] = {
        "consecutive_failures": p.passive.consecutive_failures,
        "eject_for": format_duration(p.passive.eject_for),
    }
    out["retries"] = p.retries
    out["timeouts"] = _timeouts(p.timeouts)
    out["hash_key"] = p.hash_key
    return out


def _reverse(r: ReverseConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"listen": str(r.listen)}
    if r.tls is not None:
        out["tls"] = _tls(r.tls)
    out.update(
        {
            "forwarded_headers": r.forwarded_headers,
            "hide_backend_headers": list(r.hide_backend_headers),
            "cache": r.cache,
            "routes": [_route(route) for route in r.routes],
            "pools": {name: _pool(pool) for name, pool in r.pools.items()},
            "limits": _limits(r.limits),
        }
    )
    return out


def _cache(c: CacheConfig) -> dict[str, Any]:
    return {
        "max_size": format_size(c.max_size),
        "max_object_size": format_size(c.max_object_size),
        "store_set_cookie": c.store_set_cookie,
        "serve_stale_on_error": format_duration(c.serve_stale_on_error),
        "targeted_fields": list(c.targeted_fields),
    }


def _records(r: RecordsConfig) -> dict[str, Any]:
    return {"body_cap": format_size(r.body_cap), "body_budget": format_size(r.body_budget)}


def rule_to_data(rule: RuleConfig) -> dict[str, Any]:
    """A rule as plain data (the shape :func:`workbench.config.load.parse_rule` accepts)."""
    out: dict[str, Any] = {"name": rule.name, "when": rule.when, "action": rule.action}
    if rule.phase != "request":
        out["phase"] = rule.phase
    if not rule.enabled:
        out["enabled"] = False
    for name in ("status", "location", "header", "value"):
        value = getattr(rule, name)
        if value is not None:
            out[name] = value
    if rule.delay is not None:
        out["delay"] = format_duration(rule.delay)
    return out


def _demo(d: DemoConfig) -> dict[str, Any]:
    return {
        "backends": d.backends,
        "base_port": d.base_port,
        "traffic": {"rate": d.traffic.rate, "enabled": d.traffic.enabled},
    }


def config_to_data(cfg: Config) -> dict[str, Any]:
    """The config as plain YAML-ready data; None sections are omitted, ``source`` is not a key."""
    out: dict[str, Any] = {"version": cfg.version}
    if cfg.admin is not None:
        out["admin"] = _admin(cfg.admin)
    if cfg.forward is not None:
        out["forward"] = _forward(cfg.forward)
    if cfg.reverse is not None:
        out["reverse"] = _reverse(cfg.reverse)
    out["cache"] = _cache(cfg.cache)
    if cfg.records != RecordsConfig():
        out["records"] = _records(cfg.records)
    if cfg.rules:
        out["rules"] = [rule_to_data(rule) for rule in cfg.rules]
    if cfg.demo is not None:
        out["demo"] = _demo(cfg.demo)
    if cfg.hold != HoldConfig():
        h = cfg.hold
        out["hold"] = {
            "filter": h.filter,
            "phase": h.phase,
            "timeout": format_duration(h.timeout),
            "on_timeout": h.on_timeout,
            "max_held": h.max_held,
        }
    if cfg.keymap:
        out["keymap"] = dict(cfg.keymap)
    return out


def dump_config(cfg: Config) -> str:
    """YAML text for ``cfg`` that loads back to an equal Config (apart from ``source``)."""
    return yaml.safe_dump(
        config_to_data(cfg),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
