"""``python -m workbench.devtools.bench_ui CONFIG --report FILE``: the TUI under load, measured.

Runs the proxies from CONFIG inside the real Textual app (``make_app``) under ``App.run_test``
(headless, 160×45), shows the Traffic view with follow on, and measures until SIGTERM/SIGINT:

- **tick**: the app's 5 Hz ``tick()`` (snapshot, drain of new records into the table, status line).
- **frame**: one screen update of Textual (layout if needed, compositing the changed regions and
  encoding them to terminal escape sequences as a real terminal driver would; the headless driver
  skips that last step, so it is done here and the output thrown away). Writing to a terminal
  and the terminal's own drawing are not included.
- **redraw**: wall time from the start of a tick to the end of the first frame after it, i.e. how
  long until the change a tick made is ready for the terminal. It includes the tick, the frame,
  Textual's wait for its next screen update (up to 1/60 s) and whatever proxy work the event loop
  ran in between, because that is what a user waits for.
- **key**: wall time from posting a key event (the same event ``Pilot.press`` posts, without its
  waits for idleness, which under load take up to a second each) until the end of the first frame
  that shows the new state. Every ``--key-interval`` seconds ``F`` is pressed twice (follow off,
  then straight back on) so the Traffic view stays in follow mode; every 4th time the view is
  switched with ``2`` and back with ``1`` instead. With ``--keys-under-load-only`` no key is
  pressed while records arrive slower than ``--load-threshold`` (``workbench bench`` keeps the app
  running while it measures the headless proxy, and idle key presses would take CPU from it).

Samples taken while records arrive at ≥ ``--load-threshold`` per second count as "under load"; the
report has percentiles for those and for the whole run. The report (JSON) is written on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEY_TIMEOUT = 2.0
"""A key press whose effect is not on screen after this long counts as timed out."""


@dataclass(slots=True)
class Series:
    """Millisecond samples, split into all samples and those taken under load."""

    all: list[float] = field(default_factory=list)
    loaded: list[float] = field(default_factory=list)

    def add(self, ms: float, loaded: bool) -> None:
        self.all.append(ms)
        if loaded:
            self.loaded.append(ms)

    def report(self) -> dict[str, Any]:
        return {"under_load": percentiles(self.loaded), "all": percentiles(self.all)}


def percentiles(samples: list[float]) -> dict[str, Any]:
    """``n``, ``p50``, ``p95``, ``max`` and ``mean`` of ``samples`` (nearest-rank; ms)."""
    if not samples:
        return {"n": 0, "p50": None, "p95": None, "max": None, "mean": None}
    s = sorted(samples)
    n = len(s)

    def rank(q: float) -> float:
        return s[min(n - 1, max(0, int(q * n + 0.5) - 1))]

    return {
        "n": n,
        "p50": round(rank(0.50), 3),
        "p95": round(rank(0.95), 3),
        "max": round(s[-1], 3),
        "mean": round(statistics.fmean(s), 3),
    }


@dataclass(slots=True)
class KeyProbe:
    """One key press waiting for its effect to reach a frame."""

    key: str
    t0: float
    visible: Callable[[], bool]
    done: asyncio.Future[float]
    loaded: bool


class UiMeter:
    """Instruments one running ``WorkbenchApp``: ticks, frames, redraws and key presses."""

    def __init__(self, app: Any, load_threshold: float) -> None:
        self.app = app
        self.load_threshold = load_threshold
        self.tick = Series()
        self.frame = Series()
        self.encode = Series()
        self.table = Series()
        self._table_ms = 0.0
        self.redraw = Series()
        self.drain = Series()
        self.drained_rows: list[int] = []
        self.keys: dict[str, Series] = {}
        self.key_timeouts = 0
        self.ticks_without_frame = 0
        self.rate = 0.0
        """Records per second over the last tick interval."""
        self._last_total = 0
        self._last_tick = time.perf_counter()
        self._pending_tick: tuple[float, float, bool] | None = None
        self._probe: KeyProbe | None = None
        self._frames_in_update = 0
        self._started = time.monotonic()

    @property
    def loaded(self) -> bool:
        return self.rate >= self.load_threshold

    # -- hooks ---------------------------------------------------------------------------------
    def install(self) -> None:
        """Wrap the app's tick and display, and Textual's screen update, for this process only."""
        from textual._compositor import CompositorUpdate
        from textual.screen import Screen

        app = self.app
        meter = self
        original_tick = app.tick

        def timed_tick() -> None:
            start = time.perf_counter()
            meter._tick_started(start)
            original_tick()
            end = time.perf_counter()
            meter.tick.add((end - start) * 1000, meter.loaded)
            meter._pending_tick = (start, end, meter.loaded)

        # The app binds ``self.tick`` when it starts its timer, so an instance attribute wins.
        app.tick = timed_tick

        original_display = app._display

        def display(screen: Any, renderable: Any) -> None:
            original_display(screen, renderable)
            if renderable is None or app._batch_count:
                return
            now = time.perf_counter()
            if isinstance(renderable, CompositorUpdate):
                # The encoding a terminal driver would do; the headless driver skips it.
                renderable.render_segments(app.console)
                end = time.perf_counter()
                meter.encode.add((end - now) * 1000, meter.loaded)
                now = end
            meter._frame_shown(now)

        app._display = display

        original_update = Screen._on_timer_update

        def on_timer_update(screen: Any) -> None:
            if screen.app is not app:
                original_update(screen)
                return
            before = meter._frames_in_update
            meter._table_ms = 0.0
            start = time.perf_counter()
            original_update(screen)
            if meter._frames_in_update != before:
                meter.frame.add((time.perf_counter() - start) * 1000, meter.loaded)
                meter.table.add(meter._table_ms, meter.loaded)

        # Screens bind this method when they create their update timer, on first use.
        Screen._on_timer_update = on_timer_update  # type: ignore[method-assign]

    def instrument_table(self, table: Any) -> None:
        """Add up the time the request table spends rendering its lines within each frame."""
        original = table.render_lines

        def render_lines(crop: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(crop)
            finally:
                self._table_ms += (time.perf_counter() - start) * 1000

        table.render_lines = render_lines

    def instrument_drain(self, view: Any) -> None:
        """Time the Traffic view's drain and count the rows each one adds."""
        original = view.drain

        def drain() -> int:
            start = time.perf_counter()
            added = original()
            self.drain.add((time.perf_counter() - start) * 1000, self.loaded)
            if self.loaded:
                self.drained_rows.append(added)
            return added

        view.drain = drain

    def _tick_started(self, now: float) -> None:
        if self._pending_tick is not None:
            # The previous tick changed nothing that needed a frame: its redraw was the tick.
            start, end, loaded = self._pending_tick
            self.redraw.add((end - start) * 1000, loaded)
            self.ticks_without_frame += 1
            self._pending_tick = None
        engine = self.app.engine
        total = engine.records.total if engine is not None else 0
        elapsed = now - self._last_tick
        if elapsed > 0:
            self.rate = (total - self._last_total) / elapsed
        self._last_total, self._last_tick = total, now

    def _frame_shown(self, now: float) -> None:
        self._frames_in_update += 1
        if self._pending_tick is not None:
            start, _end, loaded = self._pending_tick
            self.redraw.add((now - start) * 1000, loaded)
            self._pending_tick = None
        probe = self._probe
        if probe is not None and not probe.done.done():
            try:
                visible = probe.visible()
            except Exception:  # a view mid-switch: not visible yet
                visible = False
            if visible:
                probe.done.set_result((now - probe.t0) * 1000)

    # -- key presses ---------------------------------------------------------------------------
    async def press(self, key: str, visible: Callable[[], bool]) -> None:
        """Post ``key`` and wait until a frame shows ``visible()``; record the latency."""
        from textual import events

        app = self.app
        loop = asyncio.get_running_loop()
        probe = KeyProbe(key, time.perf_counter(), visible, loop.create_future(), self.loaded)
        self._probe = probe
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)
        try:
            ms = await asyncio.wait_for(asyncio.shield(probe.done), KEY_TIMEOUT)
        except TimeoutError:
            self.key_timeouts += 1
            ms = KEY_TIMEOUT * 1000
        finally:
            self._probe = None
        self.keys.setdefault(key, Series()).add(ms, probe.loaded)

    def report(self) -> dict[str, Any]:
        every_key = Series()
        for series in self.keys.values():
            every_key.all.extend(series.all)
            every_key.loaded.extend(series.loaded)
        engine = self.app.engine
        return {
            "seconds": round(time.monotonic() - self._started, 1),
            "load_threshold_rps": self.load_threshold,
            "records_total": engine.records.total if engine is not None else 0,
            "tick_ms": self.tick.report(),
            "frame_ms": self.frame.report(),
            "frame_encode_ms": self.encode.report(),
            "frame_table_ms": self.table.report(),
            "redraw_ms": self.redraw.report(),
            "drain_ms": self.drain.report(),
            "drained_rows_under_load": percentiles([float(n) for n in self.drained_rows]),
            "ticks_without_frame": self.ticks_without_frame,
            "key_ms": every_key.report(),
            "key_ms_by_key": {k: s.report() for k, s in sorted(self.keys.items())},
            "key_timeouts": self.key_timeouts,
            "traffic_dropped": getattr(self.app.view("traffic"), "dropped", None),
            "measures": {
                "tick_ms": "app.tick(): snapshot, drain into the table, status line",
                "frame_ms": "one Textual screen update that produced a frame: layout, "
                "compositing the changed regions, encoding to escape sequences",
                "frame_encode_ms": "the part of a frame spent encoding it to escape sequences",
                "frame_table_ms": "the part of a frame spent rendering the request table's lines",
                "redraw_ms": "tick start to the end of the first frame after it (wall)",
                "key_ms": "key event posted to the end of the first frame showing its effect",
            },
        }


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def _wait_until(check: Callable[[], bool], stop: asyncio.Event, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if stop.is_set() or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def run(args: argparse.Namespace) -> int:
    """Run the app under the meter until a signal; write the report; stop the proxies."""
    from textual.widgets import ContentSwitcher, Static

    from workbench.config.load import ConfigError, load_config
    from workbench.tui.app import make_app

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    app = make_app(config)
    meter = UiMeter(app, args.load_threshold)
    meter.install()
    report: dict[str, Any] = {}
    async with app.run_test(headless=True, size=(args.width, args.height)):
        if not await _wait_until(lambda: app.view("traffic") is not None, stop, 60):
            print("bench_ui: the Traffic view never appeared", file=sys.stderr)
            return 1
        traffic = app.view("traffic")
        meter.instrument_drain(traffic)
        meter.instrument_table(traffic.table)
        switcher = app.query_one("#views", ContentSwitcher)
        status = traffic.query_one("#traffic-status", Static)
        traffic.follow = True
        print("measuring", flush=True)

        def follow_shown(on: bool) -> Callable[[], bool]:
            word = "following" if on else "not following"
            # "following" is also inside "not following"; the status line starts with it.
            return lambda: traffic.follow is on and str(status.content).lstrip().startswith(word)

        def view_shown(view_id: str) -> Callable[[], bool]:
            return lambda: switcher.current == view_id and app.view(view_id).display

        cycle = 0
        while not stop.is_set() and app.is_running:
            await _wait(stop, args.key_interval)
            if stop.is_set() or not app.is_running:
                break
            if args.keys_under_load_only and not meter.loaded:
                continue
            cycle += 1
            if cycle % 4 == 0:
                await meter.press("2", view_shown("backends"))
                await meter.press("1", view_shown("traffic"))
            else:
                await meter.press("F", follow_shown(False))
                await meter.press("F", follow_shown(True))
        report = meter.report()
        _write_report(Path(args.report), report)
        await app.action_quit()
    return 0


def _write_report(path: Path, report: dict[str, Any]) -> None:
    # Write then rename, so a reader never sees half a report.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workbench.devtools.bench_ui",
        description="Run the workbench TUI headless under load and measure redraws and keys.",
    )
    p.add_argument("config", help="YAML config for the proxies")
    p.add_argument("--report", required=True, help="JSON report written on exit")
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=45)
    p.add_argument("--key-interval", type=float, default=0.5, help="seconds between key presses")
    p.add_argument(
        "--keys-under-load-only",
        action="store_true",
        help="press keys only under load (so the app idles quietly between ui rounds)",
    )
    p.add_argument(
        "--load-threshold",
        type=float,
        default=200.0,
        help="records/s from which a sample counts as under load",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Encode frames as for a modern terminal; "auto" would depend on the benchmark's environment.
    os.environ.setdefault("TEXTUAL_COLOR_SYSTEM", "truecolor")
    from workbench.cli import _event_loop_policy
    from workbench.engine.tuning import tune_gc

    _event_loop_policy()
    tune_gc()  # as the CLI does for real runs
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
