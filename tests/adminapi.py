"""Shared setup for admin API tests: a reverse proxy (and forward proxy) with the admin listener."""

from __future__ import annotations

import json

from configs import admin_listener, forward_proxy, reverse_proxy

from workbench.config.model import Config, RuleConfig


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
        admin=admin_listener(token, host),
        reverse=reverse_proxy(origins),
        forward=forward_proxy() if forward else None,
        rules=rules,
    )


def assert_json_error(status: int, body: bytes, lo: int = 400, hi: int = 499) -> dict:
    """The body of an error answer: JSON with a plain ``error`` sentence, status in [lo, hi]."""
    assert lo <= status <= hi, (status, body[:200])
    data = json.loads(body)
    assert isinstance(data.get("error"), str) and data["error"]
    assert "Traceback" not in data["error"] and "Error(" not in data["error"]
    return data
