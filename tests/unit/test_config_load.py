"""The config loader: what a file may say, and exactly where and how it is told it is wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from workbench.config.dump import dump_config, rule_to_data
from workbench.config.load import (
    ConfigError,
    Problem,
    check_files,
    load_config,
    load_config_text,
    parse_address,
    parse_rule,
)
from workbench.config.model import (
    Address,
    AdminConfig,
    BackendConfig,
    Config,
    DemoConfig,
    ForwardConfig,
    HealthConfig,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
    Timeouts,
)
from workbench.config.passwords import hash_password, is_password_hash, verify_password

FIXTURES = Path(__file__).parent.parent / "fixtures"
# A real hash with few iterations so tests stay fast; the loader checks the form, not the cost.
HASH = hash_password("s3cret", iterations=1000)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config_text(text)
    return str(exc.value).splitlines()


# -- valid snippets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "attr", "expected"),
    [
        ("", "forward", None),
        ("", "admin", None),
        ("", "demo", None),
        ("version: 1", "version", 1),
        ("records: {body_cap: 0}", "records.body_cap", 0),
        ("records: {body_cap: 64KiB, body_budget: 1MiB}", "records.body_budget", 1024 * 1024),
        ("forward:", "forward", ForwardConfig()),
        ("forward: {}", "forward", ForwardConfig()),
        ("reverse: {}", "reverse", ReverseConfig()),
        ("admin:", "admin", AdminConfig()),
        ("demo: {}", "demo", DemoConfig()),
        ("admin: {listen: 9000}", "admin.listen", Address("127.0.0.1", 9000)),
        ("admin: {listen: ':9000'}", "admin.listen", Address("127.0.0.1", 9000)),
        ("admin: {listen: '[::1]:9000'}", "admin.listen", Address("::1", 9000)),
        ("admin: {listen: localhost:0}", "admin.listen", Address("localhost", 0)),
        ("admin: {listen: 0.0.0.0:80, token: t0k}", "admin.token", "t0k"),
        ("forward: {listen: 0.0.0.0:3128}", "forward.listen", Address("0.0.0.0", 3128)),
        ("forward: {allow_clients: [10.0.0.0/8]}", "forward.allow_clients", ("10.0.0.0/8",)),
        ("forward: {allow_clients: []}", "forward.allow_clients", ()),
        ("forward: {connect_ports: [443, 8443]}", "forward.connect_ports", (443, 8443)),
        ("forward: {privacy: elite}", "forward.privacy", "elite"),
        ("forward: {cache: no}", "forward.cache", False),
        ("forward: {max_origin_stats: 16}", "forward.max_origin_stats", 16),
        ("forward: {timeouts: {connect: 500ms}}", "forward.timeouts.connect", 0.5),
        ("forward: {timeouts: {idle: 2}}", "forward.timeouts.idle", 2.0),
        ("forward: {timeouts: }", "forward.timeouts", Timeouts()),
        ("forward: {limits: {max_body_size: 1MiB}}", "forward.limits.max_body_size", 1024**2),
        ("forward: {limits: {max_header_size: 8192}}", "forward.limits.max_header_size", 8192),
        (f"forward: {{auth: {{users: {{bob: '{HASH}'}}}}}}", "forward.auth.users", {"bob": HASH}),
        ("forward: {auth: null}", "forward.auth", None),
        ("reverse: {tls: {self_signed: true}}", "reverse.tls.self_signed", True),
        ("reverse: {tls: {cert: c.pem, key: k.pem}}", "reverse.tls.cert", "c.pem"),
        ("reverse: {tls: null}", "reverse.tls", None),
        ("reverse: {hide_backend_headers: []}", "reverse.hide_backend_headers", ()),
        ("reverse: {pools: {web: {}}}", "reverse.pools", {"web": PoolConfig(name="web")}),
        ("reverse: {pools: {web: {health: {}}}}", "reverse.pools.web.health", HealthConfig()),
        ("reverse: {pools: {web: {health: null}}}", "reverse.pools.web.health", None),
        (
            "reverse: {pools: {web: {health: {expect_status: 204}}}}",
            "reverse.pools.web.health.expect_status",
            (204, 204),
        ),
        (
            "reverse: {pools: {web: {health: {expect_status: '200'}}}}",
            "reverse.pools.web.health.expect_status",
            (200, 200),
        ),
        (
            "reverse: {pools: {web: {health: {expect_status: 200-299}}}}",
            "reverse.pools.web.health.expect_status",
            (200, 299),
        ),
        (
            "reverse: {pools: {web: {hash_key: 'header:X-User'}}}",
            "reverse.pools.web.hash_key",
            "header:X-User",
        ),
        (
            "reverse: {pools: {web: {passive: {eject_for: 1m}}}}",
            "reverse.pools.web.passive.eject_for",
            60.0,
        ),
        ("reverse: {pools: {web: {algorithm: ip_hash}}}", "reverse.pools.web.algorithm", "ip_hash"),
        (
            "reverse: {pools: {web: {backends: [{name: a, url: 'https://h.test/base', weight: "
            "0}]}}}",
            "reverse.pools.web.backends",
            (BackendConfig("a", "https://h.test/base", 0),),
        ),
        (
            "reverse: {routes: [{name: r, pool: p, host: '*.test', path_prefix: /v1}], pools: "
            "{p: {}}}",
            "reverse.routes",
            (RouteConfig("r", "p", "*.test", "/v1"),),
        ),
        ("cache: {max_size: 1GiB}", "cache.max_size", 1024**3),
        ("rules: []", "rules", ()),
        ("rules:", "rules", ()),
        ("demo: {backends: 5, traffic: {rate: 2.5, enabled: false}}", "demo.traffic.rate", 2.5),
        (
            "keymap: {weight_up: ctrl+up, traffic: 1}",
            "keymap",
            {"weight_up": "ctrl+up", "traffic": "1"},
        ),
        # YAML merge keys work as with any YAML loader.
        (
            "forward: {timeouts: &t {connect: 1s}}\n"
            "reverse: {pools: {web: {timeouts: {<<: *t, idle: 5s}}}}",
            "reverse.pools.web.timeouts",
            Timeouts(connect=1.0, idle=5.0),
        ),
    ],
)
def test_valid(text: str, attr: str, expected: Any) -> None:
    cfg = load_config_text(text)
    value: Any = cfg
    for part in attr.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    assert value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - {name: r, when: '~d x', action: block}",
            RuleConfig("r", "~d x", "block"),
        ),
        (
            "rules:\n  - {name: r, when: '~u ^/a', action: redirect, location: /b, status: 308}",
            RuleConfig("r", "~u ^/a", "redirect", status=308, location="/b"),
        ),
        (
            "rules:\n  - {name: r, when: '', action: set_header, header: X-A, value: ''}",
            RuleConfig("r", "", "set_header", header="X-A", value=""),
        ),
        (
            "rules:\n  - {name: r, when: '~m GET', action: remove_header, header: Cookie}",
            RuleConfig("r", "~m GET", "remove_header", header="Cookie"),
        ),
        (
            "rules:\n  - {name: r, when: '~m GET', action: delay, delay: 250ms, phase: response}",
            RuleConfig("r", "~m GET", "delay", phase="response", delay=0.25),
        ),
        (
            "rules:\n  - {name: r, when: '~m GET', action: tag, value: slow, enabled: false}",
            RuleConfig("r", "~m GET", "tag", enabled=False, value="slow"),
        ),
        (
            "rules:\n  - {name: r, when: '~m GET', action: allow, status: null}",
            RuleConfig("r", "~m GET", "allow"),
        ),
    ],
)
def test_valid_rules(text: str, expected: RuleConfig) -> None:
    assert load_config_text(text).rules == (expected,)


def test_source_is_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "wb.yaml"
    path.write_text("version: 1\n")
    assert load_config(path).source == str(path)
    assert load_config_text("version: 1\n").source is None


# -- invalid snippets -------------------------------------------------------------------------

INVALID = [
    # unknown keys, with and without a hint
    ("verison: 1", "1:1: verison: unknown key 'verison'; did you mean 'version'?"),
    ("colour: red", "1:1: colour: unknown key 'colour' (allowed: version, admin, forward,"),
    (
        "reverse:\n  pools:\n    web:\n      backends:\n        - {name: a, url: 'http://h:1', "
        "wieght: 2}",
        "5:40: reverse.pools.web.backends[0].wieght: unknown key 'wieght'; did you mean 'weight'?",
    ),
    (
        "forward:\n  privcy: elite",
        "2:3: forward.privcy: unknown key 'privcy'; did you mean 'privacy'?",
    ),
    # types
    ("version: 2", "1:10: version: unsupported version 2: this workbench reads version 1"),
    ("version: abc", "1:10: version: expected an integer, got 'abc'"),
    ("forward: [1]", "1:10: forward: expected a mapping, got a list"),
    ("forward: {cache: maybe}", "1:18: forward.cache: expected true or false, got 'maybe'"),
    ("forward: {connect_ports: 443}", "1:26: forward.connect_ports: expected a list, got 443"),
    (
        "forward: {connect_ports: [x]}",
        "1:27: forward.connect_ports[0]: expected an integer, got 'x'",
    ),
    (
        "forward: {connect_ports: [443, 0]}",
        "1:32: forward.connect_ports[1]: expected an integer from 1 to 65535, got 0",
    ),
    (
        "forward: {connect_ports: [70000]}",
        "1:27: forward.connect_ports[0]: expected an integer from 1 to 65535, got 70000",
    ),
    ("demo: {backends: 2.5}", "1:18: demo.backends: expected an integer, got 2.5"),
    # what the rule engine would refuse at start is a config problem with a position
    (
        'rules:\n  - {name: r, when: x, action: set_header, header: X-A, value: "€"}',
        "2:64: rules[0].value: a header value may hold only printable ASCII and Latin-1",
    ),
    (
        'rules:\n  - {name: r, when: x, action: set_header, header: X-A, value: "a\\r\\nb"}',
        "2:64: rules[0].value: a value cannot contain line breaks",
    ),
    (
        'rules:\n  - {name: r, when: x, action: redirect, location: "/café"}',
        "2:52: rules[0].location: a location must be plain ASCII",
    ),
    (
        "forward: {max_origin_stats: 0}",
        "1:29: forward.max_origin_stats: expected an integer from 1 to 100000, got 0",
    ),
    ("demo: {traffic: {rate: fast}}", "1:24: demo.traffic.rate: expected a number, got 'fast'"),
    ("keymap: {quit: [q]}", "1:16: keymap.quit: expected a string, got a list"),
    ("keymap: [q]", "1:9: keymap: expected a mapping, got a list"),
    # choices
    (
        "forward: {privacy: elit}",
        "1:20: forward.privacy: expected one of transparent, anonymous, elite, got 'elit'; did "
        "you mean 'elite'?",
    ),
    (
        "reverse: {pools: {web: {algorithm: fastest}}}",
        "1:36: reverse.pools.web.algorithm: expected one of round_robin, weighted_round_robin,",
    ),
    (
        "reverse: {pools: {web: {hash_key: cookie}}}",
        "1:35: reverse.pools.web.hash_key: expected one of client_ip, path, url, header:NAME, "
        "got 'cookie'",
    ),
    (
        "rules:\n  - {name: r, when: x, action: explode}",
        "2:32: rules[0].action: expected one of block, allow,",
    ),
    (
        "rules:\n  - {name: r, when: x, action: block, phase: later}",
        "2:46: rules[0].phase: expected one of request, response, got 'later'",
    ),
    # numbers out of range
    (
        "reverse:\n  pools:\n    web:\n      backends:\n        - {name: a, url: 'http://h:1'}\n"
        "        - {name: b, url: 'http://h:2', weight: -1}",
        "6:48: reverse.pools.web.backends[1].weight: expected an integer ≥ 0, got -1",
    ),
    (
        "reverse: {pools: {web: {retries: -1}}}",
        "1:34: reverse.pools.web.retries: expected an integer ≥ 0, got -1",
    ),
    (
        "reverse: {pools: {web: {health: {rise: 0}}}}",
        "1:40: reverse.pools.web.health.rise: expected an integer ≥ 1, got 0",
    ),
    (
        "rules:\n  - {name: r, when: x, action: block, status: 700}",
        "2:47: rules[0].status: expected an integer from 100 to 599, got 700",
    ),
    # durations and sizes
    (
        "forward: {timeouts: {connect: 2sec}}",
        "1:31: forward.timeouts.connect: invalid duration '2sec': use a number with a unit such "
        "as 500ms",
    ),
    (
        "forward: {timeouts: {connect: 0s}}",
        "1:31: forward.timeouts.connect: expected a duration > 0, got '0s'",
    ),
    (
        "forward: {timeouts: {connect: -1}}",
        "1:31: forward.timeouts.connect: invalid duration -1: must be a finite number ≥ 0",
    ),
    (
        "forward: {timeouts: {connect: true}}",
        "1:31: forward.timeouts.connect: expected a duration such as 2s or 500ms, got true",
    ),
    ("cache: {max_size: 64M}", "1:19: cache.max_size: invalid size '64M': unknown unit 'M'"),
    (
        "cache: {max_size: [1]}",
        "1:19: cache.max_size: expected a size such as 512KiB or 64MiB, got a list",
    ),
    (
        "cache: {max_size: 1MiB, max_object_size: 2MiB}",
        "1:42: cache.max_object_size: must not be larger than max_size",
    ),
    (
        "records: {body_cap: 2MiB, body_budget: 1MiB}",
        "1:21: records.body_cap: must not be larger than body_budget",
    ),
    (
        "records: {body_budget: 0}",
        "1:24: records.body_budget: expected a size > 0, got 0",
    ),
    (
        "records: {body_cap: lots}",
        "1:21: records.body_cap: invalid size 'lots'",
    ),
    (
        "forward: {limits: {max_header_size: 0}}",
        "1:37: forward.limits.max_header_size: expected a size > 0, got 0",
    ),
    # addresses
    (
        "admin: {listen: 'localhost:99999'}",
        "1:17: admin.listen: invalid address 'localhost:99999': port must be a number from 0 to "
        "65535",
    ),
    (
        "forward: {listen: '::1:80'}",
        "1:19: forward.listen: invalid address '::1:80': put an IPv6 address in brackets",
    ),
    (
        "forward: {listen: 'bad host:80'}",
        "1:19: forward.listen: invalid address 'bad host:80': 'bad host' is not a valid host name",
    ),
    (
        "forward: {listen: '300.1.1.1:80'}",
        "1:19: forward.listen: invalid address '300.1.1.1:80': '300.1.1.1' is not an IPv4 address",
    ),
    (
        "forward: {listen: 'web'}",
        "1:19: forward.listen: invalid address 'web': use HOST:PORT, [IPv6]:PORT, :PORT or PORT",
    ),
    (
        "forward: {listen: '[::g]:80'}",
        "1:19: forward.listen: invalid address '[::g]:80': '::g' is not an IPv6 address",
    ),
    # networks and URLs
    (
        "forward: {allow_clients: [10.0.0.0/33]}",
        "1:27: forward.allow_clients[0]: invalid network '10.0.0.0/33'",
    ),
    (
        "forward: {allow_clients: [everyone]}",
        "1:27: forward.allow_clients[0]: invalid network 'everyone'",
    ),
    (
        "reverse: {pools: {web: {backends: [{name: a, url: 'ftp://h:1'}]}}}",
        "1:51: reverse.pools.web.backends[0].url: invalid URL 'ftp://h:1': expected http://HOST:PORT",
    ),
    (
        "reverse: {pools: {web: {backends: [{name: a, url: 'http://h:99999'}]}}}",
        "1:51: reverse.pools.web.backends[0].url: invalid URL 'http://h:99999': port must be a "
        "number",
    ),
    (
        "reverse: {pools: {web: {backends: [{name: a, url: '127.0.0.1:9001'}]}}}",
        "1:51: reverse.pools.web.backends[0].url: invalid URL '127.0.0.1:9001'",
    ),
    # health
    (
        "reverse: {pools: {web: {health: {expect_status: 2xx}}}}",
        "1:49: reverse.pools.web.health.expect_status: expected a status such as 200",
    ),
    (
        "reverse: {pools: {web: {health: {expect_status: 399-200}}}}",
        "1:49: reverse.pools.web.health.expect_status: statuses must be 100-599, low before "
        "high, got '399-200'",
    ),
    (
        "reverse: {pools: {web: {health: {path: healthz}}}}",
        "1:40: reverse.pools.web.health.path: expected a path starting with '/', got 'healthz'",
    ),
    # required keys and names
    (
        "reverse: {pools: {web: {backends: [{name: a}]}}}",
        "1:36: reverse.pools.web.backends[0].url: required key is missing",
    ),
    (
        "reverse: {pools: {web: {backends: [null]}}}",
        "1:36: reverse.pools.web.backends[0]: expected a mapping, got null",
    ),
    (
        "reverse: {pools: {web: {backends: [{name: 'a b', url: 'http://h:1'}]}}}",
        "1:43: reverse.pools.web.backends[0].name: invalid name 'a b': names start with",
    ),
    ("reverse: {pools: {'w/eb': {}}}", "1:19: reverse.pools.w/eb: invalid pool name 'w/eb'"),
    ("reverse: {routes: [{name: r}]}", "1:20: reverse.routes[0].pool: required key is missing"),
    ("rules:\n  - {name: r, action: block}", "2:5: rules[0].when: required key is missing"),
    # routes must name an existing pool
    (
        "reverse:\n  routes: [{name: r, pool: wbe}]\n  pools: {web: {}}",
        "2:28: reverse.routes[0].pool: no pool named 'wbe'; did you mean 'web'? (pools: web)",
    ),
    (
        "reverse:\n  routes: [{name: r, pool: web}]",
        "2:28: reverse.routes[0].pool: no pool named 'web' (no pools are defined)",
    ),
    # duplicates
    (
        "reverse:\n  pools:\n    a: {backends: [{name: x, url: 'http://h:1'}]}\n"
        "    b: {backends: [{name: x, url: 'http://h:2'}]}",
        "4:27: reverse.pools.b.backends[0].name: duplicate backend name 'x' (first used at "
        "reverse.pools.a.backends[0]); backend names must be unique across all pools",
    ),
    (
        "reverse:\n  routes:\n    - {name: r, pool: p}\n    - {name: r, pool: p}\n  pools: {p: {}}",
        "4:14: reverse.routes[1].name: duplicate route name 'r' (first used at reverse.routes[0])",
    ),
    (
        "rules:\n  - {name: r, when: x, action: allow}\n  - {name: r, when: y, action: allow}",
        "3:12: rules[1].name: duplicate rule name 'r' (first used at rules[0])",
    ),
    (
        "cache: {max_size: 1}\ncache: {max_size: 2}",
        "2:1: cache: duplicate key (YAML would keep only the last)",
    ),
    # per-action rule fields
    (
        "rules:\n  - {name: r, when: x, action: redirect}",
        "2:5: rules[0].location: required for redirect rules (the redirect target)",
    ),
    (
        "rules:\n  - {name: r, when: x, action: redirect, location: /, status: 200}",
        "2:63: rules[0].status: expected a 3xx redirect status, got 200",
    ),
    (
        "rules:\n  - {name: r, when: x, action: set_header, value: v}",
        "2:5: rules[0].header: required for set_header rules (the header name)",
    ),
    (
        "rules:\n  - {name: r, when: x, action: set_header, header: X}",
        "2:5: rules[0].value: required for set_header rules (the header value)",
    ),
    (
        "rules:\n  - {name: r, when: x, action: remove_header}",
        "2:5: rules[0].header: required for remove_header rules (the header name)",
    ),
    (
        "rules:\n  - {name: r, when: x, action: delay}",
        "2:5: rules[0].delay: required for delay rules (how long to wait, e.g. 500ms)",
    ),
    (
        "rules:\n  - {name: r, when: x, action: tag}",
        "2:5: rules[0].value: required for tag rules (the tag label)",
    ),
    (
        "rules:\n  - {name: r, when: x, action: block, location: /x}",
        "2:49: rules[0].location: not used by block rules (only by redirect)",
    ),
    (
        "rules:\n  - {name: r, when: x, action: set_header, header: 'X A', value: v}",
        "2:52: rules[0].header: invalid header name 'X A'",
    ),
    # TLS
    (
        "reverse: {tls: {}}",
        "1:16: reverse.tls.cert: required (give cert and key, or self_signed: true)",
    ),
    (
        "reverse: {tls: {cert: c.pem}}",
        "1:16: reverse.tls.key: required (give cert and key, or self_signed: true)",
    ),
    (
        "reverse: {tls: {cert: c.pem, key: k.pem, self_signed: true}}",
        "1:16: reverse.tls: use either self_signed: true or cert and key, not both",
    ),
    # admin security
    (
        "admin: {listen: 0.0.0.0:8081}",
        "1:17: admin.token: required when the admin API listens on a non-loopback address "
        "(0.0.0.0:8081)",
    ),
    (
        "admin: {listen: '[::]:8081'}",
        "1:17: admin.token: required when the admin API listens on a non-loopback address "
        "([::]:8081)",
    ),
    ("admin: {token: ''}", "1:16: admin.token: must not be empty"),
    # passwords
    (
        "forward:\n  auth:\n    users:\n      bob: hunter2",
        "4:12: forward.auth.users.bob: expected a password hash of the form "
        "pbkdf2_sha256$ITERATIONS$SALT$HASH, not a plain password; make one with `workbench "
        "hash-password`",
    ),
    (
        f"forward: {{auth: {{users: {{'a:b': '{HASH}'}}}}}}",
        "1:26: forward.auth.users.a:b: invalid user name 'a:b'",
    ),
    (
        "forward: {auth: {users: {}}}",
        "1:17: forward.auth.users: needs at least one user (or remove auth)",
    ),
    # YAML itself
    (
        "a: [1\nb: 2",
        "2:2: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence "
        "started at line 1)",
    ),
    (
        "forward:\n\tlisten: 1",
        "2:1: invalid YAML: found character '\\t' that cannot start any token",
    ),
    ("- 1", "1:1: expected a mapping, got a list"),
    ("x: !!python/object:os.system ls", "1:1: x: unknown key 'x'"),
    (
        "keymap: {q: !!python/name:os.system x}",
        "1:13: unsupported YAML tag '!!python/name:os.system'",
    ),
]


@pytest.mark.parametrize(("text", "prefix"), INVALID)
def test_invalid(text: str, prefix: str) -> None:
    lines = problems(text)
    assert any(line.startswith(f"<string>:{prefix}") for line in lines), lines


@pytest.mark.parametrize(
    ("text", "count"),
    [
        # One mistake gives one line: follow-up checks do not pile on.
        ("rules:\n  - {name: r, when: x, action: delay, delay: soon}", 1),
        ("forward: {auth: {users: {bob: plain}}}", 1),
        ("reverse:\n  routes: [{name: r, pool: web}]\n  pools: {web: {algorithm: nope}}", 1),
        (
            "reverse: {pools: {web: {backends: [{name: a, url: 'x'}, {name: a, url: 'http://h:1'}]}}}",
            1,
        ),
        # A bad size is not compared with the other size as well.
        ("records: {body_cap: lots, body_budget: 1KiB}", 1),
        ("cache: {max_size: 1KiB, max_object_size: huge}", 1),
    ],
)
def test_one_mistake_one_problem(text: str, count: int) -> None:
    assert len(problems(text)) == count


def test_collects_every_problem_in_reading_order() -> None:
    path = FIXTURES / "config_four_mistakes.yaml"
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    got = [(p.line, p.col, p.path) for p in exc.value.problems]
    assert got == [
        (6, 43, "reverse.routes[0].pool"),
        (11, 56, "reverse.pools.web.backends[0].wieght"),
        (12, 64, "reverse.pools.web.backends[1].weight"),
        (14, 13, "cache.max_size"),
    ]
    lines = str(exc.value).splitlines()
    assert len(lines) == 4
    assert all(line.startswith(f"{path}:") for line in lines)


def test_problem_str() -> None:
    p = Problem("wb.yaml", 3, 7, "reverse.pools.web.retries", "expected an integer, got 'x'")
    assert str(p) == "wb.yaml:3:7: reverse.pools.web.retries: expected an integer, got 'x'"
    # Without a position there is nothing for an editor to jump to.
    assert str(Problem("<live>", 0, 0, "rules[0].when", "bad")) == "<live>: rules[0].when: bad"
    assert str(Problem("wb.yaml", 1, 1, "", "invalid YAML: x")) == "wb.yaml:1:1: invalid YAML: x"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read file: No such file"):
        load_config(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"version: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(binary)


def test_check_files(tmp_path: Path) -> None:
    good = str(FIXTURES / "config_minimal.yaml")
    bad = str(FIXTURES / "config_four_mistakes.yaml")
    missing = str(tmp_path / "nope.yaml")
    assert check_files([good]) == (0, [f"{good}: ok"])
    code, lines = check_files([good, bad, missing])
    assert code == 2
    assert lines[0] == f"{good}: ok"
    assert sum(line.startswith(f"{bad}:") for line in lines) == 4
    assert lines[-1].startswith(f"{missing}: cannot read file")


# -- the rule filter expression --------------------------------------------------------------


def test_rule_when_is_checked_with_the_filter_language() -> None:
    pytest.importorskip("workbench.engine.rules.filters")
    lines = problems("rules:\n  - name: r\n    when: '~d a.test & ~zz b'\n    action: block")
    assert len(lines) == 1
    # The problem sits on the value; the column inside the expression is in the message.
    assert lines[0].startswith("<string>:3:11: rules[0].when: col 13: unknown filter ~zz")


# -- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["config_full.yaml", "config_minimal.yaml"])
def test_dump_round_trips_fixture(name: str) -> None:
    cfg = load_config(FIXTURES / name)
    again = load_config_text(dump_config(cfg))
    assert dataclasses.replace(again, source=cfg.source) == cfg


def test_dump_round_trips_a_config_built_in_code() -> None:
    cfg = Config(
        admin=AdminConfig(listen=Address("::1", 0), token="secret"),
        forward=ForwardConfig(),
        reverse=ReverseConfig(
            routes=(RouteConfig("all", "web", strip_prefix=True),),
            pools={
                "web": PoolConfig(
                    "web",
                    backends=(BackendConfig("w1", "http://127.0.0.1:1", 7),),
                    health=HealthConfig(interval=0.25, expect_status=(200, 200)),
                    timeouts=Timeouts(connect=0.1, response=12.5, idle=90.0),
                )
            },
        ),
        rules=(
            RuleConfig("b", "~d x", "block"),
            RuleConfig("d", "~m GET", "delay", phase="response", enabled=False, delay=1.25),
        ),
        demo=DemoConfig(backends=2, base_port=9100),
        keymap={"quit": "ctrl+q"},
    )
    text = dump_config(cfg)
    assert "forward:" in text and "tls:" not in text  # None sections are left out
    assert load_config_text(text) == cfg


def test_dump_of_the_empty_config_round_trips() -> None:
    assert load_config_text(dump_config(Config())) == Config()


# -- live rule edits --------------------------------------------------------------------------


def test_parse_rule_accepts_the_same_grammar() -> None:
    rule = parse_rule({"name": "slow", "when": "~m GET", "action": "delay", "delay": "500ms"})
    assert rule == RuleConfig("slow", "~m GET", "delay", delay=0.5)
    assert parse_rule(rule_to_data(rule)) == rule
    # JSON nulls for fields a form left empty mean "unset".
    data = {"name": "b", "when": "", "action": "block", "status": None, "header": None}
    assert parse_rule(data) == RuleConfig("b", "", "block")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"name": "r", "when": "x", "action": "redirect"},
            ["<live>: rules[3].location: required for redirect rules (the redirect target)"],
        ),
        (
            {"name": "r", "when": "x", "action": "block", "status": "403"},
            ["<live>: rules[3].status: expected an integer, got '403'"],
        ),
        (
            {"name": "r", "action": "blok", "colour": 1},
            [
                "<live>: rules[3].action: expected one of block, allow, redirect, set_header, "
                "remove_header, delay, tag, got 'blok'; did you mean 'block'?",
                "<live>: rules[3].colour: unknown key 'colour' (allowed: name, when, action, "
                "phase, "
                "enabled, status, location, header, value, delay)",
                "<live>: rules[3].when: required key is missing",
            ],
        ),
    ],
)
def test_parse_rule_reports_like_the_file(data: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_rule(data, "rules[3]")
    assert sorted(str(p) for p in exc.value.problems) == sorted(expected)
    assert all((p.file, p.line, p.col) == ("<live>", 0, 0) for p in exc.value.problems)


# -- addresses and passwords ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", Address("127.0.0.1", 8080)),
        ("0.0.0.0:80", Address("0.0.0.0", 80)),
        ("[::1]:8080", Address("::1", 8080)),
        ("[::]:0", Address("::", 0)),
        (":8080", Address("127.0.0.1", 8080)),
        ("8080", Address("127.0.0.1", 8080)),
        (8080, Address("127.0.0.1", 8080)),
        ("proxy.example.test:3128", Address("proxy.example.test", 3128)),
    ],
)
def test_parse_address(text: str | int, expected: Address) -> None:
    assert parse_address(text) == expected
    assert parse_address(str(expected)) == expected


@pytest.mark.parametrize(
    "text", ["", "host", "host:", "host:http", ":65536", "::1:80", "[::1]", "a b:1", True]
)
def test_parse_address_rejects(text: Any) -> None:
    with pytest.raises(ValueError, match="invalid address"):
        parse_address(text)


def test_password_hashes() -> None:
    stored = hash_password("correct horse", iterations=1000)
    assert stored.startswith("pbkdf2_sha256$1000$")
    assert is_password_hash(stored)
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    # Salted: the same password never hashes to the same string twice.
    assert stored != hash_password("correct horse", iterations=1000)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "hunter2",
        "pbkdf2_sha256$0$c2FsdA==$aGFzaA==",
        "pbkdf2_sha256$1000$!!$aGFzaA==",
        "md5$1$a$b",
    ],
)
def test_malformed_hashes_never_verify(stored: str) -> None:
    assert not is_password_hash(stored)
    assert not verify_password("hunter2", stored)


def test_forward_intercept_defaults_off_and_round_trips(tmp_path):
    assert load_config_text("forward: {}\n").forward.intercept.hosts == ()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("x")
    text = (
        "forward:\n"
        "  intercept:\n"
        "    hosts: ['*.Example.test', localhost]\n"
        f"    ca_dir: {tmp_path / 'ca'}\n"
        f"    upstream_ca_file: {ca_file}\n"
        "    upstream_verify: false\n"
    )
    cfg = load_config_text(text)
    i = cfg.forward.intercept
    assert i.hosts == ("*.example.test", "localhost")
    assert i.ca_dir == str(tmp_path / "ca") and i.upstream_ca_file == str(ca_file)
    assert i.upstream_verify is False
    assert load_config_text(dump_config(cfg)) == cfg


def test_forward_intercept_problems_name_the_key(tmp_path):
    text = (
        "forward:\n"
        "  intercept:\n"
        "    hosts: [ok.test, 'bad host']\n"
        f"    upstream_ca_file: {tmp_path / 'missing.pem'}\n"
        f"    ca_dir: {FIXTURES / 'config_minimal.yaml'}\n"
        "    hots: []\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config_text(text, "f.yaml")
    lines = str(e.value).splitlines()
    assert lines[0].startswith("f.yaml:3:22: forward.intercept.hosts[1]: invalid host glob")
    assert lines[1].startswith("f.yaml:4:23: forward.intercept.upstream_ca_file: cannot read")
    assert "forward.intercept.ca_dir: " in lines[2] and "not a directory" in lines[2]
    assert "forward.intercept.hots: unknown key 'hots'; did you mean 'hosts'" in lines[3]


def test_hold_section_round_trips_and_checks_the_filter():
    cfg = load_config_text(
        "hold: {filter: '~u /api & ~m POST', phase: response, timeout: 30s, on_timeout: fail}\n"
    )
    assert (cfg.hold.filter, cfg.hold.phase, cfg.hold.timeout) == (
        "~u /api & ~m POST",
        "response",
        30,
    )
    assert load_config_text(dump_config(cfg)) == cfg
    with pytest.raises(ConfigError) as e:
        load_config_text("hold: {filter: '~zz x', on_timeout: retry}\n", "h.yaml")
    lines = str(e.value).splitlines()
    assert lines[0].startswith("h.yaml:1:16: hold.filter: col 1: unknown filter ~zz")
    assert lines[1].startswith("h.yaml:1:37: hold.on_timeout: expected one of resume, fail")
