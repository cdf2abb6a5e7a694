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
from textual.binding import BindingType
from textual.widgets import Static

from workbench.engine.snapshot import CacheEntryView, EngineSnapshot
from workbench.engine.snapshot import CacheView as CacheState
from workbench.tui.actions import bindings
from workbench.tui.screens.choose import ChooseScreen
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.views.base import View
from workbench.tui.widgets.bars import Ring, fill_bar, human_age, human_bytes, sparkline
from workbench.tui.widgets.nav_table import NavTable
from workbench.tui.widgets.palette import ThemeAware

if TYPE_CHECKING:
    from workbench.engine.control import Result
    from workbench.engine.engine import Engine

ENTRY_LIMIT = 200
ENTRIES_EVERY = 1.0
"""Seconds between refreshes of the entry table (listing entries is not free)."""
NOT_CONFIGURED = "cache not configured"

_COLUMNS = (
    ("url", "URL"),
    ("variant", "variant"),
    ("size", "size"),
    ("age", "age"),
    ("ttl", "TTL"),
    ("hits", "hits"),
)


def cache_counts(stats: Any) -> tuple[int, int]:
    """``(answers served from the cache, lookups)`` from the cache's counters (dict form)."""
    served = sum(int(stats.get(k) or 0) for k in ("hits", "stale", "revalidated"))
    return served, served + int(stats.get("misses") or 0)


def url_text(url: str, width: int) -> str:
    """``url`` without its scheme; when cut, the end stays (``…/static/app.css``, not
    ``http://127.0.0.1:8080/static/app.…``: the path tells entries apart, the host repeats)."""
    text = url.split("://", 1)[-1]
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def variant_cut(text: str, width: int) -> str:
    """A variant cut to ``width`` cells (its start names the header it varies on)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def variant_text(entry: CacheEntryView) -> str:
    """What this copy was stored for (``accept-language=fr``, or ``—``), plus its risks.

    A stored ``Set-Cookie`` is marked: every client served this copy receives that cookie.
    """
    text = (
        " ".join(f"{name.lower()}={value or '(none)'}" for name, value in entry.vary)
        if entry.vary
        else "—"
    )
    if entry.set_cookie:
        text = "⚠ Set-Cookie · " + text
    if entry.targeted:
        text += f" · {entry.targeted}"
    return text


def row_key(entry: CacheEntryView) -> str:
    """The table row of one stored copy: its cache key plus the request values it is for."""
    if not entry.vary:
        return entry.key
    return entry.key + "\n" + "\n".join(f"{name}={value}" for name, value in entry.vary)


def ratio_text(ratio: float | None) -> str:
    return "  —" if ratio is None else f"{ratio * 100:3.0f}%"


class CacheView(ThemeAware, View):
    """Hit ratio, counters, store fill and the entries of the HTTP cache.

    | Key | Action |
    | :- | :- |
    | `p` | Purge the whole cache (asks first). |
    | `c` | Turn caching on or off for the reverse or the forward proxy. |
    """

    view_id: ClassVar[str] = "cache"
    title: ClassVar[str] = "Cache"

    BINDINGS: ClassVar[list[BindingType]] = bindings("cache")

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
        self._shown: tuple[list[CacheEntryView], float] | None = None
        """The entries last drawn (at most ENTRY_LIMIT), to cut again when the width changes."""
        self._widths: tuple[int, int] | None = None
        """(URL, variant) widths the rows were cut to; the columns are rebuilt when they move."""
        self._proxies: dict[str, Any] = {}
        # Created up front: a refresh racing mount or teardown must not fail a query.
        self._summary_box = Static(NOT_CONFIGURED, id="cache-summary")
        self._table: NavTable = NavTable(id="cache-entries")

    def on_mount(self) -> None:
        self.watch_theme()

    def on_resize(self) -> None:
        # Shown again (a hidden view has no size) or the terminal changed: cut the URLs to the
        # new width now (the rows first drawn before the view had a size were cut to a guess),
        # and fetch fresh entries at the next refresh instead of a second later.
        self._entries_at = float("-inf")
        if self.size.width and self._shown is not None:
            self.show_entries(*self._shown)

    def theme_changed(self) -> None:
        # The next refresh draws the summary and the entries again, in the new colours.
        self._entries_at = float("-inf")
        self._entry_keys = []

    def compose(self) -> ComposeResult:
        # Columns need a running app (to measure labels), so they are added here.
        for key, label in _COLUMNS:
            self._table.add_column(label, key=key)
        yield self._summary_box
        yield self._table

    def focus_default(self) -> None:
        self._table.focus()

    # -- refresh ---------------------------------------------------------------------------
    def update_view(self, snapshot: EngineSnapshot) -> None:
        now = snapshot.time
        self._proxies = {p.kind: {"cache": p.cache_enabled} for p in snapshot.proxies}
        stats = snapshot.cache
        summary = self._summary_box
        table = self._table
        self.set_class(stats is None, "-off")
        table.display = stats is not None
        if stats is None:
            summary.update(self._off_text())
            return
        served, lookups = stats.served, stats.lookups
        self._samples.append((now, served, lookups))
        r10 = stats.hit_ratio_10s
        r60 = stats.hit_ratio_60s
        if r10 is not None:
            self._ratio_ring.add(r10)
        summary.update(self._summary(stats, served, lookups, r10, r60))
        if now - self._entries_at >= ENTRIES_EVERY or now < self._entries_at:
            self._entries_at = now
            reader = getattr(self.engine, "cache_entries", None)
            self.show_entries(reader(ENTRY_LIMIT) if reader is not None else (), now)

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
        text = Text(NOT_CONFIGURED, style=self.styles_["bold"])
        text.append(
            "\n\nThis engine runs without an HTTP cache, so every request goes to an origin. "
            "Add a cache: section (and cache: true on a proxy) to the config to see hits, "
            "misses and stored entries here.",
            style=self.styles_["muted"],
        )
        return text

    def _summary(
        self,
        stats: CacheState,
        served: int,
        lookups: int,
        r10: float | None,
        r60: float | None,
    ) -> Text:
        st = self.styles_
        all_time = stats.hit_ratio
        text = Text()
        text.append("hit ratio ", style=st["bold"])
        text.append(f" 10s {ratio_text(r10)}  60s {ratio_text(r60)}  all {ratio_text(all_time)}  ")
        text.append(sparkline(self._ratio_ring.values(), 24, floor=1.0), style=st["ok"])
        text.append("\n")
        for key, role in (
            ("hits", "ok"),
            ("misses", "warn"),
            ("stale", "accent"),
            ("revalidated", "info"),
        ):
            text.append(f"{key} ", style=st["muted"])
            text.append(f"{getattr(stats, key)}  ", style=st[role])
        text.append("served from cache ", style=st["muted"])
        text.append(human_bytes(stats.bytes_served))
        text.append("\n")
        used, limit = stats.bytes, stats.max_size
        text.append("store ", style=st["bold"])
        text.append_text(fill_bar(used, float(limit or 0), 16, st["info"], st["muted"]))
        text.append(f"  {stats.entries} entries · {human_bytes(used)} of {human_bytes(limit)}")
        if stats.max_object_size:
            text.append(f" · objects up to {human_bytes(stats.max_object_size)}", style=st["muted"])
        text.append("\ncaching ", style=st["bold"])
        shown = [
            f"{proxy} {'on' if self._proxies[proxy]['cache'] else 'off'}"
            for proxy in ("reverse", "forward")
            if proxy in self._proxies
        ]
        text.append(" · ".join(shown) or "no proxy running")
        text.append("   (served from cache = hits + stale + revalidated)", style=st["muted"])
        return text

    def show_entries(self, entries: Iterable[CacheEntryView], now: float) -> None:
        """Fill the entry table; rows are keyed by cache key so the cursor survives a refresh."""
        table = self._table
        if not table.columns:  # not composed yet
            return
        entries = list(entries)
        self._shown = (entries, now)
        variants = [variant_text(e) for e in entries]
        fixed_cells = [
            (
                human_bytes(e.size),
                human_age(e.age),
                "stale" if e.ttl <= 0 else human_age(e.ttl),
                str(e.hits),
            )
            for e in entries
        ]
        # URL and variant share what size, age, TTL and hits leave (each column has one cell of
        # padding either side, and the scrollbar takes two), so those stay on screen at 80
        # columns; the variant takes what it needs, up to 40 % of it.
        fixed = sum(
            max([len(label)] + [len(cells[i]) for cells in fixed_cells]) + 2
            for i, (_key, label) in enumerate(_COLUMNS[2:])
        )
        shared = max(24, (self.size.width or 80) - 2 - fixed - 4)
        variant_width = max(1, min(max((len(v) for v in variants), default=1), shared * 2 // 5))
        url_width = shared - variant_width
        rows: list[tuple[str, tuple[str, ...]]] = [
            # Variants of one URL (Vary) share the cache key: the values they were stored for
            # tell them apart. The URL is what people read.
            (
                row_key(e),
                (url_text(e.url, url_width), variant_cut(variant, variant_width), *cells),
            )
            for e, variant, cells in zip(entries, variants, fixed_cells, strict=True)
        ]
        keys = [k for k, _ in rows]
        widths = (url_width, variant_width)
        if keys == self._entry_keys and widths == self._widths:
            for key, cells in rows:
                for (col, _), value in zip(_COLUMNS, cells, strict=True):
                    if str(table.get_cell(key, col)) != value:
                        table.update_cell(key, col, value)
            return
        selected = self._entry_keys[table.cursor_row] if self._entry_keys else None
        if widths != self._widths:
            # Column widths only ever grow in a DataTable: after the terminal shrank, the old
            # widths would push size, age, TTL and hits off screen. Start the columns afresh.
            self._widths = widths
            table.clear(columns=True)
            for key, label in _COLUMNS:
                table.add_column(label, key=key)
        else:
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
