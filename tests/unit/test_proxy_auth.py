"""ProxyAuth: good credentials cached (a dict lookup), hashes off the loop, failures cost."""

from __future__ import annotations

import asyncio
import base64

import pytest

from workbench.config.model import AuthConfig
from workbench.config.passwords import hash_password
from workbench.engine.pipeline.auth import ProxyAuth

USERS = {"alice": hash_password("s3cret", iterations=1000)}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def decide(auth: ProxyAuth, value: str | None, client: str = "10.0.0.1"):
    return auth.check_cached(value, client) or await auth.verify(value or "", client)


async def test_good_credentials_are_cached_and_answered_synchronously() -> None:
    auth = ProxyAuth(AuthConfig(users=USERS))
    good = basic("alice", "s3cret")
    assert auth.check_cached(good, "10.0.0.1") is None  # not known yet: a hash is needed
    first = await auth.verify(good, "10.0.0.1")
    assert first.ok and first.status == 200 and first.reason == "user alice"
    cached = auth.check_cached(good, "10.0.0.2")  # a plain call, no coroutine
    assert cached is first
    assert auth.hashes == 1


async def test_good_credentials_expire_after_the_ttl() -> None:
    auth = ProxyAuth(AuthConfig(users=USERS), ok_ttl=0.0)
    good = basic("alice", "s3cret")
    assert (await auth.verify(good, "c")).ok
    assert auth.check_cached(good, "c") is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "no Proxy-Authorization header"),
        ("Bearer abc", "unsupported auth scheme 'Bearer'"),
        ("Basic !!!", "malformed Basic credentials"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "malformed Basic credentials"),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "malformed Basic credentials"),
        (basic("alice", "wrong"), "wrong user or password for 'alice'"),
        (basic("mallory", "s3cret"), "wrong user or password for 'mallory'"),
    ],
)
async def test_refusals_are_407_with_a_reason(value: str | None, reason: str) -> None:
    auth = ProxyAuth(AuthConfig(users=USERS))
    d = await decide(auth, value)
    assert (d.ok, d.status, d.reason) == (False, 407, reason)
    assert d.headers("wb") == [("Proxy-Authenticate", 'Basic realm="wb"')]


async def test_unknown_users_cost_a_hash_too() -> None:
    auth = ProxyAuth(AuthConfig(users=USERS))
    await decide(auth, basic("mallory", "x"))
    assert auth.hashes == 1


async def test_wrong_passwords_are_cached_and_then_rate_limited() -> None:
    auth = ProxyAuth(AuthConfig(users=USERS), max_failures=3)
    wrong = basic("alice", "wrong")
    assert (await decide(auth, wrong)).status == 407
    assert auth.check_cached(wrong, "10.0.0.1").status == 407  # known bad: no second hash
    assert auth.hashes == 1
    assert (await decide(auth, basic("alice", "guess"))).status == 407  # third failure
    limited = await decide(auth, basic("alice", "guess-again"))
    assert limited.status == 429 and limited.retry_after and limited.retry_after >= 1
    assert limited.headers("wb") == [("Retry-After", str(limited.retry_after))]
    assert auth.check_cached(wrong, "10.0.0.1").status == 429
    assert auth.hashes == 2
    # Another client is not punished, and the right password still works for it.
    assert (await decide(auth, basic("alice", "s3cret"), "10.0.0.9")).ok


async def test_concurrent_checks_share_hashes_and_are_capped_per_client() -> None:
    auth = ProxyAuth(AuthConfig(users=USERS), max_inflight=2)
    same = basic("alice", "wrong")
    others = [basic("alice", f"w{i}") for i in range(10)]
    results = await asyncio.gather(
        *(decide(auth, same) for _ in range(10)), *(decide(auth, v) for v in others)
    )
    statuses = [r.status for r in results]
    assert statuses[:10] == [407] * 10  # one hash answered all ten identical checks
    assert statuses[10:].count(429) >= 9  # the client had a check running already
    assert auth.hashes <= 2


async def test_every_table_is_bounded() -> None:
    auth = ProxyAuth(AuthConfig(users=USERS), max_entries=8, max_clients=16, max_failures=10**6)
    for i in range(40):
        await decide(auth, f"Bearer {i}", client=f"10.0.0.{i}")
    assert len(auth._bad) <= 8
    assert len(auth._clients) <= 16
    assert not auth._pending


async def test_an_ipv6_client_is_limited_per_64_not_per_address() -> None:
    auth = ProxyAuth(AuthConfig(users=USERS), max_failures=2)
    for i in range(2):
        assert (await decide(auth, basic("alice", f"g{i}"), f"2001:db8::{i + 1}")).status == 407
    # A fresh address in the same /64 is the same attacker; another /64 is someone else.
    assert (await decide(auth, basic("alice", "g9"), "2001:db8::99")).status == 429
    assert (await decide(auth, basic("alice", "g9"), "2001:db8:0:1::1")).status == 407
