"""The Backends view: every pool's backends, their weights, and where the traffic really went.

The teaching point is the pair of bars per backend: the share the algorithm promises (equal for
round robin, weight ÷ total weight for weighted round robin, "depends on traffic" for the others)
next to the share the backend actually served over the last few seconds. Change a weight with
`+`/`-` and watch the second bar follow the first within seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from workbench.config.model import ALGORITHMS
from workbench.engine.snapshot import SHARE_WINDOW, BackendView, EngineSnapshot, PoolView
from workbench.tui.actions import bindings
from workbench.tui.screens.choose import ChooseScreen
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.weight import WeightScreen
from workbench.tui.views.base import View
from workbench.tui.widgets.bars import human_age, millis, share_bar
from workbench.tui.widgets.nav_table import NavTable
from workbench.tui.widgets.palette import STATE_ROLES, ThemeAware

if TYPE_CHECKING:
    from workbench.engine.control import Result
    from workbench.engine.engine import Engine

ALGORITHM_NOTES: dict[str, str] = {
    "round_robin": "each backend in turn, whatever its weight (0 still takes it out)",
    "weighted_round_robin": "in turn, in proportion to the weights",
    "least_connections": "the backend with the fewest requests in flight",
    "random_two": "two at random, the less busy one wins",
    "ip_hash": "the client address picks the backend (sticky)",
    "consistent_hash": "a hash ring; few keys move when backends change",
}

EXPECTED_NOTES: dict[str, str] = {
    "round_robin": "expected = an equal share for every backend that is up (weight 0: none)",
    "weighted_round_robin": "expected = weight ÷ total weight of the backends that are up",
}
"""What the expected column means per algorithm; the others depend on the traffic."""

LATENCY_FAULT = 0.3
"""Seconds the `L` key adds to a demo backend's responses."""
ERROR_FAULT = 0.5
"""Share of requests the `E` key makes a demo backend fail."""
EVENT_LINES = 5
NARROW = 120
"""Below this width the table keeps the columns a lesson needs and drops the rest."""

_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    # (key, label, shown when narrow)
    ("name", "backend", True),
    ("state", "state", True),
    ("weight", "weight", True),
    ("expected", "expected", True),
    ("actual", f"actual {SHARE_WINDOW}s", True),
    ("inflight", "busy", False),
    ("rps", "req/s", False),
    ("errors", "err 60s", False),
    ("p50", "p50", False),
    ("p95", "p95", False),
    ("health", "last health check", True),
)
_FAULT_COLUMN = ("fault", "demo fault", False)
_WIDTHS = {"state": max(len(s) for s in STATE_ROLES)}
"""Fixed widths of columns whose words change length, so ``disabled`` is never cut."""
_GROWS = frozenset({"health"})
"""Columns that widen when a longer text arrives (a failed check's reason)."""


def health_text(
    b: BackendView, now: float, enabled: bool, styles: dict[str, Style], narrow: bool = False
) -> Text:
    """``ok 1.2s ago · 200 in 1 ms`` for the last active check (``off`` when the pool has none)."""
    if not enabled:
        return Text("off", style=styles["muted"])
    check = b.last_check
    if check is None:
        return Text("pending", style=styles["muted"])
    text = Text("ok" if check.ok else "fail", style=styles["ok" if check.ok else "bad"])
    text.append(f" {human_age(now - (check.time or now))} ago")
    if check.detail and not narrow:
        # The row already names the backend: "cannot connect to 127.0.0.1:9001: ..." loses
        # the address so the reason fits at 160 columns.
        u = urlsplit(b.url)
        port = u.port or (443 if u.scheme == "https" else 80)
        detail = check.detail.replace(f" to {u.hostname}:{port}:", ":")
        text.append(f" · {detail}", style=styles["muted"])
    return text


def fault_text(b: BackendView, styles: dict[str, Style]) -> Text:
    """The demo faults injected into one backend, or ``none`` when it behaves."""
    fault = b.fault
    if fault is None:
        return Text("—", style=styles["muted"])
    parts: list[str] = []
    if fault.killed:
        parts.append("killed")
    if fault.extra_latency:
        parts.append(f"+{fault.extra_latency * 1000:.0f}ms")
    if fault.error_rate:
        parts.append(f"{fault.error_rate * 100:.0f}% err")
    if fault.health_fail:
        parts.append("hc fail")
    if fault.flap:
        parts.append("flap")
    if not parts:
        return Text("none", style=styles["muted"])
    return Text(" ".join(parts), style=styles["warn"])


def expected_text(b: BackendView, styles: dict[str, Style], narrow: bool) -> Text:
    """The promised share as a bar, or that it depends on the traffic."""
    if b.expected_share is None:
        return Text("by traffic" if narrow else "depends on traffic", style=styles["muted"])
    return share_bar(b.expected_share, 4 if narrow else 6, styles["info"], track=styles["muted"])


def backend_cells(
    b: BackendView,
    now: float,
    health_on: bool,
    demo: bool,
    styles: dict[str, Style],
    narrow: bool = False,
) -> dict[str, Any]:
    """The table cells of one backend, keyed by column key."""
    cells: dict[str, Any] = {
        "name": b.name,
        "state": Text(b.state, style=styles[STATE_ROLES.get(b.state, "text")]),
        "weight": str(b.weight),
        "expected": expected_text(b, styles, narrow),
        "actual": share_bar(
            b.actual_share, 4 if narrow else 6, styles["ok"], track=styles["muted"]
        ),
        "inflight": str(b.inflight),
        "rps": f"{b.rate:.1f}",
        "errors": str(b.errors_60s),
        "p50": millis(b.p50),
        "p95": millis(b.p95),
        "health": health_text(b, now, health_on, styles, narrow),
    }
    if demo:
        cells["fault"] = fault_text(b, styles)
    return cells


class PoolTable(NavTable):
    """One pool's backends. The pools read as one list: moving past a table's first or last row,
    or to the very first or last row, asks the view to go on into the neighbouring pool."""

    class Leave(Message):
        """The cursor wants to leave this table: ``where`` is ``next``, ``previous``, ``first``
        or ``last``."""

        def __init__(self, table: PoolTable, where: str) -> None:
            super().__init__()
            self.table = table
            self.where = where

        @property
        def control(self) -> PoolTable:
            return self.table

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.Leave(self, "next"))
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.Leave(self, "previous"))
        else:
            super().action_cursor_up()

    def action_scroll_top(self) -> None:
        super().action_scroll_top()
        self.post_message(self.Leave(self, "first"))

    def action_scroll_bottom(self) -> None:
        super().action_scroll_bottom()
        self.post_message(self.Leave(self, "last"))


class BackendsView(ThemeAware, View):
    """Pools and their backends, with live weights, states, shares, latency and health.

    | Key | Action |
    | :- | :- |
    | `+` / `-` | Raise / lower the selected backend's weight by one. |
    | `=` | Type a weight (0–1000). |
    | `a` | Choose the pool's balancing algorithm. |
    | `d` | Drain the backend (finish in-flight requests, take no new ones) or undrain it. |
    | `x` | Disable (asks first) / enable the backend. |
    | `X` `L` `E` `H` `F` | Demo: kill (asks)/revive, +300 ms, 50 % errors, failing checks, flap. |

    The list keys (`j`/`k`, arrows, `g`/`G`, Home/End, PgUp/PgDn) only move the selection.
    """

    view_id: ClassVar[str] = "backends"
    title: ClassVar[str] = "Backends"

    BINDINGS: ClassVar[list[BindingType]] = bindings("backends")

    DEFAULT_CSS = """
    BackendsView { layout: vertical; }
    BackendsView > #pools { height: 1fr; }
    BackendsView DataTable { height: auto; max-height: 16; }
    BackendsView > #events { height: auto; max-height: 7; }
    """

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._tables: dict[str, PoolTable] = {}
        self._titles: dict[str, Static] = {}
        self._order: dict[str, list[str]] = {}
        """Backend names per pool in row order (rows never move, so the index is the row)."""
        self._data: dict[str, dict[str, BackendView]] = {}
        self._cells: dict[tuple[str, str, str], Any] = {}
        self._pools: dict[str, PoolView] = {}
        self._title_keys: dict[str, tuple] = {}
        self._demo = False
        self._active_pool: str | None = None
        self._now = 0.0
        self._narrow: bool | None = None
        self._last: EngineSnapshot | None = None
        self._pending_cursor: dict[str, int] = {}
        """Rows to select again after the columns changed (the table was rebuilt)."""
        # Children are created up front so a refresh that races mounting or teardown only
        # updates detached widgets instead of failing a query.
        self._pools_box = VerticalScroll(id="pools")
        self._placeholder = Static("waiting for the engine…", id="placeholder", classes="muted")
        self._legend = Static("", id="legend", classes="muted")
        self._events_box = Static("", id="events", classes="event-log")

    def compose(self) -> ComposeResult:
        with self._pools_box:
            yield self._placeholder
        yield self._legend
        yield self._events_box

    def on_mount(self) -> None:
        self.watch_theme()

    def theme_changed(self) -> None:
        self._cells.clear()
        self._title_keys.clear()
        if self._last is not None:
            self.update_view(self._last)

    def on_resize(self) -> None:
        # Hidden views get a zero size: keep the layout for the return.
        if self.size.width > 0 and self._narrow is not None:
            if (self.size.width < NARROW) != self._narrow and self._last is not None:
                self.update_view(self._last)

    # -- refresh ---------------------------------------------------------------------------
    def update_view(self, snapshot: EngineSnapshot) -> None:
        self._last = snapshot
        self._now = snapshot.time
        demo = snapshot.demo is not None
        narrow = (self.size.width or 80) < NARROW
        if narrow != self._narrow or demo != self._demo:
            self._rebuild_tables(narrow, demo)
        container = self._pools_box
        if snapshot.pools and not self._tables:
            self._placeholder.display = False
        elif not snapshot.pools:
            self._placeholder.update("no reverse proxy pools configured")
        first_tables = not self._tables
        for pool in snapshot.pools:
            self._pools[pool.name] = pool
            if pool.name not in self._tables:
                self._add_pool(container, pool.name)
            self._update_pool(pool)
        self._update_legend()
        self._update_events(snapshot)
        if first_tables and self._tables and self.display and self.app.focused is None:
            # The tables appear with the first snapshot, after the view was shown.
            self.call_after_refresh(self.focus_default)

    def _columns(self) -> list[tuple[str, str]]:
        # The health check goes last: a failed check's reason widens it without hiding a column.
        cols = _COLUMNS[:-1] + ((_FAULT_COLUMN,) if self._demo else ()) + _COLUMNS[-1:]
        return [(k, label) for k, label, small in cols if small or not self._narrow]

    def _rebuild_tables(self, narrow: bool, demo: bool) -> None:
        self._narrow = narrow
        self._demo = demo
        self._cells.clear()
        for name, table in self._tables.items():
            row = table.cursor_row
            table.clear(columns=True)
            for key, label in self._columns():
                table.add_column(label, key=key, width=_WIDTHS.get(key))
            self._order[name] = []
            self._pending_cursor[name] = row

    def _add_pool(self, container: VerticalScroll, name: str) -> None:
        title = Static("", classes="pool-title")
        table = PoolTable(id=f"pool-{name}", classes="pool-table")
        table.pool_name = name  # type: ignore[attr-defined]
        for key, label in self._columns():
            table.add_column(label, key=key, width=_WIDTHS.get(key))
        self._tables[name] = table
        self._titles[name] = title
        self._order[name] = []
        self._data[name] = {}
        container.mount(title, table)
        if self._active_pool is None:
            self._active_pool = name

    def _update_pool(self, pool: PoolView) -> None:
        name = pool.name
        title_key = (pool.algorithm, pool.health_checks, pool.up, len(pool.backends), self._narrow)
        if self._title_keys.get(name) != title_key:
            self._title_keys[name] = title_key
            self._titles[name].update(self._pool_title(pool))
        table = self._tables[name]
        order = self._order[name]
        styles = self.styles_
        columns = {k for k, _ in self._columns()}
        for b in pool.backends:
            self._data[name][b.name] = b
            cells = backend_cells(
                b, self._now, pool.health_checks, self._demo, styles, bool(self._narrow)
            )
            cells = {k: v for k, v in cells.items() if k in columns}
            if b.name not in order:
                order.append(b.name)
                table.add_row(*(cells[k] for k, _ in self._columns()), key=b.name)
                for col, value in cells.items():
                    self._cells[(name, b.name, col)] = value
                continue
            for col, value in cells.items():
                key = (name, b.name, col)
                # Only changed cells are touched, so the cursor and scroll stay where they are.
                if self._cells.get(key) != value:
                    self._cells[key] = value
                    table.update_cell(b.name, col, value, update_width=col in _GROWS)
        row = self._pending_cursor.pop(name, None)
        if row is not None:
            table.move_cursor(row=row, animate=False)

    def _pool_title(self, pool: PoolView) -> Text:
        styles = self.styles_
        text = Text()
        text.append(f"pool {pool.name}  ", style=styles["bold"])
        text.append(pool.algorithm, style=styles["accent"])
        note = ALGORITHM_NOTES.get(pool.algorithm)
        if note and not self._narrow:
            text.append(f" — {note}", style=styles["muted"])
        up, total = pool.up, len(pool.backends)
        text.append(f"  {up}/{total} backends up", style=styles["ok" if up == total else "bad"])
        text.append(
            " · health checks " + ("on" if pool.health_checks else "off"), style=styles["muted"]
        )
        return text

    def _update_legend(self) -> None:
        algorithms = {p.algorithm for p in self._pools.values()}
        notes = [EXPECTED_NOTES[a] for a in sorted(algorithms) if a in EXPECTED_NOTES]
        if algorithms - set(EXPECTED_NOTES):
            label = "by traffic" if self._narrow else "depends on traffic"
            notes.append(f"{label} = the algorithm decides per request, no share is promised")
        notes.append(f"actual = share of the pool's requests over the last {SHARE_WINDOW} s")
        if not self._narrow:
            notes.append("busy = in flight · p50/p95 in ms over 60 s")
        self._legend.update(" · ".join(notes))

    def _update_events(self, snapshot: EngineSnapshot) -> None:
        # Redrawn every tick: the ages move on even when no new event arrived.
        styles = self.styles_
        wanted = [e for e in snapshot.events if e.kind in ("health", "edit")][-EVENT_LINES:]
        text = Text()
        text.append("recent changes", style=styles["bold"])
        if not wanted:
            text.append(
                "\n  none yet: health changes and your edits appear here", style=styles["muted"]
            )
        for e in reversed(wanted):
            age = human_age(self._now - (e.time or self._now))
            text.append(f"\n  {age:>5} ago ", style=styles["muted"])
            text.append(f"{e.kind:<7}", style=styles["warn" if e.kind == "health" else "info"])
            text.append(f" {e.who}: {e.message}")
        self._events_box.update(text)

    def focus_default(self) -> None:
        table = self._tables.get(self._active_pool or "")
        if table is None and self._tables:
            # Nothing chosen yet: the first pool, so the key bar shows the backend keys at once.
            table = next(iter(self._tables.values()))
        if table is not None:
            table.focus()

    # -- selection -------------------------------------------------------------------------
    def on_descendant_focus(self, event: Any) -> None:
        pool = getattr(event.widget, "pool_name", None)
        if pool is not None:
            self._active_pool = pool

    def on_pool_table_leave(self, event: PoolTable.Leave) -> None:
        """Carry the cursor into the neighbouring pool (or to the first or last of all)."""
        event.stop()
        tables = [t for t in self._tables.values() if t.row_count]
        if event.table not in tables:
            return
        i = tables.index(event.table)
        if event.where == "next" and i + 1 < len(tables):
            target, row = tables[i + 1], 0
        elif event.where == "previous" and i > 0:
            target, row = tables[i - 1], tables[i - 1].row_count - 1
        elif event.where == "first" and i > 0:
            target, row = tables[0], 0
        elif event.where == "last" and i + 1 < len(tables):
            target, row = tables[-1], tables[-1].row_count - 1
        else:
            return
        target.move_cursor(row=row, animate=False)
        target.focus()
        target.scroll_visible(animate=False)

    def selected(self) -> tuple[str, str, BackendView] | None:
        """``(pool, backend, latest view)`` under the cursor of the active pool's table."""
        pool = self._active_pool
        if pool is None or pool not in self._tables:
            return None
        order = self._order[pool]
        row = self._tables[pool].cursor_row
        if not order or not 0 <= row < len(order):
            return None
        name = order[row]
        return pool, name, self._data[pool][name]

    def _need_selection(self) -> tuple[str, str, BackendView] | None:
        sel = self.selected()
        if sel is None:
            self.notify("no backend selected", severity="warning")
        return sel

    def _report(self, res: Result) -> bool:
        if not res.ok:
            self.notify(res.error or "the engine refused the change", severity="error")
        return res.ok

    def _refresh_now(self) -> None:
        """Show an accepted edit at once instead of waiting for the next tick."""
        self.update_view(self.engine.snapshot())

    def _confirm(self, question: str, yes: str, then: Any) -> None:
        def answer(ok: bool | None) -> None:
            if ok:
                then()

        self.app.push_screen(ConfirmScreen(question, yes=yes), answer)

    # -- actions ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fault":
            # Fault keys exist only in the classroom demo; elsewhere they stay out of the key bar.
            return self._demo
        return True

    def action_weight(self, delta: int) -> None:
        sel = self._need_selection()
        if sel is None:
            return
        pool, name, b = sel
        new = b.weight + delta
        if new < 0:
            self.notify(f"{name}: the weight is already 0 (out of rotation)", severity="warning")
            return
        self._set_weight(pool, name, new)

    def _set_weight(self, pool: str, name: str, weight: int) -> None:
        if self._report(self.engine.control.set_weight(pool, name, weight)):
            self._refresh_now()

    def action_type_weight(self) -> None:
        sel = self._need_selection()
        if sel is None:
            return
        pool, name, b = sel

        def apply(value: int | None) -> None:
            if value is not None:
                self._set_weight(pool, name, value)

        self.app.push_screen(WeightScreen(name, b.weight), apply)

    def action_algorithm(self) -> None:
        pool = self._active_pool
        if pool is None:
            self.notify("no pool to configure", severity="warning")
            return

        def apply(choice: str | None) -> None:
            if choice is None:
                return
            if self._report(self.engine.control.set_algorithm(pool, choice)):
                self.notify(f"pool {pool}: {choice}")
                self._refresh_now()

        current = self._pools[pool].algorithm if pool in self._pools else None
        self.app.push_screen(
            ChooseScreen(
                f"Balancing algorithm for pool {pool}", ALGORITHMS, current, ALGORITHM_NOTES
            ),
            apply,
        )

    def action_drain(self) -> None:
        sel = self._need_selection()
        if sel is None:
            return
        pool, name, b = sel
        drain = not b.draining
        if self._report(self.engine.control.set_draining(pool, name, drain)):
            self.notify(f"{name}: {'draining' if drain else 'drain cancelled'}")
            self._refresh_now()

    def action_toggle_enabled(self) -> None:
        sel = self._need_selection()
        if sel is None:
            return
        pool, name, b = sel

        def apply(enabled: bool) -> None:
            if self._report(self.engine.control.set_enabled(pool, name, enabled)):
                self.notify(f"{name}: {'enabled' if enabled else 'disabled'}")
                self._refresh_now()

        if b.enabled:
            self._confirm(
                f"Disable {name}? It takes no new requests until you enable it again (x).",
                "Disable",
                lambda: apply(False),
            )
        else:
            apply(True)

    def action_fault(self, kind: str) -> None:
        sel = self._need_selection()
        if sel is None or not self._demo:
            return
        _, name, b = sel
        fault = b.fault
        if fault is None:
            self.notify(f"{name} is not a demo backend", severity="warning")
            return
        control = self.engine.control

        def run(res: Result) -> None:
            if self._report(res):
                self._refresh_now()

        if kind == "kill":
            if fault.killed:
                run(control.fault(name, "revive"))
                self.notify(f"{name}: revived")
            else:
                self._confirm(
                    f"Kill demo backend {name}? Its server stops answering until you revive "
                    "it (X again).",
                    "Kill",
                    lambda: run(control.fault(name, "kill")),
                )
        elif kind == "latency":
            run(control.fault(name, "latency", 0.0 if fault.extra_latency else LATENCY_FAULT))
        elif kind == "error_rate":
            run(control.fault(name, "error_rate", 0.0 if fault.error_rate else ERROR_FAULT))
        elif kind == "flap":
            run(control.fault(name, "flap", not fault.flap))
        else:
            run(control.fault(name, "health_fail", not fault.health_fail))
