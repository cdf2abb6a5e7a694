"""Forward-proxy Basic auth under a password-guessing flood: the loop keeps serving good clients."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from workbench.config.model import Address, AuthConfig, Config, ForwardConfig
from workbench.config.passwords import hash_password


async def good_requests(proxy: str, url: str, auth: str, n: int) -> float:
    """Seconds for ``n`` sequential requests on one keep-alive connection."""
    headers = {"Proxy-Authorization": auth}
    async with aiohttp.ClientSession() as s:
        t0 = time.perf_counter()
        for _ in range(n):
            async with s.get(url, proxy=proxy, headers=headers) as r:
                assert r.status == 200
                await r.read()
        return time.perf_counter() - t0


async def wrong_request(proxy: str, url: str, i: int) -> int:
    headers = {"Proxy-Authorization": aiohttp.encode_basic_auth("alice", f"guess-{i}")}
    async with aiohttp.ClientSession() as s, s.get(url, proxy=proxy, headers=headers) as r:
        await r.read()
        return r.status


async def test_wrong_password_flood_does_not_delay_a_good_client(origins, engine_factory):
    (origin,) = await origins("origin")
    # A real-strength hash: tens of milliseconds of CPU per check.
    users = {"alice": hash_password("s3cret", iterations=200_000)}
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

    flood = [asyncio.create_task(wrong_request(proxy, url, i)) for i in range(50)]
    auth = eng.forward.auth
    deadline = time.monotonic() + 10
    while auth.hashes < 2 and time.monotonic() < deadline:  # the flood has reached the hashes
        await asyncio.sleep(0.001)
    loaded = await good_requests(proxy, url, good, n)
    statuses = await asyncio.gather(*flood)

    assert set(statuses) <= {407, 429} and 429 in statuses
    # Before: 50 guesses hashed on the loop, 4.2 s on top of the good requests (ratio > 40).
    assert loaded < 10 * quiet, (loaded, quiet)
    # Hashes ran off the loop, at most max_inflight at a time, until the failure budget ran out.
    assert auth.hashes <= 1 + auth.max_failures + auth.max_inflight
