"""The Overview view: both proxies at a glance, what each is for, and what just happened."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from workbench.tui.views.backends import STATE_STYLES
from workbench.tui.views.base import View
from workbench.tui.views.cache import cache_counts
from workbench.tui.widgets.bars import Ring, human_age, millis, sparkline

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

PURPOSE: dict[str, str] = {
    "forward": "acts for the clients: privacy, access control",
    "reverse": "acts for the servers: balancing, caching, shielding",
}
"""One line per proxy on what it is for (the teaching core of the overview)."""

EVENT_STYLES: dict[str, str] = {"health": "yellow", "edit": "cyan", "error": "bold red"}
SPARK_WIDTH = 18
MAX_EVENTS = 30


def _window(snapshot: dict[str, Any], seconds: int) -> dict[str, Any]:
    """One rolling window's summary; keys are ints live and strings after a JSON round trip."""
    windows = (snapshot.get("stats") or {}).get("windows") or {}
    return windows.get(seconds) or windows.get(str(seconds)) or {}


class OverviewView(View):
    """Listeners, rates, latency, status mix, cache, backend health and recent events."""

    view_id: ClassVar[str] = "overview"
    title: ClassVar[str] = "Overview"

    DEFAULT_CSS = """
    OverviewView { layout: vertical; }
    OverviewView > Horizontal { height: auto; }
    OverviewView > Horizontal > Static { width: 1fr; height: auto; }
    OverviewView > Horizontal > #ov-proxies { width: 3fr; }
    OverviewView > Horizontal > #ov-traffic { width: 2fr; }
    OverviewView > #ov-events { height: 1fr; }
    """

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._rate = Ring(120)
        self._p50 = Ring(120)
        self._p95 = Ring(120)
        # Created up front: a refresh racing mount or teardown must not fail a query.
        self._proxies_box = Static("", id="ov-proxies", classes="panel")
        self._traffic_box = Static("", id="ov-traffic", classes="panel")
        self._events_box = Static("", id="ov-events", classes="panel")
        self._proxies_box.border_title = "Proxies"
        self._traffic_box.border_title = "Traffic (last 10 s)"
        self._events_box.border_title = "Recent events"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield self._proxies_box
            yield self._traffic_box
        yield self._events_box

    def update_view(self, snapshot: dict[str, Any]) -> None:
        w10 = _window(snapshot, 10)
        self._rate.add(w10.get("rate") or 0.0)
        self._p50.add((w10.get("p50") or 0.0) * 1000)
        self._p95.add((w10.get("p95") or 0.0) * 1000)
        self._proxies_box.update(self._proxies(snapshot))
        self._traffic_box.update(self._traffic(snapshot))
        self._events_box.update(self._events(snapshot))

    # -- panels ----------------------------------------------------------------------------
    def _proxies(self, snapshot: dict[str, Any]) -> Text:
        listeners = snapshot.get("listeners") or {}
        proxies = snapshot.get("proxies") or {}
        text = Text()
        for kind in ("reverse", "forward"):
            if text:
                text.append("\n")
            text.append(f"{kind:<8}", style="bold")
            url = listeners.get(kind)
            text.append(f"{url}" if url else "not running", style="" if url else "dim")
            text.append(f"\n  {PURPOSE[kind]}", style="italic")
            if url:
                info = proxies.get(kind) or {}
                extras = [f"cache {'on' if info.get('cache') else 'off'}"]
                if info.get("privacy"):
                    extras.append(f"privacy {info['privacy']}")
                text.append(f"\n  {' · '.join(extras)}", style="dim")
        admin = listeners.get("admin")
        if admin:
            text.append("\nadmin   ", style="bold")
            text.append(admin)
            text.append(" · JSON API, /metrics", style="dim")
        return text

    def _traffic(self, snapshot: dict[str, Any]) -> Text:
        text = Text()
        for label, ring, value in (
            ("req/s ", self._rate, f"{self._rate.last():.1f}"),
            ("p50 ms", self._p50, millis(self._p50.last() / 1000)),
            ("p95 ms", self._p95, millis(self._p95.last() / 1000)),
        ):
            text.append(label, style="bold")
            text.append(f" {value:>6} ")
            text.append(sparkline(ring.values(), SPARK_WIDTH, floor=1.0), style="green")
            text.append("\n")
        mix = _window(snapshot, 60).get("status_classes") or {}
        text.append("60 s  ", style="bold")
        for key, style in (
            ("2xx", "green"),
            ("3xx", "cyan"),
            ("4xx", "yellow"),
            ("5xx", "red"),
            ("err", "bold red"),
        ):
            if key == "4xx":
                # Two lines keep the status mix readable in a half-width panel.
                text.append("\n      ")
            text.append(f"{key} ", style="dim")
            text.append(f"{mix.get(key, 0)}  ", style=style)
        text.append("\ncache ", style="bold")
        cache = snapshot.get("cache")
        if cache is None:
            text.append("off", style="dim")
        else:
            served, lookups = cache_counts(cache)
            ratio = f"{served / lookups * 100:.0f}%" if lookups else "—"
            text.append(f"{ratio} hits ({served} of {lookups})")
        text.append("\npools ", style="bold")
        states: Counter[str] = Counter()
        for pool in (snapshot.get("pools") or {}).values():
            states.update(b.get("state", "?") for b in pool.get("backends") or [])
        if not states:
            text.append("no backends", style="dim")
        for i, state in enumerate(("up", "down", "ejected", "draining", "disabled")):
            if states.get(state) or (i == 0 and states):
                text.append(f"{states.get(state, 0)} {state}", style=STATE_STYLES[state])
                text.append("  ")
        return text

    def _events(self, snapshot: dict[str, Any]) -> Text:
        now = float(snapshot.get("time") or 0.0)
        events = (snapshot.get("events") or [])[-MAX_EVENTS:]
        text = Text()
        if not events:
            text.append("nothing yet: health changes, live edits and errors appear here", "dim")
        for e in reversed(events):
            if text:
                text.append("\n")
            age = human_age(now - (e.get("time") or now))
            kind = e.get("kind", "")
            text.append(f"{age:>5} ago ", style="dim")
            text.append(f"{kind:<7}", style=EVENT_STYLES.get(kind, "dim"))
            text.append(f"{e.get('who', ''):<6} ", style="dim")
            text.append(str(e.get("message", "")))
        return text
