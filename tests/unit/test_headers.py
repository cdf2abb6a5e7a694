"""Response header relaying: the per-name-list plan gives what the from-scratch pass gives."""

from __future__ import annotations

import pytest

from workbench.engine.http import headers as h
from workbench.engine.http.headers import RESPONSE_DROP, VIA_TOKEN, relay_headers

CASES = [
    [("Content-Type", "text/plain"), ("Content-Length", "3"), ("Date", "x")],
    [("Server", "nginx"), ("Connection", "keep-alive"), ("Content-Length", "3")],
    [("Connection", "close"), ("Via", "1.0 origin"), ("Date", "x")],
    [("Connection", "X-Secret, keep-alive"), ("X-Secret", "1"), ("X-Other", "2")],
    [("via", "1.0 a"), ("Via", "1.0 b"), ("Date", "x"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b")],
    [("Transfer-Encoding", "chunked")],
    [("Keep-Alive", "timeout=5"), ("Date", "x")],
    [],
]


@pytest.mark.parametrize("via", [VIA_TOKEN, None])
@pytest.mark.parametrize("drop", [RESPONSE_DROP, RESPONSE_DROP | {"server", "via"}])
def test_relay_plan_matches_full_pass(via, drop) -> None:
    for headers in CASES:
        expected = h._relay_headers(list(headers), drop, via)
        for _ in range(3):  # the first call makes the plan, the next ones use it
            got = relay_headers(list(headers), drop, via)
            assert got == expected, headers


def test_plan_rechecks_connection_value() -> None:
    """Same names, a different Connection value: the fields it names are still dropped."""
    plain = [("Connection", "keep-alive"), ("X-Secret", "1")]
    named = [("Connection", "X-Secret"), ("X-Secret", "1")]
    relay_headers(plain, RESPONSE_DROP, VIA_TOKEN)
    out = relay_headers(named, RESPONSE_DROP, VIA_TOKEN)
    assert [n for n, _ in out] == ["Via", "Date"]
    out = relay_headers(plain, RESPONSE_DROP, VIA_TOKEN)
    assert [n for n, _ in out] == ["X-Secret", "Via", "Date"]


def test_input_is_not_modified() -> None:
    headers = [("Via", "1.0 a"), ("Connection", "close")]
    before = list(headers)
    relay_headers(headers, RESPONSE_DROP, VIA_TOKEN)
    relay_headers(headers, RESPONSE_DROP, VIA_TOKEN)
    assert headers == before
