"""The forward proxy's per-origin stats, bounded: the busiest one by one, the rest together."""

from __future__ import annotations

from workbench.engine.observe.track import Track
from workbench.engine.observe.window import Clock

OTHER_ORIGINS = "other origins"
"""Key of the aggregate of the forward proxy's origins not tracked one by one.

It cannot clash with a backend name (no spaces allowed) nor with an origin (``host:port``)."""


class Origins:
    """Per-origin tracks of the forward proxy, at most ``limit`` of them, plus one aggregate.

    Clients choose origins, so their number is unbounded. A request to a tracked origin counts in
    its track; any other request counts in the aggregate and as a candidate. Once untracked
    requests reach ``limit`` since the last ranking (amortised O(1) per request), the busiest
    candidates take the places of tracked origins that were less busy (a tracked origin's
    busyness halves at each ranking, so it remembers earlier periods); a displaced origin's counts
    move into the aggregate, so totals are never lost.
    """

    __slots__ = ("limit", "seconds", "clock", "tracks", "other", "candidates", "untracked")

    def __init__(self, limit: int, seconds: int, clock: Clock) -> None:
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self.tracks: dict[str, Track] = {}
        self.other = Track(seconds, clock)
        self.candidates: dict[str, int] = {}
        self.untracked = 0

    def track(self, origin: str) -> Track:
        """The track a request to ``origin`` counts in. O(1) amortised."""
        t = self.tracks.get(origin)
        if t is not None:
            t.recent += 1
            return t
        if len(self.tracks) < self.limit:
            t = self.tracks[origin] = Track(self.seconds, self.clock)
            t.recent = 1
            return t
        cand = self.candidates
        cand[origin] = cand.get(origin, 0) + 1
        self.untracked += 1
        if self.untracked >= self.limit or len(cand) > 2 * self.limit:
            self.rank()
        return self.other

    def rank(self) -> None:
        """Swap busier candidates in for less busy tracked origins; start a new period."""
        cand = sorted(self.candidates.items(), key=lambda kv: kv[1], reverse=True)
        cand = cand[: self.limit]
        tracked = sorted(self.tracks.items(), key=lambda kv: kv[1].recent)
        for (name, busy), (old, track) in zip(cand, tracked, strict=False):
            # One visit is no sign of a busy origin: a stream of one-off origins (a crawler)
            # then swaps nothing, and costs a dict increment per request.
            if busy < 2 or busy <= track.recent:
                break
            self.other.absorb(track)
            del self.tracks[old]
            # The requests that made it a candidate are already counted in the aggregate.
            new = self.tracks[name] = Track(self.seconds, self.clock)
            new.recent = busy
        for t in self.tracks.values():
            t.recent //= 2  # decay: busyness remembers earlier periods, fading
        self.candidates.clear()
        self.untracked = 0

    def items(self) -> list[tuple[str, Track]]:
        """Tracked origins, then the aggregate when it has counted anything."""
        out = list(self.tracks.items())
        if self.other.requests:
            out.append((OTHER_ORIGINS, self.other))
        return out
