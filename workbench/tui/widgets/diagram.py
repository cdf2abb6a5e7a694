"""A live picture of the running system: who talks to whom, how fast, and how healthy.

``clients → forward proxy → origins`` and ``clients → reverse proxy → routes → pools →
backends``, each edge labelled with its rate over the last 10 s, each backend coloured by health
with its weight and share, the cache as a box with its hit rate, blocked requests shown stopped at
the proxy. A followed request lights up the path its trace took.

Drawing is pure (:func:`build_diagram` turns plain snapshot data into :class:`Content`) so it is
tested without an app; colours are theme variables, so every theme restyles it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from textual.content import Content
from textual.widgets import Static

from workbench.engine.snapshot import BackendView, EngineSnapshot, PoolView
from workbench.tui.widgets.palette import STATE_ROLES, role

__all__ = ["Layout", "SystemDiagram", "build_diagram", "path_of", "COMPACT", "FULL"]

HEALTH_STYLE = {
    state: role(name, "bold") if name == "bad" else role(name)
    for state, name in STATE_ROLES.items()
}
HEALTH_DOT = {"up": "●", "down": "✗", "ejected": "✗", "draining": "◐", "disabled": "○"}
ALGO_SHORT = {
    "round_robin": "rr",
    "weighted_round_robin": "wrr",
    "least_connections": "least conn",
    "random_two": "random 2",
    "ip_hash": "ip hash",
    "consistent_hash": "hash",
}
LIT = role("accent", "bold reverse")
"""Style of the nodes and edges on the followed request's path."""
MAX_ORIGINS = 4
MUTED = role("muted")


@dataclass(frozen=True, slots=True)
class Layout:
    """Column widths of one layout; ``lead`` 0 drops the clients column."""

    lead: int
    proxy: int
    route: int
    edge: int
    pool: int
    backend: int
    compact: bool


FULL = Layout(lead=20, proxy=22, route=18, edge=12, pool=18, backend=62, compact=False)
COMPACT = Layout(lead=0, proxy=0, route=11, edge=9, pool=8, backend=46, compact=True)


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    if len(text) > width:
        return text[: max(0, width - 1)] + "…"
    return text.ljust(width)


def _rate(value: float | None) -> str:
    v = float(value or 0.0)
    return f"{v:.0f}/s" if v >= 100 else f"{v:.1f}/s"


def _window(stats: Mapping[str, Any], proxy: str, seconds: int) -> Mapping[str, Any]:
    windows = (stats.get("proxies") or {}).get(proxy) or {}
    return windows.get(seconds) or windows.get(str(seconds)) or {}


def _fails(summary: Mapping[str, Any]) -> int:
    classes = summary.get("status_classes") or {}
    return int(classes.get("5xx", 0)) + int(classes.get("err", 0))


def path_of(record: Any) -> set[str]:
    """Node ids on the path a record took (see :func:`build_diagram` for the ids)."""
    proxy = getattr(record, "proxy", "")
    nodes = {f"clients:{proxy}", f"proxy:{proxy}"}
    status = getattr(record, "status", None)
    if getattr(record, "rule", None) and status is not None and status >= 300:
        return nodes | {f"blocked:{proxy}"}
    if getattr(record, "error", None) == "client not allowed":
        return nodes | {f"blocked:{proxy}"}
    if getattr(record, "cache", None) in ("hit", "stale"):
        return nodes | {"cache"}
    if getattr(record, "cache", None) == "revalidated":
        nodes.add("cache")
    backend = getattr(record, "backend", None)
    if proxy == "forward":
        if backend:
            nodes.add(f"origin:{backend}")
        return nodes
    for stage, verdict, _detail in getattr(record, "trace", ()) or ():
        if stage == "route" and verdict != "none":
            nodes.add(f"route:{verdict}")
    pool = getattr(record, "pool", None)
    if pool:
        nodes.add(f"pool:{pool}")
    if backend:
        nodes.add(f"backend:{backend}")
    return nodes


class _Canvas:
    """Lines of styled cells; a cell belongs to a node and lights up with it."""

    def __init__(self, lit: set[str]) -> None:
        self.lit = lit
        self.lines: list[list[tuple[str, str]]] = []

    def row(self) -> list[tuple[str, str]]:
        line: list[tuple[str, str]] = []
        self.lines.append(line)
        return line

    def cell(
        self, line: list[tuple[str, str]], text: str, width: int, style: str = "", node: str = ""
    ) -> None:
        if width <= 0:
            return
        line.append((_fit(text, width), LIT if node and node in self.lit else style))

    def content(self) -> Content:
        out = []
        for line in self.lines:
            out.append(Content.assemble(*line).rstrip() if line else Content(""))
        return Content("\n").join(out)


def build_diagram(
    snapshot: Mapping[str, Any],
    routes: Sequence[tuple[str, str, str]] = (),
    *,
    blocked: Mapping[str, float] | None = None,
    layout: Layout = FULL,
    lit: Iterable[str] = (),
) -> Content:
    """The system picture for one snapshot.

    ``routes`` is ``(name, match, pool)`` per reverse route in order; ``blocked`` is the rate of
    requests stopped at each proxy. Node ids: ``clients:P``, ``proxy:P``, ``blocked:P``, ``cache``,
    ``route:NAME``, ``pool:NAME``, ``backend:NAME``, ``origin:HOST:PORT``.
    """
    canvas = _Canvas(set(lit))
    listeners = snapshot.get("listeners") or {}
    stats = snapshot.get("stats") or {}
    blocked = blocked or {}
    if listeners.get("forward"):
        _forward(canvas, snapshot, stats, blocked.get("forward", 0.0), layout)
    if snapshot.get("cache") is not None and (listeners.get("forward") or listeners.get("reverse")):
        _cache(canvas, snapshot, layout)
    if listeners.get("reverse"):
        _reverse(canvas, snapshot, stats, routes, blocked.get("reverse", 0.0), layout)
    if not canvas.lines:
        canvas.cell(canvas.row(), "no proxy is running", 40, MUTED)
    return canvas.content()


def _proxy_rows(
    canvas: _Canvas,
    proxy: str,
    snapshot: Mapping[str, Any],
    stats: Mapping[str, Any],
    blocked: float,
    layout: Layout,
) -> list[list[tuple[str, str]]]:
    """The proxy's own lines; in the full layout the first one continues to the right."""
    address = str((snapshot.get("listeners") or {}).get(proxy, "")).split("://", 1)[-1]
    port = address.rsplit(":", 1)[-1]
    w10 = _window(stats, proxy, 10)
    fails = _fails(_window(stats, proxy, 60))
    fail_style = role("bad", "bold") if fails else MUTED
    stop = f"⊘ {_rate(blocked)} stopped here" if blocked else "⊘ none stopped"
    stop_style = role("bad") if blocked else MUTED
    if layout.compact:
        head = canvas.row()
        canvas.cell(head, f"{proxy.upper()} :{port}", 15, "bold", f"proxy:{proxy}")
        canvas.cell(head, f"in {_rate(w10.get('rate'))}", 11, "", f"clients:{proxy}")
        canvas.cell(head, f"5xx {fails} (60 s)", 15, fail_style)
        canvas.cell(head, stop, 25, stop_style, f"blocked:{proxy}")
        return [canvas.row()]
    first, second, third = canvas.row(), canvas.row(), canvas.row()
    canvas.cell(
        first, f"clients ─ {_rate(w10.get('rate'))} ─►", layout.lead, "", f"clients:{proxy}"
    )
    canvas.cell(first, f"[ {proxy.upper()} :{port} ]", layout.proxy, "bold", f"proxy:{proxy}")
    canvas.cell(second, "", layout.lead)
    canvas.cell(second, f"  {stop}", layout.proxy, stop_style, f"blocked:{proxy}")
    canvas.cell(third, "", layout.lead)
    canvas.cell(third, f"  5xx {fails} in 60 s", layout.proxy, fail_style)
    return [first, second, third]


def _forward(
    canvas: _Canvas,
    snapshot: Mapping[str, Any],
    stats: Mapping[str, Any],
    blocked: float,
    layout: Layout,
) -> None:
    rows = _proxy_rows(canvas, "forward", snapshot, stats, blocked, layout)
    pooled = {
        b.get("name") for p in (snapshot.get("pools") or {}).values() for b in p.get("backends", ())
    }
    origins = sorted(
        (
            (name, s)
            for name, s in (stats.get("backends") or {}).items()
            if name not in pooled and s.get("requests_60s")
        ),
        key=lambda item: -float(item[1].get("rate_10s") or 0.0),
    )
    shown = origins[:MAX_ORIGINS]
    extra = len(origins) - len(shown)
    lines = [(f"origin:{name}", f"{name}  {_rate(s.get('rate_10s'))}") for name, s in shown]
    if extra:
        lines.append(("", f"… {extra} more origins"))
    if not lines:
        lines = [("", "origins: none in the last 60 s")]
    indent = 2 if layout.compact else 0
    for i, (node, label) in enumerate(lines):
        while len(rows) <= i:
            row = canvas.row()
            canvas.cell(row, "", layout.lead + layout.proxy)
            rows.append(row)
        line = rows[i]
        last = i == len(lines) - 1
        branch = (
            ("─┬─► " if len(lines) > 1 else "───► ") if i == 0 else (" └─► " if last else " ├─► ")
        )
        if layout.compact:
            branch = " └► " if last else " ├► "
            canvas.cell(line, "", indent)
        canvas.cell(line, branch, len(branch), "", node)
        style = role("text") if node else MUTED
        canvas.cell(line, label, layout.backend, style, node)
    canvas.row()


def _cache(canvas: _Canvas, snapshot: Mapping[str, Any], layout: Layout) -> None:
    cache = snapshot.get("cache") or {}
    ratio = cache.get("hit_ratio_60s")
    hits = f"{ratio * 100:.0f}% hits (60 s)" if ratio is not None else "no lookups yet"
    on = [
        p
        for p in ("reverse", "forward")
        if ((snapshot.get("proxies") or {}).get(p) or {}).get("cache")
    ]
    used = f"used by {' and '.join(on)}" if on else "off for both proxies"
    entries = f"{cache.get('entries', 0)} entries"
    if layout.compact:
        row = canvas.row()
        canvas.cell(row, "CACHE", 7, "bold", "cache")
        canvas.cell(row, hits, 18, role("ok") if ratio else MUTED, "cache")
        canvas.cell(row, f"{entries} · {used}", 50, MUTED)
        canvas.row()
        return
    width = 26
    top, mid, bottom = canvas.row(), canvas.row(), canvas.row()
    for line in (top, mid, bottom):
        canvas.cell(line, "", layout.lead)
    canvas.cell(top, "╭─ CACHE " + "─" * (width - 10) + "╮", width, "bold", "cache")
    canvas.cell(mid, f"│ {_fit(hits, width - 4)} │", width, role("ok") if ratio else "", "cache")
    tail = f"╰─ {entries} "
    canvas.cell(bottom, tail + "─" * (width - len(tail) - 1) + "╯", width, "", "cache")

    canvas.cell(top, "", 2)
    canvas.cell(top, used, 40, MUTED)
    canvas.row()


def _pool_views(snapshot: Mapping[str, Any]) -> dict[str, PoolView]:
    """The typed pools: the expected and actual shares the Backends view shows, never recomputed."""
    typed = snapshot if isinstance(snapshot, EngineSnapshot) else EngineSnapshot.from_dict(snapshot)
    return {p.name: p for p in typed.pools}


def _reverse(
    canvas: _Canvas,
    snapshot: Mapping[str, Any],
    stats: Mapping[str, Any],
    routes: Sequence[tuple[str, str, str]],
    blocked: float,
    layout: Layout,
) -> None:
    rows = _proxy_rows(canvas, "reverse", snapshot, stats, blocked, layout)
    pools = _pool_views(snapshot)
    if not routes:
        routes = tuple((name, "", name) for name in pools)
    drawn: set[str] = set()
    i = 0
    for r_index, (route, match, pool_name) in enumerate(routes):
        pool = pools.get(pool_name)
        backends: list[BackendView] = list(pool.backends) if pool is not None else []
        first_route, last_route = r_index == 0, r_index == len(routes) - 1
        again = pool_name in drawn
        drawn.add(pool_name)
        members: list[BackendView | None] = list(backends) if backends and not again else [None]
        for b_index, b in enumerate(members):
            while len(rows) <= i:
                row = canvas.row()
                canvas.cell(row, "", layout.lead + layout.proxy)
                rows.append(row)
            line = rows[i]
            i += 1
            route_node = f"route:{route}"
            pool_node = f"pool:{pool_name}"
            if b_index == 0:
                if layout.compact:
                    branch = "└ " if last_route else "├ "
                else:
                    branch = (
                        ("─┬─" if len(routes) > 1 else "───")
                        if first_route
                        else (" └─" if last_route else " ├─")
                    )
                canvas.cell(line, branch, len(branch), "", route_node)
                canvas.cell(line, f"{route} {match}".strip(), layout.route, "", route_node)
                rate = sum(x.rate for x in backends)
                edge = f"► {_rate(rate)}" if layout.compact else f"─ {_rate(rate)} ─►"
                canvas.cell(line, edge, layout.edge, "", pool_node)
                algorithm = pool.algorithm if pool is not None else ""
                algo = ALGO_SHORT.get(algorithm, algorithm)
                label = pool_name if layout.compact else f"{pool_name} · {algo}"
                if again:
                    label = f"{pool_name} (above)"
                canvas.cell(line, label, layout.pool, "bold", pool_node)
            else:
                cont = "  " if layout.compact else "   "
                cont = cont if last_route else ("│ " if layout.compact else " │ ")
                canvas.cell(line, cont, len(cont), "", route_node)
                canvas.cell(line, "", layout.route + layout.edge + layout.pool)
            if b is None:
                if not backends:
                    canvas.cell(line, " ─► no backends", layout.backend, role("warn"), pool_node)
                continue
            n = len(members)
            fork = (
                ("┬► " if n > 1 else "─► ")
                if b_index == 0
                else ("└► " if b_index == n - 1 else "├► ")
            )
            _backend(canvas, line, fork, b, layout)
    canvas.row()


def expected_label(expected: float | None) -> str:
    """``exp 60%``, or ``by traffic`` when the algorithm promises no share (as in Backends)."""
    return "by traffic" if expected is None else f"exp {expected:.0%}"


def _backend(
    canvas: _Canvas,
    line: list[tuple[str, str]],
    fork: str,
    b: BackendView,
    layout: Layout,
) -> None:
    node = f"backend:{b.name}"
    state = b.state
    style = HEALTH_STYLE.get(state, "")
    canvas.cell(line, fork, 3, "", node)
    canvas.cell(
        line, f"{HEALTH_DOT.get(state, '?')} {b.name}", 10 if layout.compact else 12, style, node
    )
    got = f"got {b.actual_share:.0%}"
    if layout.compact:
        # A backend that is not up is promised nothing: its state says more than "exp 0%".
        if state == "up":
            text = f"w{b.weight} {expected_label(b.expected_share)} {got} {_rate(b.rate)}"
        else:
            text = f"{state} w{b.weight} {got} {_rate(b.rate)}"
        canvas.cell(line, text, layout.backend - 13, style)
        return
    canvas.cell(line, f"{state:<9}", 9, style)
    canvas.cell(
        line,
        f"weight {b.weight:<3} {expected_label(b.expected_share):<10} {got:<8} {_rate(b.rate)}",
        layout.backend - 24,
        "",
    )


class SystemDiagram(Static):
    """The live system picture; the Overview view feeds it every refresh."""

    DEFAULT_CSS = """
    SystemDiagram { height: auto; width: 1fr; }
    """

    def show(
        self,
        snapshot: Mapping[str, Any],
        routes: Sequence[tuple[str, str, str]],
        *,
        blocked: Mapping[str, float],
        compact: bool,
        lit: Iterable[str] = (),
    ) -> None:
        """Redraw from one snapshot."""
        layout = COMPACT if compact else FULL
        self.update(build_diagram(snapshot, routes, blocked=blocked, layout=layout, lit=lit))
