"""The Backends view: every pool's backends, their weights, and where the traffic really went.

The teaching point is the pair of bars per backend: the share the weights promise (weight ÷ total
weight of the backends that are up) next to the share the backend actually served in the last
60 seconds. Change a weight with `+`/`-` and watch the second bar follow the first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from workbench.config.model import ALGORITHMS
from workbench.tui.screens.choose import ChooseScreen
from workbench.tui.screens.weight import WeightScreen
from workbench.tui.views.base import View
from workbench.tui.widgets.bars import human_age, millis, share_bar

if TYPE_CHECKING:
    from workbench.engine.control import Result
    from workbench.engine.engine import Engine

STATE_STYLES: dict[str, str] = {
    "up": "bold green",
    "down": "bold red",
    "ejected": "bold magenta",
    "draining": "bold yellow",
    "disabled": "dim",
}
"""How each backend state is coloured (rich styles; DataTable cells cannot use theme variables)."""

ALGORITHM_NOTES: dict[str, str] = {
    "round_robin": "each backend in turn, weights ignored",
    "weighted_round_robin": "in turn, in proportion to the weights",
    "least_connections": "the backend with the fewest requests in flight",
    "random_two": "two at random, the less busy one wins",
    "ip_hash": "the client address picks the backend (sticky)",
    "consistent_hash": "a hash ring; few keys move when backends change",
}

LATENCY_FAULT = 0.3
"""Seconds the `L` key adds to a demo backend's responses."""
ERROR_FAULT = 0.5
"""Share of requests the `E` key makes a demo backend fail."""
EVENT_LINES = 5

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "backend"),
    ("state", "state"),
    ("weight", "weight"),
    ("expected", "expected"),
    ("actual", "actual 60s"),
    ("inflight", "busy"),
    ("rps", "req/s"),
    ("errors", "err"),
    ("p50", "p50"),
    ("p95", "p95"),
    ("health", "last health check"),
)
_FAULT_COLUMN = ("fault", "demo fault")


def health_text(check: dict[str, Any] | None, now: float, enabled: bool) -> Text:
    """``ok 1.2s ago · 200 in 1 ms`` for the last active check (``off`` when the pool has none)."""
    if not enabled:
        return Text("off", style="dim")
    if not check:
        return Text("pending", style="dim")
    ok = bool(check.get("ok"))
    text = Text("ok" if ok else "fail", style="green" if ok else "bold red")
    text.append(f" {human_age(now - (check.get('time') or now))} ago")
    detail = check.get("detail")
    if detail:
        text.append(f" · {detail}", style="dim")
    return text


def fault_text(fault: dict[str, Any] | None) -> Text:
    """The demo faults injected into one backend, or a dash when it behaves."""
    if fault is None:
        return Text("—", style="dim")
    parts: list[str] = []
    if fault.get("killed"):
        parts.append("killed")
    if fault.get("extra_latency"):
        parts.append(f"+{fault['extra_latency'] * 1000:.0f}ms")
    if fault.get("error_rate"):
        parts.append(f"{fault['error_rate'] * 100:.0f}% err")
    if fault.get("health_fail"):
        parts.append("hc fail")
    if fault.get("flap"):
        parts.append("flap")
    if not parts:
        return Text("none", style="dim")
    return Text(" ".join(parts), style="bold yellow")


def backend_cells(
    b: dict[str, Any], now: float, health_on: bool, fault: dict[str, Any] | None, demo: bool
) -> dict[str, Any]:
    """The table cells of one backend, keyed by column key."""
    stats = b.get("stats") or {}
    state = b.get("state", "?")
    cells: dict[str, Any] = {
        "name": b.get("name", "?"),
        "state": Text(state, style=STATE_STYLES.get(state, "")),
        "weight": str(b.get("weight", 0)),
        "expected": share_bar(b.get("expected_share") or 0.0, 6, "cyan"),
        "actual": share_bar(b.get("actual_share") or 0.0, 6, "green"),
        "inflight": str(b.get("inflight", stats.get("inflight", 0))),
        "rps": f"{stats.get('rate_10s', 0.0):.1f}",
        "errors": str(stats.get("errors_60s", 0)),
        "p50": millis(stats.get("p50")),
        "p95": millis(stats.get("p95")),
        "health": health_text(b.get("last_check"), now, health_on),
    }
    if demo:
        cells["fault"] = fault_text(fault)
    return cells


class BackendsView(View):
    """Pools and their backends, with live weights, states, shares, latency and health.

    | Key | Action |
    | :- | :- |
    | `+` / `-` | Raise / lower the selected backend's weight by one. |
    | `=` | Type a weight (0–1000). |
    | `a` | Choose the pool's balancing algorithm. |
    | `d` | Drain the backend (finish in-flight requests, take no new ones) or undrain it. |
    | `x` | Disable / enable the backend. |
    | `k` `L` `E` `H` | Demo: kill/revive, +300 ms latency, 50 % errors, failing checks. |
    """

    view_id: ClassVar[str] = "backends"
    title: ClassVar[str] = "Backends"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus", "weight(1)", "+weight", id="weight_up", tooltip="Raise the weight by 1"),
        Binding(
            "minus", "weight(-1)", "-weight", id="weight_down", tooltip="Lower the weight by 1"
        ),
        Binding("equals_sign", "type_weight", "=weight", id="weight_set", tooltip="Type a weight"),
        Binding("a", "algorithm", "Algorithm", id="algorithm", tooltip="Pick the pool's algorithm"),
        Binding("d", "drain", "Drain", id="drain", tooltip="Drain or undrain the backend"),
        Binding("x", "toggle_enabled", "Disable", id="toggle_enabled", tooltip="Disable/enable"),
        Binding("k", "fault('kill')", "Kill", id="fault_kill", tooltip="Demo: kill or revive"),
        Binding("L", "fault('latency')", "Latency", id="fault_latency", tooltip="Demo: +300 ms"),
        Binding("E", "fault('error_rate')", "Errors", id="fault_errors", tooltip="Demo: 50% 500s"),
        Binding(
            "H", "fault('health_fail')", "Fail hc", id="fault_health", tooltip="Demo: fail /healthz"
        ),
        Binding(
            "F",
            "fault('flap')",
            "Flap",
            id="fault_flap",
            tooltip="Demo: /healthz flaps up and down",
        ),
    ]

    DEFAULT_CSS = """
    BackendsView { layout: vertical; }
    BackendsView > #pools { height: 1fr; }
    BackendsView DataTable { height: auto; max-height: 16; }
    BackendsView > #events { height: auto; max-height: 7; }
    """

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._tables: dict[str, DataTable] = {}
        self._titles: dict[str, Static] = {}
        self._order: dict[str, list[str]] = {}
        """Backend names per pool in row order (rows never move, so the index is the row)."""
        self._data: dict[str, dict[str, dict[str, Any]]] = {}
        """Latest plain data per pool and backend; patched right after a successful edit."""
        self._cells: dict[tuple[str, str, str], Any] = {}
        self._algorithms: dict[str, str] = {}
        self._demo: dict[str, dict[str, Any]] | None = None
        self._active_pool: str | None = None
        self._now = 0.0
        # Children are created up front so a refresh that races mounting or teardown only
        # updates detached widgets instead of failing a query.
        self._pools_box = VerticalScroll(id="pools")
        self._placeholder = Static("waiting for the engine…", id="placeholder", classes="muted")
        self._events_box = Static("", id="events", classes="event-log")

    def compose(self) -> ComposeResult:
        with self._pools_box:
            yield self._placeholder
        yield Static(
            "expected = weight ÷ total weight up · actual = share of the last 60 s · "
            "busy = in flight · err = errors in 60 s · p50/p95 in ms",
            id="legend",
            classes="muted",
        )
        yield self._events_box

    # -- refresh ---------------------------------------------------------------------------
    def update_view(self, snapshot: dict[str, Any]) -> None:
        self._now = float(snapshot.get("time") or 0.0)
        demo = snapshot.get("demo")
        self._demo = (demo or {}).get("backends") if demo is not None else None
        pools: dict[str, Any] = snapshot.get("pools") or {}
        container = self._pools_box
        if pools and not self._tables:
            self._placeholder.display = False
        elif not pools:
            self._placeholder.update("no reverse proxy pools configured")
        first_tables = not self._tables
        for name, pool in pools.items():
            if name not in self._tables:
                self._add_pool(container, name, demo is not None)
            self._update_pool(name, pool)
        self._update_events(snapshot.get("events") or [])
        if first_tables and self._tables and self.display and self.app.focused is None:
            # The tables appear with the first snapshot, after the view was shown.
            self.call_after_refresh(self.focus_default)

    def _add_pool(self, container: VerticalScroll, name: str, demo: bool) -> None:
        title = Static("", classes="pool-title")
        table: DataTable = DataTable(
            cursor_type="row", zebra_stripes=True, id=f"pool-{name}", classes="pool-table"
        )
        table.pool_name = name  # type: ignore[attr-defined]
        for key, label in _COLUMNS + ((_FAULT_COLUMN,) if demo else ()):
            table.add_column(label, key=key)
        self._tables[name] = table
        self._titles[name] = title
        self._order[name] = []
        self._data[name] = {}
        container.mount(title, table)
        if self._active_pool is None:
            self._active_pool = name

    def _update_pool(self, name: str, pool: dict[str, Any]) -> None:
        algorithm = pool.get("algorithm", "?")
        if self._algorithms.get(name) != algorithm:
            self._algorithms[name] = algorithm
            self._titles[name].update(self._pool_title(name, pool))
        table = self._tables[name]
        order = self._order[name]
        demo = self._demo is not None
        for b in pool.get("backends") or []:
            bname = b.get("name", "?")
            self._data[name][bname] = b
            fault = self._demo.get(bname) if self._demo is not None else None
            cells = backend_cells(b, self._now, bool(pool.get("health")), fault, demo)
            if bname not in order:
                order.append(bname)
                table.add_row(*cells.values(), key=bname)
                for col, value in cells.items():
                    self._cells[(name, bname, col)] = value
                continue
            for col, value in cells.items():
                key = (name, bname, col)
                # Only changed cells are touched, so the cursor and scroll stay where they are.
                if self._cells.get(key) != value:
                    self._cells[key] = value
                    table.update_cell(bname, col, value)

    @staticmethod
    def _pool_title(name: str, pool: dict[str, Any]) -> Text:
        algorithm = pool.get("algorithm", "?")
        text = Text()
        text.append(f"pool {name}  ", style="bold")
        text.append(algorithm, style="bold cyan")
        note = ALGORITHM_NOTES.get(algorithm)
        if note:
            text.append(f" — {note}", style="dim")
        text.append(" · health checks " + ("on" if pool.get("health") else "off"), style="dim")
        return text

    def _update_events(self, events: list[dict[str, Any]]) -> None:
        # Redrawn every tick: the ages move on even when no new event arrived.
        wanted = [e for e in events if e.get("kind") in ("health", "edit")][-EVENT_LINES:]
        text = Text()
        text.append("recent changes", style="bold")
        if not wanted:
            text.append("\n  none yet: health changes and your edits appear here", style="dim")
        for e in reversed(wanted):
            age = human_age(self._now - (e.get("time") or self._now))
            kind = e.get("kind", "")
            style = "yellow" if kind == "health" else "cyan"
            text.append(f"\n  {age:>5} ago ", style="dim")
            text.append(f"{kind:<7}", style=style)
            text.append(f" {e.get('who', '')}: {e.get('message', '')}")
        self._events_box.update(text)

    def focus_default(self) -> None:
        table = self._tables.get(self._active_pool or "")
        if table is None and self._tables:
            # Nothing chosen yet: the first pool, so the footer shows the backend keys at once.
            table = next(iter(self._tables.values()))
        if table is not None:
            table.focus()

    # -- selection -------------------------------------------------------------------------
    def on_descendant_focus(self, event: Any) -> None:
        pool = getattr(event.widget, "pool_name", None)
        if pool is not None:
            self._active_pool = pool

    def selected(self) -> tuple[str, str, dict[str, Any]] | None:
        """``(pool, backend, latest data)`` under the cursor of the active pool's table."""
        pool = self._active_pool
        if pool is None or pool not in self._tables:
            return None
        order = self._order[pool]
        row = self._tables[pool].cursor_row
        if not order or not 0 <= row < len(order):
            return None
        name = order[row]
        return pool, name, self._data[pool][name]

    def _need_selection(self) -> tuple[str, str, dict[str, Any]] | None:
        sel = self.selected()
        if sel is None:
            self.notify("no backend selected", severity="warning")
        return sel

    def _report(self, res: Result) -> bool:
        if not res.ok:
            self.notify(res.error or "the engine refused the change", severity="error")
        return res.ok

    def _patch(self, pool: str, backend: str, **changes: Any) -> None:
        """Show an accepted edit at once instead of waiting for the next snapshot."""
        data = self._data[pool][backend]
        data.update(changes)

    # -- actions ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fault":
            # Fault keys exist only in the classroom demo; elsewhere they stay out of the footer.
            return self._demo is not None
        return True

    def action_weight(self, delta: int) -> None:
        sel = self._need_selection()
        if sel is None:
            return
        pool, name, data = sel
        new = int(data.get("weight", 0)) + delta
        if new < 0:
            self.notify(f"{name}: the weight is already 0 (out of rotation)", severity="warning")
            return
        self._set_weight(pool, name, new)

    def _set_weight(self, pool: str, name: str, weight: int) -> None:
        res = self.engine.control.set_weight(pool, name, weight)
        if self._report(res):
            self._patch(pool, name, weight=res.value)
            self._tables[pool].update_cell(name, "weight", str(res.value))
            self._cells[(pool, name, "weight")] = str(res.value)

    def action_type_weight(self) -> None:
        sel = self._need_selection()
        if sel is None:
            return
        pool, name, data = sel

        def apply(value: int | None) -> None:
            if value is not None:
                self._set_weight(pool, name, value)

        self.app.push_screen(WeightScreen(name, int(data.get("weight", 0))), apply)

    def action_algorithm(self) -> None:
        pool = self._active_pool
        if pool is None:
            self.notify("no pool to configure", severity="warning")
            return

        def apply(choice: str | None) -> None:
            if choice is None:
                return
            res = self.engine.control.set_algorithm(pool, choice)
            if self._report(res):
                self.notify(f"pool {pool}: {choice}")

        self.app.push_screen(
            ChooseScreen(
                f"Balancing algorithm for pool {pool}",
                ALGORITHMS,
                self._algorithms.get(pool),
                ALGORITHM_NOTES,
            ),
            apply,
        )

    def action_drain(self) -> None:
        sel = self._need_selection()
        if sel is None:
            return
        pool, name, data = sel
        drain = not data.get("draining", False)
        res = self.engine.control.set_draining(pool, name, drain)
        if self._report(res):
            self._patch(pool, name, draining=drain)
            self.notify(f"{name}: {'draining' if drain else 'drain cancelled'}")

    def action_toggle_enabled(self) -> None:
        sel = self._need_selection()
        if sel is None:
            return
        pool, name, data = sel
        enabled = not data.get("enabled", True)
        res = self.engine.control.set_enabled(pool, name, enabled)
        if self._report(res):
            self._patch(pool, name, enabled=enabled)
            self.notify(f"{name}: {'enabled' if enabled else 'disabled'}")

    def action_fault(self, kind: str) -> None:
        sel = self._need_selection()
        if sel is None or self._demo is None:
            return
        _, name, _ = sel
        fault = self._demo.get(name)
        if fault is None:
            self.notify(f"{name} is not a demo backend", severity="warning")
            return
        control = self.engine.control
        if kind == "kill":
            res = control.fault(name, "revive" if fault.get("killed") else "kill")
        elif kind == "latency":
            value = 0.0 if fault.get("extra_latency") else LATENCY_FAULT
            res = control.fault(name, "latency", value)
            if res.ok:
                fault["extra_latency"] = value
        elif kind == "error_rate":
            value = 0.0 if fault.get("error_rate") else ERROR_FAULT
            res = control.fault(name, "error_rate", value)
            if res.ok:
                fault["error_rate"] = value
        elif kind == "flap":
            value = not fault.get("flap")
            res = control.fault(name, "flap", value)
            if res.ok:
                fault["flap"] = value
        else:
            value = not fault.get("health_fail")
            res = control.fault(name, "health_fail", value)
            if res.ok:
                fault["health_fail"] = value
        self._report(res)
