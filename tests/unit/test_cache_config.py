"""The cache's config keys: store_set_cookie, serve_stale_on_error, targeted_fields."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.config.dump import dump_config
from workbench.config.load import ConfigError, load_config_text
from workbench.config.model import CacheConfig, Config
from workbench.engine.cache import HttpCache


def test_defaults_follow_the_rfcs() -> None:
    cfg = CacheConfig()
    assert cfg.store_set_cookie is True  # RFC 9111 §7.3: Set-Cookie does not inhibit storing
    assert cfg.serve_stale_on_error == 0.0  # off unless asked for
    assert cfg.targeted_fields == ("CDN-Cache-Control",)  # RFC 9213


@pytest.mark.parametrize(
    ("text", "attr", "expected"),
    [
        ("cache: {store_set_cookie: false}", "store_set_cookie", False),
        ("cache: {serve_stale_on_error: 5m}", "serve_stale_on_error", 300.0),
        ("cache: {serve_stale_on_error: false}", "serve_stale_on_error", 0.0),
        ("cache: {serve_stale_on_error: 0s}", "serve_stale_on_error", 0.0),
        (
            "cache: {targeted_fields: [Acme-CDN-Cache-Control, CDN-Cache-Control]}",
            "targeted_fields",
            ("Acme-CDN-Cache-Control", "CDN-Cache-Control"),
        ),
        ("cache: {targeted_fields: []}", "targeted_fields", ()),
    ],
)
def test_valid(text: str, attr: str, expected: Any) -> None:
    assert getattr(load_config_text(text).cache, attr) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cache: {store_set_cookie: sometimes}", "1:27: cache.store_set_cookie: expected true or"),
        ("cache: {serve_stale_on_error: true}", "1:31: cache.serve_stale_on_error: expected a"),
        ("cache: {serve_stale_on_error: 5x}", "1:31: cache.serve_stale_on_error: invalid dur"),
        ("cache: {targeted_fields: CDN-Cache-Control}", "1:26: cache.targeted_fields: expected a"),
        ("cache: {targeted_fields: ['a b']}", "1:27: cache.targeted_fields[0]: invalid header"),
        ("cache: {targeted_fields: [cache-control]}", "1:27: cache.targeted_fields[0]: Cache-"),
        ("cache: {store_set_cookies: false}", "1:9: cache.store_set_cookies: unknown key"),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(text)
    lines = [str(p) for p in info.value.problems]
    assert any(line.startswith(f"<string>:{message}") for line in lines), lines


def test_round_trip() -> None:
    cfg = load_config_text(
        "cache: {store_set_cookie: false, serve_stale_on_error: 90s, targeted_fields: [X-CC]}"
    )
    assert load_config_text(dump_config(cfg)) == cfg
    assert load_config_text(dump_config(Config())) == Config()


def test_cache_built_from_config() -> None:
    cfg = load_config_text(
        "cache: {store_set_cookie: false, serve_stale_on_error: 90s, targeted_fields: [X-CC]}"
    ).cache
    cache = HttpCache.from_config(cfg)
    assert cache.store_set_cookie is False
    assert cache.serve_stale_on_error == 90.0
    assert cache.targeted_fields == ("x-cc",)
