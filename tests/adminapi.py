"""Shared setup for admin API tests: a reverse proxy (and forward proxy) with the admin listener."""

from __future__ import annotations

import json

from workbench.config.model import (
    Address,
    AdminConfig,
    BackendConfig,
    Config,
    ForwardConfig,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
)


def admin_config(
    origins,
    *,
    rules: tuple[RuleConfig, ...] = (),
    token: str | None = None,
    host: str = "127.0.0.1",
    forward: bool = False,
) -> Config:
    """A reverse proxy over ``origins`` (pool ``web``, round robin), the admin API on ``host``."""
    return Config(
        admin=AdminConfig(listen=Address(host, 0), token=token),
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            cache=False,
            routes=(RouteConfig(name="site", pool="web"),),
            pools={
                "web": PoolConfig(
                    name="web",
                    algorithm="round_robin",
                    backends=tuple(BackendConfig(name=o.name, url=o.url) for o in origins),
                )
            },
        ),
        forward=ForwardConfig(listen=Address("127.0.0.1", 0)) if forward else None,
        rules=rules,
    )


def assert_json_error(status: int, body: bytes, lo: int = 400, hi: int = 499) -> dict:
    """The body of an error answer: JSON with a plain ``error`` sentence, status in [lo, hi]."""
    assert lo <= status <= hi, (status, body[:200])
    data = json.loads(body)
    assert isinstance(data.get("error"), str) and data["error"]
    assert "Traceback" not in data["error"] and "Error(" not in data["error"]
    return data
