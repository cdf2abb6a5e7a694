"""``forward.deny_destinations``: defaults, loading, validation, dumping."""

from __future__ import annotations

import pytest

from workbench.config.dump import dump_config
from workbench.config.load import ConfigError, load_config_text
from workbench.config.model import ForwardConfig


def test_default_denies_link_local_only():
    assert ForwardConfig().deny_destinations == ("169.254.0.0/16", "fe80::/10")


def test_loads_and_round_trips():
    cfg = load_config_text("forward: {deny_destinations: [10.0.0.0/8, '::1/128']}")
    assert cfg.forward.deny_destinations == ("10.0.0.0/8", "::1/128")
    again = load_config_text(dump_config(cfg))
    assert again.forward.deny_destinations == ("10.0.0.0/8", "::1/128")


def test_empty_list_denies_nothing():
    assert load_config_text("forward: {deny_destinations: []}").forward.deny_destinations == ()


def test_a_bad_cidr_names_the_key():
    with pytest.raises(ConfigError) as exc:
        load_config_text("forward: {deny_destinations: [10.0.0.0/33]}")
    assert "forward.deny_destinations[0]" in str(exc.value)
