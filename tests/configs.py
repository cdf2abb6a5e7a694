"""Config building blocks for tests: proxies on 127.0.0.1 port 0 in front of test origins."""

from __future__ import annotations

from typing import Any

from workbench.config.model import (
    Address,
    AdminConfig,
    BackendConfig,
    ForwardConfig,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
)

LOCAL = Address("127.0.0.1", 0)
"""Any free port on loopback."""


def backends(pool: str, origins: Any) -> tuple[BackendConfig, ...]:
    """Backends for ``origins``: Origin objects (their own names) or URLs (``POOL-1``, …)."""
    if isinstance(origins, str):
        origins = [origins]
    return tuple(
        BackendConfig(f"{pool}-{i}", o) if isinstance(o, str) else BackendConfig(o.name, o.url)
        for i, o in enumerate(origins, 1)
    )


def reverse_proxy(
    origins: Any,
    *,
    pool: str = "web",
    route: str = "site",
    cache: bool = False,
    **pool_kw: Any,
) -> ReverseConfig:
    """A reverse proxy whose one route sends everything to one pool of ``origins``.

    ``pool_kw`` goes to the pool (``algorithm``, ``retries``, ``timeouts``, …); ``limits`` to
    the listener.
    """
    limits = pool_kw.pop("limits", None)
    extra = {"limits": limits} if limits is not None else {}
    return ReverseConfig(
        listen=LOCAL,
        cache=cache,
        routes=(RouteConfig(name=route, pool=pool),),
        pools={pool: PoolConfig(name=pool, backends=backends(pool, origins), **pool_kw)},
        **extra,
    )


def forward_proxy(**kw: Any) -> ForwardConfig:
    """A forward proxy on loopback, its cache off unless ``cache=True``."""
    kw.setdefault("cache", False)
    return ForwardConfig(listen=LOCAL, **kw)


def admin_listener(token: str | None = None, host: str = "127.0.0.1") -> AdminConfig:
    """The admin API on ``host`` (loopback by default), any free port."""
    return AdminConfig(listen=Address(host, 0), token=token)
