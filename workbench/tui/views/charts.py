"""The Charts view: the last five minutes as time series, drawn with plotext.

Requests per second per proxy and per backend, error rate, p95 latency and the cache hit ratio,
one sample per second from the engine's bounded history (:mod:`workbench.engine.observe.history`),
with real axes and scales. The charts redraw at most once a second and only while visible; their
colours come from the app's theme, so the projector theme restyles them too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.events import Resize
from textual_plotext import PlotextPlot

from workbench.tui.views.base import View
from workbench.tui.widgets.palette import ThemeAware

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

REDRAW_EVERY = 1.0
"""Seconds between redraws: the history gains one sample a second."""
COMPACT_BELOW = (120, 36)
PALETTE = ("info", "ok", "accent", "bad", "warn", "text")
"""Roles of the series colours, in order (text roles, readable on the theme's background): the
first four differ in hue in the built-in themes (accent and warn are both orange there)."""

CHARTS: tuple[tuple[str, str], ...] = (
    ("rate-proxy", "Requests/s per proxy"),
    ("rate-backend", "Requests/s per backend"),
    ("errors", "Error rate % (5xx and failures) per proxy"),
    ("p95", "p95 latency (ms) per proxy"),
    ("hits", "Cache hit ratio %"),
)


def _points(
    xs: Sequence[float], ys: Sequence[float | None], scale: float = 1.0
) -> tuple[list[float], list[float]]:
    """Pairs with a value (None means nothing was measured that second)."""
    px, py = [], []
    for x, y in zip(xs, ys, strict=False):
        if y is not None:
            px.append(x)
            py.append(y * scale)
    return px, py


class ChartsView(ThemeAware, View):
    """Five minutes of the system as charts (requests/s, errors, p95 latency, hit ratio)."""

    view_id: ClassVar[str] = "charts"
    title: ClassVar[str] = "Charts"

    DEFAULT_CSS = """
    ChartsView { height: 1fr; }
    ChartsView #charts-scroll { height: 1fr; }
    ChartsView #charts-grid {
        grid-size: 2;
        grid-gutter: 0 1;
        height: 1fr;
    }
    ChartsView PlotextPlot { height: 1fr; min-height: 10; }
    ChartsView.-compact #charts-grid { grid-size: 1; height: auto; }
    ChartsView.-compact PlotextPlot { height: 12; }
    """

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._plots = {key: PlotextPlot(id=f"chart-{key}") for key, _ in CHARTS}
        self._last = 0.0

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="charts-scroll"), Grid(id="charts-grid"):
            yield from self._plots.values()

    def on_mount(self) -> None:
        self._apply_size()
        self.watch_theme()

    def theme_changed(self) -> None:
        self.redraw()

    def on_resize(self, event: Resize) -> None:
        self._apply_size()

    def _apply_size(self) -> None:
        size = self.app.size
        self.set_class(size.width < COMPACT_BELOW[0] or size.height < COMPACT_BELOW[1], "-compact")

    def focus_default(self) -> None:
        self.query_one("#charts-scroll", VerticalScroll).focus()

    def update_view(self, snapshot: Any) -> None:
        now = time.monotonic()
        if now - self._last < REDRAW_EVERY:
            return
        self._last = now
        self.redraw()

    def history(self) -> dict[str, Any]:
        """The engine's history as plain series (empty when this engine keeps none)."""
        history = getattr(self.engine, "history", None)
        if history is None:
            return {"time": [], "proxies": {}, "backends": {}, "hit_ratio": []}
        return history.to_dict()

    def _colours(self) -> list[tuple[int, int, int]]:
        styles = self.styles_
        out = []
        for name in PALETTE:
            colour = styles[name].color
            if colour is not None and colour.triplet is not None:
                out.append(tuple(colour.triplet))
        return out or [(255, 255, 255)]

    def redraw(self) -> None:
        """Draw every chart from the current history."""
        data = self.history()
        times: list[float] = data["time"]
        newest = times[-1] if times else 0.0
        xs = [t - newest for t in times]
        colours = self._colours()
        proxies = data["proxies"]
        backends = data["backends"]
        self._draw("rate-proxy", xs, {n: s["rate"] for n, s in proxies.items()}, colours)
        self._draw("rate-backend", xs, {n: s["rate"] for n, s in backends.items()}, colours)
        self._draw(
            "errors",
            xs,
            {n: s["error_rate"] for n, s in proxies.items()},
            colours,
            scale=100.0,
            ylim=(0, 100),
        )
        self._draw("p95", xs, {n: s["p95"] for n, s in proxies.items()}, colours, scale=1000.0)
        self._draw(
            "hits", xs, {"hit ratio": data["hit_ratio"]}, colours, scale=100.0, ylim=(0, 100)
        )

    def _draw(
        self,
        key: str,
        xs: Sequence[float],
        series: dict[str, Sequence[float | None]],
        colours: Sequence[tuple[int, int, int]],
        *,
        scale: float = 1.0,
        ylim: tuple[float, float] | None = None,
    ) -> None:
        widget = self._plots[key]
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        title = dict(CHARTS)[key]
        plt.title(title)
        plt.xlabel("seconds ago (last 5 min)")
        plt.xlim(-300, 0)
        drawn = 0
        for i, (name, ys) in enumerate(sorted(series.items())):
            px, py = _points(xs, ys, scale)
            if not px:
                continue
            plt.plot(px, py, label=name, color=colours[i % len(colours)], marker="braille")
            drawn += 1
        if ylim is not None:
            plt.ylim(*ylim)
        elif not drawn:
            plt.ylim(0, 1)
        if not drawn:
            plt.title(f"{title}: nothing measured yet")
        widget.refresh()
