"""Forward-proxy Basic auth under a password-guessing flood: the loop keeps serving good clients.

What a user relies on is that no password hash (PBKDF2, deliberately slow) ever runs on the event
loop, where it would stall both proxies and the UI. The test records the thread of every hash the
engine computes — the real ``verify_password``, wrapped only to note where it ran — and checks the
good client is served while guesses are being hashed. (An earlier version compared CPU times of the
loop thread; on a loaded, virtualised CI host stolen time is charged to the running thread, which
made that ratio flaky without telling anything about where hashes ran.)
"""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp

from workbench.config.model import Address, AuthConfig, Config, ForwardConfig
from workbench.config.passwords import hash_password, verify_password
from workbench.engine.pipeline import auth as auth_module


async def good_requests(proxy: str, url: str, auth: str, n: int) -> list[int]:
    """Statuses of ``n`` sequential requests on one keep-alive connection."""
    headers = {"Proxy-Authorization": auth}
    statuses = []
    async with aiohttp.ClientSession() as s:
        for _ in range(n):
            async with s.get(url, proxy=proxy, headers=headers) as r:
                await r.read()
                statuses.append(r.status)
    return statuses


async def wrong_request(proxy: str, url: str, i: int) -> int:
    headers = {"Proxy-Authorization": aiohttp.encode_basic_auth("bob", f"guess-{i}")}
    async with aiohttp.ClientSession() as s, s.get(url, proxy=proxy, headers=headers) as r:
        await r.read()
        return r.status


async def test_wrong_password_flood_does_not_delay_a_good_client(
    origins, engine_factory, monkeypatch
):
    (origin,) = await origins("origin")
    hashed_on: list[str] = []
    running = 0

    def noting_verify(password: str, stored: str) -> bool:
        nonlocal running
        hashed_on.append(threading.current_thread().name)
        running += 1
        try:
            return verify_password(password, stored)
        finally:
            running -= 1

    monkeypatch.setattr(auth_module, "verify_password", noting_verify)
    # Real-strength hashes; bob's, whose password the flood guesses, is five times alice's, so
    # a guess being hashed lasts long enough to overlap the good client's requests.
    users = {
        "alice": hash_password("s3cret", iterations=200_000),
        "bob": hash_password("unguessable", iterations=1_000_000),
    }
    cfg = Config(
        forward=ForwardConfig(
            listen=Address("127.0.0.1", 0), cache=False, auth=AuthConfig(users=users)
        )
    )
    eng = await engine_factory(cfg)
    proxy, url = eng.listeners["forward"], origin.url + "/"
    good = aiohttp.encode_basic_auth("alice", "s3cret")
    assert await good_requests(proxy, url, good, 1) == [200]  # hashes once; then cached

    auth = eng.forward.auth
    before = auth.hashes
    flood = [asyncio.create_task(wrong_request(proxy, url, i)) for i in range(50)]
    deadline = time.monotonic() + 10
    while len(hashed_on) == 1 and time.monotonic() < deadline:  # a guess reached a hash
        await asyncio.sleep(0.001)
    assert len(hashed_on) > 1, "no guess reached a password hash"
    loop_thread = threading.current_thread().name
    assert loop_thread not in hashed_on, f"a hash ran on the loop's thread: {hashed_on}"
    served_during_hash = await good_requests(proxy, url, good, 20)
    statuses = await asyncio.gather(*flood)

    # The good client was answered (from the cache of good values) while guesses were hashed.
    assert served_during_hash == [200] * 20
    assert set(statuses) <= {407, 429} and 429 in statuses
    # Every hash ran on the auth threads, none on the loop's thread (the test's own thread).
    assert loop_thread not in hashed_on, hashed_on
    assert all(name.startswith("workbench-auth") for name in hashed_on), hashed_on
    # At most max_inflight at a time, until the failure budget ran out.
    assert auth.hashes <= 1 + auth.max_failures + auth.max_inflight
    assert auth.hashes - before == len(hashed_on) - 1  # the counter tells the truth
