"""Load-balancing algorithms: pure, synchronous, one small object per pool.

The engine builds a balancer from the pool's *eligible* backends (name → weight, in config order)
and replaces it whole whenever that set or a weight changes, so a balancer never needs a lock and
in-flight requests finish on the one they started with. ``pick`` runs on every request and is O(n)
at worst for the small n of a pool (O(log n) for the hash algorithms); ``explain`` formats the
reason shown in the request trace and is only called when someone asks.

Weight 0 means "in the pool but out of rotation": such a backend is never picked.
"""

from __future__ import annotations

import random
import struct
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from hashlib import blake2b
from typing import Protocol
from zlib import crc32

from workbench.config.model import ALGORITHMS

__all__ = [
    "ALGORITHMS",
    "Balancer",
    "ConsistentHash",
    "IpHash",
    "LeastConnections",
    "RandomTwo",
    "RoundRobin",
    "SmoothWeightedRoundRobin",
    "make_balancer",
]

Inflight = Callable[[str], int]
"""Returns the number of requests currently in flight to a backend."""

_EMPTY: frozenset[str] = frozenset()

VNODES_PER_WEIGHT = 100
"""Points a backend puts on the consistent-hash ring per unit of weight."""


class Balancer(Protocol):
    """What the engine needs from every algorithm."""

    algorithm: str
    names: tuple[str, ...]
    """Backends in rotation (weight > 0), in config order."""
    steady: bool
    """``explain(name)`` depends on the name alone (not on the last pick): callers may keep it."""

    def pick(self, key: str | None = None, exclude: AbstractSet[str] = _EMPTY) -> str | None:
        """The backend for the next request, skipping ``exclude``; ``None`` if none is left."""
        ...

    def explain(self, name: str) -> str:
        """A short human reason for the trace, about the most recent pick of ``name``."""
        ...


def _no_inflight(_name: str) -> int:
    return 0


def _in_rotation(weights: Mapping[str, int]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Names and weights of the backends that may be picked, in config order."""
    names: list[str] = []
    ws: list[int] = []
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise ValueError(f"weight of {name!r}: expected an integer ≥ 0, got {weight!r}")
        if weight > 0:
            names.append(name)
            ws.append(weight)
    return tuple(names), tuple(ws)


def _cumulative(ws: Sequence[int]) -> list[int]:
    out: list[int] = []
    acc = 0
    for w in ws:
        acc += w
        out.append(acc)
    return out


class RoundRobin:
    """Each backend in rotation in turn, ignoring the weight value."""

    __slots__ = ("names", "_n", "_next")
    algorithm = "round_robin"
    steady = True

    def __init__(self, weights: Mapping[str, int]) -> None:
        self.names, _ = _in_rotation(weights)
        self._n = len(self.names)
        self._next = 0

    def pick(self, key: str | None = None, exclude: AbstractSet[str] = _EMPTY) -> str | None:
        n = self._n
        if not n:
            return None
        i = self._next
        if not exclude:
            self._next = i + 1 if i + 1 < n else 0
            return self.names[i]
        for step in range(n):
            j = (i + step) % n
            name = self.names[j]
            if name not in exclude:
                self._next = (j + 1) % n
                return name
        return None

    def explain(self, name: str) -> str:
        return f"round robin, {self._n} in rotation"


class SmoothWeightedRoundRobin:
    """nginx's smooth weighted round robin: each pick, every candidate's ``current`` grows by its
    weight, the largest wins (first in config order on a tie) and gives back the candidates' total.

    Over one cycle of ``sum(weights)`` picks each backend gets exactly its weight, interleaved
    rather than in bursts: 5:1:1 gives a,a,b,a,c,a,a.
    """

    __slots__ = ("names", "_weights", "_current", "_total", "_n")
    algorithm = "weighted_round_robin"
    steady = True

    def __init__(self, weights: Mapping[str, int]) -> None:
        self.names, self._weights = _in_rotation(weights)
        self._n = len(self.names)
        self._current = [0] * self._n
        self._total = sum(self._weights)

    def pick(self, key: str | None = None, exclude: AbstractSet[str] = _EMPTY) -> str | None:
        cur = self._current
        ws = self._weights
        if not exclude:
            if not self._n:
                return None
            # The currents always sum to 0 before the additions, so after them the largest is
            # positive and 0 is a safe starting bar for the strict ">" (which keeps ties first).
            best = 0
            top = 0
            for i in range(self._n):
                c = cur[i] + ws[i]
                cur[i] = c
                if c > top:
                    best = i
                    top = c
            cur[best] -= self._total
            return self.names[best]
        # A retry: excluded backends sit this round out entirely, as nginx skips "tried" peers.
        best = -1
        top = 0
        total = 0
        for i, name in enumerate(self.names):
            if name in exclude:
                continue
            c = cur[i] + ws[i]
            cur[i] = c
            total += ws[i]
            if best < 0 or c > top:
                best = i
                top = c
        if best < 0:
            return None
        cur[best] -= total
        return self.names[best]

    def explain(self, name: str) -> str:
        try:
            weight = self._weights[self.names.index(name)]
        except ValueError:
            return "smooth weighted rr"
        return f"smooth weighted rr, weight {weight} of {self._total}"


class LeastConnections:
    """The backend with the fewest requests in flight per unit of weight.

    Ties (an idle pool, or a fast pool whose in-flight count is always 0 when we look) are broken
    by smooth weighted round robin among the tied backends, as nginx does, so an idle pool still
    spreads its requests and still honours the weights.
    """

    __slots__ = ("names", "_weights", "_current", "_loads", "_inflight", "_n", "_tied")
    algorithm = "least_connections"
    steady = False

    def __init__(self, weights: Mapping[str, int], inflight: Inflight | None = None) -> None:
        self.names, self._weights = _in_rotation(weights)
        self._n = len(self.names)
        self._current = [0] * self._n
        # In-flight counts seen by the last pick (-1 = excluded), reused to avoid allocating and
        # kept so that explain() reports what the decision was based on.
        self._loads = [-1] * self._n
        self._inflight = inflight or _no_inflight
        self._tied = False

    def pick(self, key: str | None = None, exclude: AbstractSet[str] = _EMPTY) -> str | None:
        names = self.names
        ws = self._weights
        loads = self._loads
        inflight = self._inflight
        best = -1
        best_load = 0
        best_w = 1
        tied = False
        for i in range(self._n):
            name = names[i]
            if exclude and name in exclude:
                loads[i] = -1
                continue
            load = inflight(name)
            loads[i] = load
            w = ws[i]
            # load/w < best_load/best_w without floats.
            lhs = load * best_w
            rhs = best_load * w
            if best < 0 or lhs < rhs:
                best, best_load, best_w, tied = i, load, w, False
            elif lhs == rhs:
                tied = True
        if best < 0:
            return None
        if tied:
            cur = self._current
            total = 0
            chosen = best
            top = 0
            for i in range(best, self._n):
                load = loads[i]
                if load < 0 or load * best_w != best_load * ws[i]:
                    continue
                c = cur[i] + ws[i]
                cur[i] = c
                total += ws[i]
                if i == best or c > top:
                    chosen = i
                    top = c
            cur[chosen] -= total
            best = chosen
        self._tied = tied
        return names[best]

    def explain(self, name: str) -> str:
        try:
            i = self.names.index(name)
        except ValueError:
            return "least connections"
        load = max(self._loads[i], 0)
        tie = ", tie broken by weighted rr" if self._tied else ""
        return f"least connections: {load} in flight / weight {self._weights[i]}{tie}"


def _draw_pair(cum: list[int], ws: Sequence[int], rnd: Callable[[], float]) -> tuple[int, int]:
    """Two distinct indexes, each drawn with probability proportional to its weight.

    The second draw is taken from the distribution with the first removed (one random number,
    shifted past the first's interval), so a dominant weight cannot make it loop.
    """
    n = len(cum)
    total = cum[-1]
    i = min(bisect_right(cum, rnd() * total), n - 1)
    wi = ws[i]
    lo = cum[i] - wi
    r = rnd() * (total - wi)
    if r >= lo:
        r += wi
    # Float rounding can land r exactly on total; the last index is then the right answer (it is
    # never i here, because r was only shifted when i lies before the end).
    j = min(bisect_right(cum, r), n - 1)
    return i, j


class RandomTwo:
    """Power of two choices: draw two distinct backends by weight, send to the less loaded one
    (in flight per unit of weight). Nearly as good as least connections, with no global scan."""

    __slots__ = ("names", "_weights", "_cum", "_total", "_n", "_inflight", "_random", "_last")
    algorithm = "random_two"
    steady = False

    def __init__(
        self,
        weights: Mapping[str, int],
        inflight: Inflight | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.names, self._weights = _in_rotation(weights)
        self._n = len(self.names)
        self._cum = _cumulative(self._weights)
        self._total = self._cum[-1] if self._cum else 0
        self._inflight = inflight or _no_inflight
        self._random = (rng or random.Random()).random
        # (chosen, its load, other, its load) of the last pick, for explain().
        self._last: tuple[str, int, str, int] | None = None

    def pick(self, key: str | None = None, exclude: AbstractSet[str] = _EMPTY) -> str | None:
        names: Sequence[str] = self.names
        ws: Sequence[int] = self._weights
        n = self._n
        if exclude:
            # Retries are rare, so this path may allocate.
            keep = [i for i, name in enumerate(names) if name not in exclude]
            names = [names[i] for i in keep]
            ws = [ws[i] for i in keep]
            n = len(names)
        if n < 2:
            self._last = None
            return names[0] if n else None
        if exclude:
            i, j = _draw_pair(_cumulative(ws), ws, self._random)
        else:
            # _draw_pair inlined: this is the per-request path.
            cum = self._cum
            total = self._total
            rnd = self._random
            i = bisect_right(cum, rnd() * total)
            if i == n:
                i = n - 1
            wi = ws[i]
            r = rnd() * (total - wi)
            if r >= cum[i] - wi:
                r += wi
            j = bisect_right(cum, r)
            if j == n:
                j = n - 1
        a, b = names[i], names[j]
        la, lb = self._inflight(a), self._inflight(b)
        if lb * ws[i] < la * ws[j]:
            self._last = (b, lb, a, la)
            return b
        self._last = (a, la, b, lb)
        return a

    def explain(self, name: str) -> str:
        last = self._last
        if last is None:
            return "power of two choices: the only candidate"
        if last[0] != name:
            return "power of two choices"
        return f"power of two choices: {last[1]} vs {last[3]} in flight (other: {last[2]})"


def _ip_slot(key: str, total: int) -> int:
    """A stable position in ``range(total)`` for ``key``, the same in every process."""
    # crc32 is fast but its low bits follow the last characters closely; a multiplicative mix and
    # taking the high bits (Lemire's range reduction) spreads similar addresses evenly.
    h = (crc32(key.encode()) * 0x9E3779B1) & 0xFFFFFFFF
    return (h * total) >> 32


class IpHash:
    """Each client address always goes to the same backend (while the pool stays the same).

    The address is hashed onto ``range(sum(weights))``, so shares follow the weights; changing the
    pool remaps most clients (consistent_hash is the algorithm that avoids that). If the chosen
    backend is excluded, the next one in config order takes over. No key: round robin.
    """

    __slots__ = ("names", "_weights", "_cum", "_total", "_n", "_rr", "_last_key", "_walked")
    algorithm = "ip_hash"
    steady = False

    def __init__(self, weights: Mapping[str, int]) -> None:
        self.names, self._weights = _in_rotation(weights)
        self._n = len(self.names)
        self._cum = _cumulative(self._weights)
        self._total = self._cum[-1] if self._cum else 0
        self._rr = RoundRobin(weights)
        self._last_key: str | None = None
        self._walked = False

    def pick(self, key: str | None = None, exclude: AbstractSet[str] = _EMPTY) -> str | None:
        self._last_key = key
        self._walked = False
        if key is None:
            return self._rr.pick(None, exclude)
        n = self._n
        if not n:
            return None
        i = bisect_right(self._cum, _ip_slot(key, self._total))
        if not exclude:
            return self.names[i]
        for step in range(n):
            name = self.names[(i + step) % n]
            if name not in exclude:
                self._walked = step > 0
                return name
        return None

    def explain(self, name: str) -> str:
        if self._last_key is None:
            return "ip hash: no client address, round robin"
        walked = ", first choice excluded" if self._walked else ""
        return f"ip hash of {self._last_key}{walked}"


def _ring_hash(data: str) -> int:
    return int.from_bytes(blake2b(data.encode(), digest_size=8).digest(), "big")


_EIGHT_POSITIONS = struct.Struct(">8Q")


def _ring_points(name: str, count: int) -> list[int]:
    """The first ``count`` ring positions of backend ``name``.

    Point k depends only on ``name`` and k, so a weight change adds or removes points without
    moving the others. One 64-byte digest yields eight positions, which keeps rebuilding a big ring
    (50 backends of weight 10, 50,000 points) to about 50 ms.
    """
    out: list[int] = []
    for block in range((count + 7) // 8):
        digest = blake2b(f"{name}#{block}".encode(), digest_size=64).digest()
        out.extend(_EIGHT_POSITIONS.unpack(digest))
    del out[count:]
    return out


class ConsistentHash:
    """A hash ring with ``100 × weight`` virtual nodes per backend; a key goes to the first point
    clockwise from its hash.

    A point's position depends only on the backend's name and the point's number, so removing one
    of N backends moves only the keys it owned (about 1/N), and adding one takes about 1/(N+1).
    An excluded owner passes the key on clockwise. No key: round robin.
    """

    __slots__ = ("names", "_points", "_owners", "_rr", "_walked", "_keyed")
    algorithm = "consistent_hash"
    steady = False

    def __init__(
        self, weights: Mapping[str, int], vnodes_per_weight: int = VNODES_PER_WEIGHT
    ) -> None:
        self.names, ws = _in_rotation(weights)
        # Sorting plain ints is several times faster than sorting (position, name) pairs. Two
        # backends sharing a 64-bit position is vanishingly rare; the later one in config order
        # then owns it, which is still the same answer in every process.
        owner_at: dict[int, str] = {}
        for name, w in zip(self.names, ws, strict=True):
            for pos in _ring_points(name, w * vnodes_per_weight):
                owner_at[pos] = name
        self._points = sorted(owner_at)
        self._owners = [owner_at[pos] for pos in self._points]
        self._rr = RoundRobin(weights)
        self._walked = False
        self._keyed = True

    def pick(self, key: str | None = None, exclude: AbstractSet[str] = _EMPTY) -> str | None:
        self._walked = False
        self._keyed = key is not None
        if key is None:
            return self._rr.pick(None, exclude)
        points = self._points
        m = len(points)
        if not m:
            return None
        i = bisect_right(points, _ring_hash(key))
        if i == m:
            i = 0
        owner = self._owners[i]
        if not exclude or owner not in exclude:
            return owner
        # Checking first keeps the clockwise walk from circling a ring of thousands of points.
        if all(name in exclude for name in self.names):
            return None
        self._walked = True
        owners = self._owners
        while owners[i] in exclude:
            i = i + 1 if i + 1 < m else 0
        return owners[i]

    def explain(self, name: str) -> str:
        if not self._keyed:
            return "consistent hash: no key, round robin"
        walked = ", owner excluded, next clockwise" if self._walked else ""
        return f"consistent hash, ring of {len(self._points)} points{walked}"


def make_balancer(
    algorithm: str,
    weights: Mapping[str, int],
    inflight: Inflight | None = None,
    rng: random.Random | None = None,
) -> Balancer:
    """A fresh balancer for the eligible backends ``weights`` (name → weight, config order).

    ``inflight`` (least_connections, random_two) reports a backend's open requests; ``rng`` makes
    random_two reproducible. Raises ``ValueError`` for an unknown algorithm or a negative weight.
    """
    if algorithm == "round_robin":
        return RoundRobin(weights)
    if algorithm == "weighted_round_robin":
        return SmoothWeightedRoundRobin(weights)
    if algorithm == "least_connections":
        return LeastConnections(weights, inflight)
    if algorithm == "random_two":
        return RandomTwo(weights, inflight, rng)
    if algorithm == "ip_hash":
        return IpHash(weights)
    if algorithm == "consistent_hash":
        return ConsistentHash(weights)
    raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}")
