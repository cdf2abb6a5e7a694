"""Balancing algorithms: exact sequences, shares, exclusion and hash stability."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from collections import Counter

import pytest

from workbench.config.model import ALGORITHMS as CONFIG_ALGORITHMS
from workbench.engine.balancing.algorithms import ALGORITHMS, make_balancer

FIVE = {"web1": 1, "web2": 1, "web3": 1, "web4": 1, "web5": 1}


def picks(algorithm: str, weights: dict[str, int], count: int, **kwargs: object) -> str:
    b = make_balancer(algorithm, weights, **kwargs)  # type: ignore[arg-type]
    return ",".join(str(b.pick()) for _ in range(count))


def test_algorithms_match_the_config_model() -> None:
    assert ALGORITHMS == CONFIG_ALGORITHMS


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_make_balancer_builds_every_algorithm(algorithm: str) -> None:
    b = make_balancer(algorithm, {"a": 1, "b": 2})
    assert b.algorithm == algorithm
    assert b.names == ("a", "b")


@pytest.mark.parametrize(
    ("algorithm", "weights", "message"),
    [
        ("fastest", {"a": 1}, "unknown algorithm 'fastest'"),
        ("round_robin", {"a": -1}, "weight of 'a'"),
        ("weighted_round_robin", {"a": 1.5}, "weight of 'a'"),
    ],
)
def test_make_balancer_rejects_bad_input(algorithm: str, weights: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_balancer(algorithm, weights)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"a": 1, "b": 1, "c": 1}, "a,b,c,a,b,c,a"),
        # The weight value is ignored; only 0 takes a backend out.
        ({"a": 5, "b": 1, "c": 2}, "a,b,c,a,b,c,a"),
        ({"a": 1, "b": 0, "c": 1}, "a,c,a,c,a,c,a"),
        ({"a": 1}, "a,a,a,a,a,a,a"),
    ],
)
def test_round_robin_sequence(weights: dict[str, int], expected: str) -> None:
    assert picks("round_robin", weights, 7) == expected


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        # nginx's smooth weighted rr: a never takes more than two in a row.
        ({"a": 3, "b": 1, "c": 1}, "a,b,a,c,a," * 2),
        ({"a": 5, "b": 1, "c": 1}, "a,a,b,a,c,a,a," * 2),
        ({"a": 1, "b": 1, "c": 1}, "a,b,c," * 2),
        ({"a": 2, "b": 1}, "a,b,a," * 2),
        ({"a": 0, "b": 3, "c": 1}, "b,b,c,b," * 2),
    ],
)
def test_smooth_weighted_round_robin_sequence(weights: dict[str, int], expected: str) -> None:
    cycle = 2 * sum(weights.values())
    assert picks("weighted_round_robin", weights, cycle) == expected.rstrip(",")


def test_smooth_weighted_round_robin_exact_shares_without_bursts() -> None:
    seq = picks("weighted_round_robin", {"a": 3, "b": 1, "c": 1}, 500).split(",")
    assert Counter(seq) == {"a": 300, "b": 100, "c": 100}
    longest_run = max(len(list(run)) for _, run in itertools.groupby(seq))
    assert longest_run == 2


def test_smooth_weighted_round_robin_retry_skips_the_excluded_backend() -> None:
    b = make_balancer("weighted_round_robin", {"a": 3, "b": 1, "c": 1})
    assert [b.pick(exclude={"a"}) for _ in range(4)] == ["b", "c", "b", "c"]
    # Sitting out a few rounds does not break the long-run shares.
    seq = [b.pick() for _ in range(500)]
    assert Counter(seq)["a"] >= 298


# --- behaviour every algorithm shares ------------------------------------------------------------


KEYS = [None, "127.0.0.1", "10.0.0.9", "user-17", "2001:db8::5"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("key", KEYS)
def test_nothing_to_pick_gives_none(algorithm: str, key: str | None) -> None:
    assert make_balancer(algorithm, {}).pick(key) is None
    assert make_balancer(algorithm, {"a": 0, "b": 0}).pick(key) is None
    everyone = make_balancer(algorithm, {"a": 1, "b": 2}, rng=random.Random(1))
    assert everyone.pick(key, exclude=frozenset({"a", "b"})) is None
    assert everyone.pick(key, exclude={"a", "b", "zzz"}) is None


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_weight_zero_is_never_picked(algorithm: str) -> None:
    b = make_balancer(algorithm, {"a": 2, "off": 0, "c": 1}, rng=random.Random(3))
    seen = {b.pick(f"10.0.{i // 256}.{i % 256}" if i % 2 else None) for i in range(2000)}
    assert seen == {"a", "c"}
    assert "off" not in b.names


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_exclude_is_honoured(algorithm: str) -> None:
    b = make_balancer(algorithm, FIVE, rng=random.Random(5))
    excluded = frozenset({"web2", "web4"})
    for i in range(1000):
        key = f"client-{i}" if i % 3 else None
        name = b.pick(key, exclude=excluded)
        assert name in {"web1", "web3", "web5"}
    assert b.pick("x", exclude=set(FIVE) - {"web3"}) == "web3"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_backend_gets_traffic(algorithm: str) -> None:
    b = make_balancer(algorithm, FIVE, rng=random.Random(11))
    seen = {b.pick(f"192.168.{i // 256}.{i % 256}") for i in range(500)}
    assert seen == set(FIVE)


# --- least connections ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "load", "expected"),
    [
        ({"a": 1, "b": 1, "c": 1}, {"a": 3, "b": 1, "c": 2}, "b"),
        ({"a": 1, "b": 1, "c": 1}, {"a": 0, "b": 1, "c": 1}, "a"),
        # Per unit of weight: 2/3 beats 1/1.
        ({"a": 3, "b": 1}, {"a": 2, "b": 1}, "a"),
        ({"a": 1, "b": 3}, {"a": 1, "b": 4}, "a"),
        ({"a": 1, "b": 3}, {"a": 1, "b": 2}, "b"),
    ],
)
def test_least_connections_prefers_least_loaded_per_weight(
    weights: dict[str, int], load: dict[str, int], expected: str
) -> None:
    b = make_balancer("least_connections", weights, inflight=load.__getitem__)
    assert [b.pick() for _ in range(5)] == [expected] * 5


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"a": 1, "b": 1, "c": 1}, "a,b,c,a,b,c"),
        # An idle pool still follows the weights (ties go to smooth weighted rr).
        ({"a": 3, "b": 1}, "a,a,b,a,a,a"),
    ],
)
def test_least_connections_idle_pool_spreads(weights: dict[str, int], expected: str) -> None:
    assert picks("least_connections", weights, 6, inflight=lambda _n: 0) == expected


def test_least_connections_ties_rotate_among_the_tied_only() -> None:
    load = {"a": 5, "b": 1, "c": 1}
    b = make_balancer("least_connections", {"a": 1, "b": 1, "c": 1}, inflight=load.__getitem__)
    assert [b.pick() for _ in range(4)] == ["b", "c", "b", "c"]


def test_least_connections_follows_live_counts() -> None:
    load = {"a": 0, "b": 0, "c": 0}
    b = make_balancer("least_connections", {"a": 1, "b": 1, "c": 1}, inflight=load.__getitem__)
    for _ in range(30):
        load[b.pick()] += 1  # type: ignore[index]
    assert load == {"a": 10, "b": 10, "c": 10}
    load["b"] = 0
    assert b.pick() == "b"
    assert b.explain("b") == "least connections: 0 in flight / weight 1"


# --- random two ----------------------------------------------------------------------------------


def test_random_two_is_reproducible_with_a_seed() -> None:
    first = picks("random_two", FIVE, 200, rng=random.Random(42))
    again = picks("random_two", FIVE, 200, rng=random.Random(42))
    assert first == again


def test_random_two_never_picks_the_most_loaded() -> None:
    load = {"web1": 2, "web2": 9, "web3": 1, "web4": 3, "web5": 2}
    b = make_balancer("random_two", FIVE, inflight=load.__getitem__, rng=random.Random(1))
    seen = Counter(b.pick() for _ in range(2000))
    assert "web2" not in seen
    # The least loaded wins every pair it is drawn into: 2 of 5 draws.
    assert seen["web3"] / 2000 == pytest.approx(0.4, abs=0.04)


@pytest.mark.parametrize(
    ("weights", "load", "expected", "explained"),
    [
        ({"a": 1, "b": 1}, {"a": 4, "b": 1}, "b", "1 vs 4 in flight (other: a)"),
        # Load is per unit of weight: 3/4 beats 1/1.
        ({"a": 4, "b": 1}, {"a": 3, "b": 1}, "a", "3 vs 1 in flight (other: b)"),
    ],
)
def test_random_two_picks_the_less_loaded_of_two(
    weights: dict[str, int], load: dict[str, int], expected: str, explained: str
) -> None:
    b = make_balancer("random_two", weights, inflight=load.__getitem__, rng=random.Random(9))
    assert {b.pick() for _ in range(100)} == {expected}
    assert b.explain(expected) == f"power of two choices: {explained}"


@pytest.mark.parametrize(
    ("weights", "shares"),
    [
        ({"a": 1, "b": 1, "c": 1, "d": 1}, {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}),
        ({"a": 3, "b": 1}, {"a": 0.75, "b": 0.25}),
        # A dominant weight must not starve the others nor loop drawing the second choice.
        ({"a": 98, "b": 1, "c": 1}, {"a": 0.98, "b": 0.01, "c": 0.01}),
    ],
)
def test_random_two_idle_shares_follow_weights(
    weights: dict[str, int], shares: dict[str, float]
) -> None:
    b = make_balancer("random_two", weights, inflight=lambda _n: 0, rng=random.Random(2024))
    n = 20_000
    seen = Counter(b.pick() for _ in range(n))
    for name, share in shares.items():
        assert seen[name] / n == pytest.approx(share, abs=0.015)


def test_random_two_draws_two_distinct_backends() -> None:
    drawn: list[str] = []

    def inflight(name: str) -> int:
        drawn.append(name)
        return 0

    b = make_balancer("random_two", {"a": 98, "b": 1, "c": 1}, inflight=inflight)
    for _ in range(500):
        drawn.clear()
        b.pick()
        assert len(drawn) == 2 and drawn[0] != drawn[1]


# --- ip hash -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # Computed once by this implementation; must never change between runs or machines.
        ("127.0.0.1", "web3"),
        ("10.1.2.3", "web4"),
        ("2001:db8::1", "web1"),
        ("user-42", "web2"),
    ],
)
def test_ip_hash_is_a_fixed_function_of_the_address(key: str, expected: str) -> None:
    b = make_balancer("ip_hash", FIVE)
    assert [b.pick(key) for _ in range(5)] == [expected] * 5
    assert b.explain(expected) == f"ip hash of {key}"


def test_ip_hash_shares_follow_weights() -> None:
    b = make_balancer("ip_hash", {"a": 2, "b": 1, "c": 1})
    n = 10_000
    seen = Counter(b.pick(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(n))
    assert seen["a"] / n == pytest.approx(0.5, abs=0.03)
    assert seen["b"] / n == pytest.approx(0.25, abs=0.03)
    assert seen["c"] / n == pytest.approx(0.25, abs=0.03)


def test_ip_hash_excluded_choice_walks_to_the_next_backend() -> None:
    b = make_balancer("ip_hash", FIVE)
    assert b.pick("127.0.0.1", exclude={"web3"}) == "web4"
    assert b.explain("web4") == "ip hash of 127.0.0.1, first choice excluded"
    assert b.pick("127.0.0.1", exclude={"web3", "web4", "web5"}) == "web1"
    assert b.pick("127.0.0.1") == "web3"


def test_ip_hash_without_address_falls_back_to_round_robin() -> None:
    assert picks("ip_hash", {"a": 1, "b": 3}, 4) == "a,b,a,b"


# --- consistent hash -----------------------------------------------------------------------------

RING_KEYS = [f"/items/{i}" for i in range(10_000)]


def owners(weights: dict[str, int]) -> list[str | None]:
    b = make_balancer("consistent_hash", weights)
    return [b.pick(k) for k in RING_KEYS]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("127.0.0.1", "web5"),
        ("10.1.2.3", "web4"),
        ("2001:db8::1", "web3"),
        ("user-42", "web4"),
    ],
)
def test_consistent_hash_is_a_fixed_function_of_the_key(key: str, expected: str) -> None:
    b = make_balancer("consistent_hash", FIVE)
    assert b.pick(key) == expected
    assert b.explain(expected) == "consistent hash, ring of 500 points"


@pytest.mark.parametrize("removed", sorted(FIVE))
def test_consistent_hash_removing_one_moves_only_its_keys(removed: str) -> None:
    before = owners(FIVE)
    after = owners({k: w for k, w in FIVE.items() if k != removed})
    moved = [i for i in range(len(RING_KEYS)) if before[i] != after[i]]
    assert all(before[i] == removed for i in moved)
    assert len(moved) == before.count(removed)
    assert 0.10 < len(moved) / len(RING_KEYS) < 0.30


def test_consistent_hash_adding_one_takes_about_its_share() -> None:
    before = owners(FIVE)
    after = owners({**FIVE, "web6": 1})
    moved = [i for i in range(len(RING_KEYS)) if before[i] != after[i]]
    assert all(after[i] == "web6" for i in moved)
    assert 0.10 < len(moved) / len(RING_KEYS) < 0.25  # ≈ 1/6


def test_consistent_hash_weight_scales_the_share() -> None:
    seen = Counter(owners({"a": 3, "b": 1}))
    assert seen["a"] / len(RING_KEYS) == pytest.approx(0.75, abs=0.06)


def test_consistent_hash_excluded_owner_passes_the_key_on() -> None:
    b = make_balancer("consistent_hash", FIVE)
    before = [b.pick(k) for k in RING_KEYS[:2000]]
    after = [b.pick(k, exclude={"web1"}) for k in RING_KEYS[:2000]]
    # Only web1's keys move, and they spread over the others rather than piling on one.
    assert all(a == o for a, o in zip(after, before, strict=True) if o != "web1")
    assert len({a for a, o in zip(after, before, strict=True) if o == "web1"}) == 4
    key = RING_KEYS[before.index("web1")]
    name = b.pick(key, exclude={"web1"})
    assert b.explain(name) == "consistent hash, ring of 500 points, owner excluded, next clockwise"


def test_consistent_hash_without_key_falls_back_to_round_robin() -> None:
    b = make_balancer("consistent_hash", {"a": 1, "b": 2, "c": 1})
    assert [b.pick() for _ in range(4)] == ["a", "b", "c", "a"]
    assert b.explain("b") == "consistent hash: no key, round robin"


# --- trace text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "weights", "key", "expected"),
    [
        ("round_robin", {"a": 1, "b": 1}, None, "round robin, 2 in rotation"),
        (
            "weighted_round_robin",
            {"a": 3, "b": 1, "c": 1},
            None,
            "smooth weighted rr, weight 3 of 5",
        ),
        (
            "least_connections",
            {"a": 1, "b": 1},
            None,
            "least connections: 0 in flight / weight 1, tie broken by weighted rr",
        ),
        ("random_two", {"a": 1}, None, "power of two choices: the only candidate"),
        ("ip_hash", {"a": 1}, "127.0.0.1", "ip hash of 127.0.0.1"),
        ("consistent_hash", {"a": 2, "b": 3}, "k", "consistent hash, ring of 500 points"),
    ],
)
def test_explain(algorithm: str, weights: dict[str, int], key: str | None, expected: str) -> None:
    b = make_balancer(algorithm, weights)
    name = b.pick(key)
    assert name is not None
    assert b.explain(name) == expected


# --- stability across processes ------------------------------------------------------------------


def test_hash_algorithms_agree_across_processes_with_different_hash_seeds() -> None:
    code = (
        "from workbench.engine.balancing.algorithms import make_balancer\n"
        "w = {f'web{i}': 1 for i in range(1, 6)}\n"
        "keys = [f'10.0.0.{i}' for i in range(50)]\n"
        "for alg in ('ip_hash', 'consistent_hash'):\n"
        "    b = make_balancer(alg, w)\n"
        "    print(','.join(b.pick(k) for k in keys))\n"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(out.stdout)
    assert len(outputs) == 1
