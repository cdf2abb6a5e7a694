"""Forward-proxy Basic auth under a password-guessing flood: the loop keeps serving good clients.

Costs are measured as CPU time of the event loop's thread (the tests and the engine share it), not
wall time: a hash run on the loop adds its whole cost there, while the moments other processes hold
the cores of a shared, loaded machine add nothing (wall-clock ratios made this test flaky).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from workbench.config.model import Address, AuthConfig, Config, ForwardConfig
from workbench.config.passwords import hash_password


async def good_requests(proxy: str, url: str, auth: str, n: int) -> float:
    """Loop CPU seconds for ``n`` sequential requests on one keep-alive connection."""
    headers = {"Proxy-Authorization": auth}
    async with aiohttp.ClientSession() as s:
        c0 = time.thread_time()
        for _ in range(n):
            async with s.get(url, proxy=proxy, headers=headers) as r:
                assert r.status == 200
                await r.read()
        return time.thread_time() - c0


async def wrong_request(proxy: str, url: str, i: int) -> int:
    headers = {"Proxy-Authorization": aiohttp.encode_basic_auth("bob", f"guess-{i}")}
    async with aiohttp.ClientSession() as s, s.get(url, proxy=proxy, headers=headers) as r:
        await r.read()
        return r.status


async def test_wrong_password_flood_does_not_delay_a_good_client(origins, engine_factory):
    (origin,) = await origins("origin")
    # Real-strength hashes: tens of milliseconds of CPU per check for alice; bob's, whose password
    # the flood guesses, costs five times that, so one guess outweighs the flood's own handling.
    c0 = time.thread_time()
    bob = hash_password("unguessable", iterations=1_000_000)
    one_guess = time.thread_time() - c0  # what checking one guess costs the thread that hashes
    users = {"alice": hash_password("s3cret", iterations=200_000), "bob": bob}
    cfg = Config(
        forward=ForwardConfig(
            listen=Address("127.0.0.1", 0), cache=False, auth=AuthConfig(users=users)
        )
    )
    eng = await engine_factory(cfg)
    proxy, url = eng.listeners["forward"], origin.url + "/"
    good = aiohttp.encode_basic_auth("alice", "s3cret")
    await good_requests(proxy, url, good, 1)  # the first check hashes; later ones hit the cache
    n = 50
    quiet = await good_requests(proxy, url, good, n)

    auth = eng.forward.auth
    before = auth.hashes
    c0 = time.thread_time()
    flood = [asyncio.create_task(wrong_request(proxy, url, i)) for i in range(50)]
    deadline = time.monotonic() + 10
    while auth.hashes == before and time.monotonic() < deadline:  # the flood reached the hashes
        await asyncio.sleep(0.001)
    loaded = await good_requests(proxy, url, good, n)
    statuses = await asyncio.gather(*flood)
    flood_cpu = time.thread_time() - c0

    assert set(statuses) <= {407, 429} and 429 in statuses
    assert auth.hashes > before, "no guess reached a password hash"
    # Before: 50 guesses hashed on the loop, 4.2 s on top of the good requests (ratio > 40).
    assert loaded < 10 * quiet, (loaded, quiet)
    # The loop spent less on the whole flood (its connections, the good client too) than one
    # guess's hash costs: every hash ran beside the loop, none on it.
    assert flood_cpu < one_guess, (flood_cpu, one_guess, auth.hashes - before)
    # Hashes ran off the loop, at most max_inflight at a time, until the failure budget ran out.
    assert auth.hashes <= 1 + auth.max_failures + auth.max_inflight
