"""Typed, frozen views of the engine's live state: all the UI ever reads.

:func:`workbench.engine.snapshot_data.state_data` builds one plain-data dict from a live engine
per tick (the admin API's ``GET /api/state`` sends the same dict as JSON);
:meth:`EngineSnapshot.from_dict` turns it into frozen dataclasses. Because the views start from
plain data, the same views can be fed from a headless engine over HTTP. No view refers to a live
engine object, so a view can keep a snapshot as long as it likes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

SHARE_WINDOW = 10
"""Seconds over which a backend's actual share is measured: short, so a change shows at once."""

EQUAL_SHARES = frozenset({"round_robin"})
WEIGHTED_SHARES = frozenset({"weighted_round_robin"})
"""Algorithms whose share is known in advance; the others depend on the traffic itself."""


@dataclass(frozen=True, slots=True)
class ListenerView:
    """One listening proxy (or the admin API)."""

    kind: str
    """``reverse``, ``forward`` or ``admin``."""
    url: str
    """Where it listens, e.g. ``http://127.0.0.1:8080``."""


@dataclass(frozen=True, slots=True)
class WindowView:
    """Traffic over the last ``over`` seconds (all proxies, or one)."""

    over: int
    requests: int = 0
    rate: float = 0.0
    errors: int = 0
    error_rate: float = 0.0
    status_classes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProxyView:
    """One running proxy: its switches and its traffic."""

    kind: str
    """``reverse`` or ``forward``."""
    listen: str
    cache_enabled: bool
    privacy: str | None = None
    """Forward proxy only: ``transparent``, ``anonymous`` or ``elite``."""
    tunnels: int = 0
    windows: Mapping[int, WindowView] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthCheckView:
    """The last active health check of a backend."""

    time: float
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FaultView:
    """Faults injected into a demo backend (classroom only)."""

    killed: bool = False
    extra_latency: float = 0.0
    error_rate: float = 0.0
    health_fail: bool = False
    flap: bool = False

    @property
    def any(self) -> bool:
        """True when at least one fault is on."""
        return bool(
            self.killed or self.extra_latency or self.error_rate or self.health_fail or self.flap
        )


@dataclass(frozen=True, slots=True)
class BackendView:
    """One backend of a pool as the UI shows it."""

    pool: str
    name: str
    url: str
    weight: int
    state: str
    """``up``, ``down``, ``ejected``, ``draining`` or ``disabled``."""
    enabled: bool = True
    draining: bool = False
    state_reason: str = ""
    inflight: int = 0
    last_check: HealthCheckView | None = None
    expected_share: float | None = None
    """What the algorithm promises (None: it depends on the traffic, e.g. least connections)."""
    actual_share: float = 0.0
    """Share of the pool's requests over the last :data:`SHARE_WINDOW` seconds."""
    rate: float = 0.0
    """Requests per second over the last 10 s."""
    errors_60s: int = 0
    p50: float | None = None
    p95: float | None = None
    fault: FaultView | None = None
    """Demo faults (None when the backend is not a classroom demo backend)."""

    @property
    def host_port(self) -> str:
        """``127.0.0.1:9001``: the URL without its scheme."""
        return self.url.split("://", 1)[-1].rstrip("/")


@dataclass(frozen=True, slots=True)
class PoolView:
    """A reverse-proxy pool: its algorithm and backends."""

    name: str
    algorithm: str
    health_checks: bool
    retries: int = 0
    backends: tuple[BackendView, ...] = ()

    @property
    def up(self) -> int:
        """Backends taking traffic."""
        return sum(1 for b in self.backends if b.state == "up")


@dataclass(frozen=True, slots=True)
class RuleView:
    """One rule in evaluation order, with its hit counter."""

    name: str
    when: str
    action: str
    phase: str = "request"
    enabled: bool = True
    hits: int = 0
    status: int | None = None
    location: str | None = None
    header: str | None = None
    value: str | None = None
    delay: float | None = None

    def as_config(self) -> dict[str, Any]:
        """The rule as a config-file mapping (what ``control.add_rule`` accepts)."""
        return {
            "name": self.name,
            "when": self.when,
            "action": self.action,
            "phase": self.phase,
            "enabled": self.enabled,
            "status": self.status,
            "location": self.location,
            "header": self.header,
            "value": self.value,
            "delay": self.delay,
        }


@dataclass(frozen=True, slots=True)
class CacheEntryView:
    """One stored response (one variant of a URL when the origin says ``Vary``)."""

    key: str
    url: str
    status: int
    size: int
    age: float
    ttl: float
    """Seconds of freshness left (negative: stale)."""
    hits: int = 0
    vary: tuple[tuple[str, str], ...] = ()
    """The request header values this variant was stored for."""
    set_cookie: bool = False
    """The stored response carries ``Set-Cookie``: every client served this copy gets the cookie."""
    targeted: str | None = None
    """The targeted cache-control field (e.g. ``CDN-Cache-Control``) that decided its freshness."""


@dataclass(frozen=True, slots=True)
class CacheView:
    """The shared HTTP cache: counters, fill and hit ratios."""

    hits: int = 0
    misses: int = 0
    stale: int = 0
    revalidated: int = 0
    bypass: int = 0
    uncacheable: int = 0
    stores: int = 0
    evictions: int = 0
    entries: int = 0
    bytes: int = 0
    max_size: int = 0
    max_object_size: int = 0
    bytes_served: int = 0
    collapsed: int = 0
    hit_ratio_10s: float | None = None
    hit_ratio_60s: float | None = None
    hit_ratio: float | None = None
    """All time; None before the first cacheable request."""

    @property
    def served(self) -> int:
        """Answers that came from the cache (fresh, stale or confirmed by a 304)."""
        return self.hits + self.stale + self.revalidated

    @property
    def lookups(self) -> int:
        """Cacheable requests looked up."""
        return self.served + self.misses


@dataclass(frozen=True, slots=True)
class RecordsView:
    """The engine's request history (a ring buffer)."""

    total: int = 0
    """Records ever made."""
    stored: int = 0
    dropped: int = 0
    """Records that aged out of the ring."""
    capacity: int = 10_000


@dataclass(frozen=True, slots=True)
class EventView:
    """One line of the engine's event log (health changes, edits, info)."""

    time: float
    kind: str
    message: str
    who: str = ""


@dataclass(frozen=True, slots=True)
class DemoView:
    """The classroom demo: traffic generator and per-backend faults."""

    traffic_running: bool = False
    traffic_rate: float = 0.0
    traffic_sent: int = 0
    faults: Mapping[str, FaultView] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class EngineSnapshot(Mapping[str, Any]):
    """Everything the UI shows, at one instant.

    Read the typed attributes. It is also a read-only mapping of its plain-data form, so code
    written against the dict (the lesson checks, the admin API) reads it unchanged.
    """

    time: float
    started_at: float
    listeners: tuple[ListenerView, ...]
    windows: Mapping[int, WindowView]
    """All proxies together over 1, 10 and 60 s."""
    proxies: tuple[ProxyView, ...]
    pools: tuple[PoolView, ...]
    rules: tuple[RuleView, ...]
    cache: CacheView | None
    records: RecordsView
    events: tuple[EventView, ...]
    internal_errors: int = 0
    bad_requests: int = 0
    demo: DemoView | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The plain-data form (JSON for the admin API). Read only."""

    # -- convenience ---------------------------------------------------------------------------
    @property
    def rate(self) -> float | None:
        """Requests per second over the last second (None before the first tick)."""
        w = self.windows.get(1)
        return None if w is None else w.rate

    def listener(self, kind: str) -> str | None:
        """The URL of the ``kind`` listener, if it runs."""
        return next((lst.url for lst in self.listeners if lst.kind == kind), None)

    def proxy(self, kind: str) -> ProxyView | None:
        """The running ``reverse`` or ``forward`` proxy."""
        return next((p for p in self.proxies if p.kind == kind), None)

    def pool(self, name: str) -> PoolView | None:
        """The pool called ``name``."""
        return next((p for p in self.pools if p.name == name), None)

    @property
    def backends(self) -> tuple[BackendView, ...]:
        """Every backend of every pool."""
        return tuple(b for p in self.pools for b in p.backends)

    # -- the plain-data form, read only -----------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def to_dict(self) -> dict[str, Any]:
        """The plain-data (JSON-ready) form."""
        return dict(self.raw)

    # -- building --------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineSnapshot:
        """Typed views of the plain-data snapshot (:func:`state_data` or its JSON)."""
        stats = data.get("stats") or {}
        backend_stats = stats.get("backends") or {}
        demo_data = data.get("demo")
        faults = {name: _fault(f) for name, f in ((demo_data or {}).get("backends") or {}).items()}
        proxies_data = data.get("proxies") or {}
        per_proxy = stats.get("proxies") or {}
        listeners = data.get("listeners") or {}
        proxies = tuple(
            ProxyView(
                kind=kind,
                listen=listeners.get(kind, ""),
                cache_enabled=bool(info.get("cache")),
                privacy=info.get("privacy"),
                tunnels=int(info.get("tunnels") or 0),
                windows=_windows(per_proxy.get(kind)),
            )
            for kind, info in proxies_data.items()
            if info is not None
        )
        pools = tuple(
            _pool(name, p, backend_stats, faults) for name, p in (data.get("pools") or {}).items()
        )
        cache_data = data.get("cache")
        cache = None
        if cache_data is not None:
            known = CacheView.__dataclass_fields__
            cache = CacheView(**{k: v for k, v in cache_data.items() if k in known})
        traffic = (demo_data or {}).get("traffic") or {}
        records = data.get("records") or {}
        errors = data.get("errors") or {}
        return cls(
            time=float(data.get("time") or 0.0),
            started_at=float(data.get("started_at") or 0.0),
            listeners=tuple(ListenerView(k, v) for k, v in listeners.items()),
            windows=_windows(stats.get("windows")),
            proxies=proxies,
            pools=pools,
            rules=tuple(_rule(r) for r in data.get("rules") or ()),
            cache=cache,
            records=RecordsView(
                total=int(records.get("total") or 0),
                stored=int(records.get("stored") or 0),
                dropped=int(records.get("dropped") or 0),
                capacity=int(records.get("capacity") or 10_000),
            ),
            events=tuple(
                EventView(
                    float(e.get("time") or 0.0),
                    e.get("kind", ""),
                    e.get("message", ""),
                    e.get("who") or "",
                )
                for e in data.get("events") or ()
            ),
            internal_errors=int(errors.get("internal") or 0),
            bad_requests=int(errors.get("bad_requests") or 0),
            demo=(
                None
                if demo_data is None
                else DemoView(
                    traffic_running=bool(traffic.get("running")),
                    traffic_rate=float(traffic.get("rate") or 0.0),
                    traffic_sent=int(traffic.get("sent") or 0),
                    faults=faults,
                )
            ),
            raw=data,
        )

    @cached_property
    def backends_up(self) -> tuple[int, int]:
        """``(backends up, backends)`` over every pool."""
        every = self.backends
        return sum(1 for b in every if b.state == "up"), len(every)


def cache_entries(entries: Any) -> tuple[CacheEntryView, ...]:
    """Typed views of the cache's entry dicts (most recently used first)."""
    out = []
    for e in entries:
        out.append(
            CacheEntryView(
                key=str(e.get("key", e.get("url", ""))),
                url=str(e.get("url", "")),
                status=int(e.get("status") or 0),
                size=int(e.get("size") or 0),
                age=float(e.get("age") or 0.0),
                ttl=float(e.get("ttl") or 0.0),
                hits=int(e.get("hits") or 0),
                vary=tuple(sorted((e.get("vary") or {}).items())),
                set_cookie=bool(e.get("set_cookie")),
                targeted=e.get("targeted") or None,
            )
        )
    return tuple(out)


def expected_share(algorithm: str, weight: int, state: str, up_weights: list[int]) -> float | None:
    """The share an algorithm promises a backend; None when only the traffic decides it.

    A weight of 0 takes a backend out of rotation for every algorithm, round robin included.
    """
    if algorithm in EQUAL_SHARES:
        in_rotation = sum(1 for w in up_weights if w > 0)
        if state != "up" or weight <= 0 or not in_rotation:
            return 0.0
        return 1.0 / in_rotation
    if algorithm in WEIGHTED_SHARES:
        total = sum(up_weights)
        return weight / total if total and state == "up" else 0.0
    return None


# -- helpers ---------------------------------------------------------------------------------------
def _windows(data: Mapping[Any, Any] | None) -> dict[int, WindowView]:
    out = {}
    for over, w in (data or {}).items():
        over = int(over)  # JSON turns the keys into strings
        out[over] = WindowView(
            over=over,
            requests=int(w.get("requests") or 0),
            rate=float(w.get("rate") or 0.0),
            errors=int(w.get("errors") or 0),
            error_rate=float(w.get("error_rate") or 0.0),
            status_classes=dict(w.get("status_classes") or {}),
        )
    return out


def _fault(f: Mapping[str, Any]) -> FaultView:
    return FaultView(
        killed=bool(f.get("killed")),
        extra_latency=float(f.get("extra_latency") or 0.0),
        error_rate=float(f.get("error_rate") or 0.0),
        health_fail=bool(f.get("health_fail")),
        flap=bool(f.get("flap")),
    )


def _recent(series: Any, seconds: int) -> int:
    return int(sum((series or ())[-seconds:]))


def _pool(
    name: str,
    p: Mapping[str, Any],
    backend_stats: Mapping[str, Any],
    faults: Mapping[str, FaultView],
) -> PoolView:
    algorithm = p.get("algorithm", "")
    raw_backends = p.get("backends") or ()
    up_weights = [int(b.get("weight") or 0) for b in raw_backends if b.get("state") == "up"]

    def stats_of(b: Mapping[str, Any]) -> Mapping[str, Any]:
        # The engine embeds each backend's stats; older or remote forms keep them apart.
        return b.get("stats") or backend_stats.get(b.get("name")) or {}

    recent = {
        b.get("name"): _recent(stats_of(b).get("series_60s"), SHARE_WINDOW) for b in raw_backends
    }
    total = sum(recent.values())
    backends = []
    for b in raw_backends:
        bname = b.get("name", "")
        bs = stats_of(b)
        check = b.get("last_check")
        backends.append(
            BackendView(
                pool=name,
                name=bname,
                url=b.get("url", ""),
                weight=int(b.get("weight") or 0),
                state=b.get("state", "?"),
                enabled=bool(b.get("enabled", True)),
                draining=bool(b.get("draining", False)),
                state_reason=b.get("state_reason") or "",
                inflight=int(b.get("inflight", bs.get("inflight", 0)) or 0),
                last_check=(
                    HealthCheckView(
                        float(check.get("time") or 0.0),
                        bool(check.get("ok")),
                        check.get("detail") or "",
                    )
                    if check
                    else None
                ),
                expected_share=expected_share(
                    algorithm, int(b.get("weight") or 0), b.get("state", ""), up_weights
                ),
                actual_share=recent[bname] / total if total else 0.0,
                rate=float(bs.get("rate_10s") or 0.0),
                errors_60s=int(bs.get("errors_60s") or 0),
                p50=bs.get("p50"),
                p95=bs.get("p95"),
                fault=faults.get(bname),
            )
        )
    return PoolView(
        name=name,
        algorithm=algorithm,
        health_checks=bool(p.get("health")),
        retries=int(p.get("retries") or 0),
        backends=tuple(backends),
    )


def _rule(r: Mapping[str, Any]) -> RuleView:
    return RuleView(
        name=r.get("name", ""),
        when=r.get("when", ""),
        action=r.get("action", ""),
        phase=r.get("phase", "request"),
        enabled=bool(r.get("enabled", True)),
        hits=int(r.get("hits") or 0),
        status=r.get("status"),
        location=r.get("location"),
        header=r.get("header"),
        value=r.get("value"),
        delay=r.get("delay"),
    )


@dataclass(frozen=True, slots=True)
class DryRunLine:
    """What one rule would do for a made-up request (``control.dry_run``)."""

    name: str
    phase: str
    verdict: str
    """``fires``, ``no match``, ``disabled, would match``, ``disabled`` or ``not reached``."""
    stopped_by: str | None = None
    """For ``not reached``: the rule that ended the evaluation first."""
