"""The Cache view: how often the proxy answered from its cache, and what it holds right now.

The hit ratio counts every answer that came from the cache (fresh hits, stale answers and
entries the origin confirmed with a 304) against every lookup. The windowed ratios and the
sparkline come from samples this view keeps itself, one per refresh, so the engine's cache only
has to keep plain counters.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from workbench.tui.screens.choose import ChooseScreen
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.views.base import View
from workbench.tui.widgets.bars import Ring, fill_bar, human_age, human_bytes, sparkline

if TYPE_CHECKING:
    from workbench.engine.control import Result
    from workbench.engine.engine import Engine

ENTRY_LIMIT = 200
ENTRIES_EVERY = 1.0
"""Seconds between refreshes of the entry table (listing entries is not free)."""
NOT_CONFIGURED = "cache not configured"

_COLUMNS = (("url", "URL"), ("size", "size"), ("age", "age"), ("ttl", "TTL"), ("hits", "hits"))


def pick(source: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` present in a dict (or as an attribute of an object)."""
    for name in names:
        if isinstance(source, dict):
            if source.get(name) is not None:
                return source[name]
        elif getattr(source, name, None) is not None:
            return getattr(source, name)
    return default


def cache_counts(stats: dict[str, Any]) -> tuple[int, int]:
    """``(answers served from the cache, lookups)`` from the cache's counters."""
    served = sum(int(stats.get(k) or 0) for k in ("hits", "stale", "revalidated"))
    return served, served + int(stats.get("misses") or 0)


def ratio_text(ratio: float | None) -> str:
    return "  —" if ratio is None else f"{ratio * 100:3.0f}%"


class CacheView(View):
    """Hit ratio, counters, store fill and the entries of the HTTP cache.

    | Key | Action |
    | :- | :- |
    | `p` | Purge the whole cache (asks first). |
    | `c` | Turn caching on or off for the reverse or the forward proxy. |
    """

    view_id: ClassVar[str] = "cache"
    title: ClassVar[str] = "Cache"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "purge", "Purge", id="cache_purge", tooltip="Remove every cached entry"),
        Binding("c", "toggle_caching", "On/off", id="cache_toggle", tooltip="Caching per proxy"),
    ]

    DEFAULT_CSS = """
    CacheView { layout: vertical; }
    CacheView > #cache-summary { height: auto; }
    CacheView > DataTable { height: 1fr; }
    """

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._samples: deque[tuple[float, int, int]] = deque(maxlen=600)
        """(snapshot time, served, lookups): enough for a 60 s window at up to 10 Hz."""
        self._ratio_ring = Ring(120)
        self._entries_at = float("-inf")
        self._entry_keys: list[str] = []
        self._proxies: dict[str, Any] = {}
        # Created up front: a refresh racing mount or teardown must not fail a query.
        self._summary_box = Static(NOT_CONFIGURED, id="cache-summary")
        self._table: DataTable = DataTable(
            cursor_type="row", zebra_stripes=True, id="cache-entries"
        )

    def compose(self) -> ComposeResult:
        # Columns need a running app (to measure labels), so they are added here.
        for key, label in _COLUMNS:
            self._table.add_column(label, key=key)
        yield self._summary_box
        yield self._table

    def focus_default(self) -> None:
        self._table.focus()

    # -- refresh ---------------------------------------------------------------------------
    def update_view(self, snapshot: dict[str, Any]) -> None:
        now = float(snapshot.get("time") or 0.0)
        self._proxies = snapshot.get("proxies") or {}
        stats = snapshot.get("cache")
        summary = self._summary_box
        table = self._table
        self.set_class(stats is None, "-off")
        table.display = stats is not None
        if stats is None:
            summary.update(self._off_text())
            return
        served, lookups = cache_counts(stats)
        self._samples.append((now, served, lookups))
        # The cache keeps its own windowed ratios; the view's samples are the fallback for a
        # cache that reports only counters.
        r10 = stats["hit_ratio_10s"] if "hit_ratio_10s" in stats else self._window_ratio(now, 10)
        r60 = stats["hit_ratio_60s"] if "hit_ratio_60s" in stats else self._window_ratio(now, 60)
        if r10 is not None:
            self._ratio_ring.add(r10)
        summary.update(self._summary(stats, served, lookups, r10, r60))
        if now - self._entries_at >= ENTRIES_EVERY or now < self._entries_at:
            self._entries_at = now
            cache = getattr(self.engine, "cache", None)
            entries = cache.entries(limit=ENTRY_LIMIT) if cache is not None else []
            self.show_entries(entries, now)

    def _window_ratio(self, now: float, window: float) -> float | None:
        """Share of lookups answered from the cache over the last ``window`` seconds."""
        if not self._samples:
            return None
        _, served_now, lookups_now = self._samples[-1]
        base = self._samples[0]
        for sample in self._samples:
            if sample[0] >= now - window:
                base = sample
                break
        lookups = lookups_now - base[2]
        if lookups <= 0:
            return None
        return (served_now - base[1]) / lookups

    def _off_text(self) -> Text:
        text = Text(NOT_CONFIGURED, style="bold")
        text.append(
            "\n\nThis engine runs without an HTTP cache, so every request goes to an origin. "
            "Add a cache: section (and cache: true on a proxy) to the config to see hits, "
            "misses and stored entries here.",
            style="dim",
        )
        return text

    def _summary(
        self,
        stats: dict[str, Any],
        served: int,
        lookups: int,
        r10: float | None,
        r60: float | None,
    ) -> Text:
        all_time = stats.get("hit_ratio", served / lookups if lookups else None)
        text = Text()
        text.append("hit ratio ", style="bold")
        text.append(f" 10s {ratio_text(r10)}  60s {ratio_text(r60)}  all {ratio_text(all_time)}  ")
        text.append(sparkline(self._ratio_ring.values(), 24, floor=1.0), style="green")
        text.append("\n")
        for key, style in (
            ("hits", "green"),
            ("misses", "yellow"),
            ("stale", "magenta"),
            ("revalidated", "cyan"),
        ):
            text.append(f"{key} ", style="dim")
            text.append(f"{int(stats.get(key) or 0)}  ", style=style)
        served_bytes = pick(stats, "bytes_served", "served_bytes", "hit_bytes")
        if served_bytes is not None:
            text.append("served from cache ", style="dim")
            text.append(human_bytes(served_bytes))
        text.append("\n")
        used = int(pick(stats, "bytes", "size", default=0))
        limit = pick(stats, "max_size", "max_bytes", "limit")
        if limit is None:
            config = getattr(getattr(self.engine, "config", None), "cache", None)
            limit = getattr(config, "max_size", 0)
        text.append("store ", style="bold")
        text.append_text(fill_bar(used, float(limit or 0), 16, "cyan"))
        text.append(
            f"  {int(pick(stats, 'entries', 'count', default=0))} entries · "
            f"{human_bytes(used)} of {human_bytes(limit or 0)}"
        )
        max_object = stats.get("max_object_size")
        if max_object:
            text.append(f" · objects up to {human_bytes(max_object)}", style="dim")
        text.append("\ncaching ", style="bold")
        shown = []
        for proxy in ("reverse", "forward"):
            info = self._proxies.get(proxy)
            if info is not None:
                shown.append(f"{proxy} {'on' if info.get('cache') else 'off'}")
        text.append(" · ".join(shown) or "no proxy running")
        text.append("   (served from cache = hits + stale + revalidated)", style="dim")
        return text

    def show_entries(self, entries: Iterable[Any], now: float) -> None:
        """Fill the entry table; rows are keyed by URL so the cursor survives a refresh."""
        table = self._table
        if not table.columns:  # not composed yet
            return
        rows: list[tuple[str, tuple[str, ...]]] = []
        for e in entries:
            # The key tells variants of one URL apart (Vary); the URL is what people read.
            key = str(pick(e, "key", "url", default="?"))
            url = str(pick(e, "url", "key", default="?"))
            size = human_bytes(pick(e, "size", "bytes", default=0))
            age = pick(e, "age")
            if age is None:
                stored = pick(e, "stored_at", "stored", "time")
                age = now - stored if stored is not None else None
            ttl = pick(e, "ttl", "fresh_for", "expires_in")
            if ttl is None:
                expires = pick(e, "expires", "expires_at")
                ttl = expires - now if expires is not None else None
            ttl_text = "stale" if ttl is not None and ttl <= 0 else human_age(ttl)
            hits = str(pick(e, "hits", default=0))
            rows.append((key, (url, size, human_age(age), ttl_text, hits)))
        keys = [k for k, _ in rows]
        if keys == self._entry_keys:
            for key, cells in rows:
                for (col, _), value in zip(_COLUMNS, cells, strict=True):
                    if str(table.get_cell(key, col)) != value:
                        table.update_cell(key, col, value)
            return
        selected = self._entry_keys[table.cursor_row] if self._entry_keys else None
        table.clear()
        seen: set[str] = set()
        for key, cells in rows:
            if key in seen:  # row keys must be unique
                continue
            seen.add(key)
            table.add_row(*cells, key=key)
        self._entry_keys = [k for k in keys if k in seen]
        if selected in self._entry_keys:
            table.move_cursor(row=self._entry_keys.index(selected), animate=False)

    # -- actions ---------------------------------------------------------------------------
    def _report(self, res: Result) -> bool:
        if not res.ok:
            self.notify(res.error or "the engine refused the change", severity="error")
        return res.ok

    def action_purge(self) -> None:
        def answer(yes: bool | None) -> None:
            if not yes:
                return
            res = self.engine.control.purge_cache()
            if self._report(res):
                self.notify(f"cache purged: {res.value} entries removed")
                self._entries_at = float("-inf")

        self.app.push_screen(
            ConfirmScreen("Purge the whole cache? Every next request goes to an origin.", "Purge"),
            answer,
        )

    def action_toggle_caching(self) -> None:
        running = {p: info for p, info in self._proxies.items() if info is not None}
        if not running:
            self.notify("no proxy is running", severity="warning")
            return
        notes = {
            p: f"caching {'on → turn off' if info.get('cache') else 'off → turn on'}"
            for p, info in running.items()
        }

        def apply(proxy: str | None) -> None:
            if proxy is None:
                return
            enabled = not running[proxy].get("cache")
            if self._report(self.engine.control.set_cache_enabled(proxy, enabled)):
                running[proxy]["cache"] = enabled
                self.notify(f"caching {'on' if enabled else 'off'} for the {proxy} proxy")

        self.app.push_screen(ChooseScreen("Toggle caching for…", list(running), None, notes), apply)
