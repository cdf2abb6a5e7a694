"""The Overview view: a live diagram of both proxies, requests to follow, and recent events.

The diagram (:mod:`workbench.tui.widgets.diagram`) shows clients, proxies, routes, pools,
backends and origins with live rates and health. Below it, the newest requests: move onto one
(``j``/``k`` or the arrows) and its path lights up in the diagram; the list holds still while
you follow, ``escape`` lets it run again. At small sizes (80×24) the diagram switches to its
compact layout and the event log gives way.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.events import Resize
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from workbench.tui.views.base import View
from workbench.tui.widgets.bars import human_age
from workbench.tui.widgets.diagram import SystemDiagram, path_of
from workbench.tui.widgets.palette import role, themed

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

PURPOSE: dict[str, str] = {
    "forward": "acts for the clients: privacy, access control",
    "reverse": "acts for the servers: balancing, caching, shielding",
}
"""One line per proxy on what it is for (the teaching core of the overview)."""

EVENT_STYLES: dict[str, str] = {
    "health": role("warn"),
    "edit": role("info"),
    "error": role("bad", "bold"),
}
"""Theme roles, so every theme (the projector's too) restyles the event kinds."""
MAX_EVENTS = 30
RECENT = 40
"""Requests offered to follow."""
BLOCK_WINDOW = 10.0
"""Seconds over which the rate of blocked requests is measured."""
COMPACT_BELOW = (120, 36)
"""Width or height under which the compact layout is used."""


def routes_of(engine: Any) -> tuple[tuple[str, str, str], ...]:
    """``(name, match, pool)`` for each reverse route, from the engine's configuration."""
    reverse = getattr(getattr(engine, "config", None), "reverse", None)
    out = []
    for r in getattr(reverse, "routes", ()) or ():
        match = r.path_prefix or "/"
        if getattr(r, "host", None) not in (None, "", "*"):
            match = f"{r.host}{match}"
        out.append((r.name, match, r.pool))
    return tuple(out)


def _blocked(rec: Any) -> bool:
    status = rec.status
    if rec.rule and status is not None and status >= 300:
        return True
    return rec.error == "client not allowed"


PROXY_SHORT = {"forward": "fwd", "reverse": "rev"}
"""The proxies' short names, as the Traffic list spells them."""


def record_label(rec: Any) -> Text:
    """One line for the follow list: id, proxy, request, outcome."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"#{rec.id:<6}", style=role("muted"))
    text.append(f"{PROXY_SHORT.get(rec.proxy, rec.proxy[:3])} ", style="bold")
    target = rec.url if rec.proxy == "forward" else rec.path
    text.append(f"{rec.method} {target}  ")
    status = rec.status
    text.append(str(status) if status is not None else "ERR")
    where = rec.rule if _blocked(rec) else rec.cache if rec.cache in ("hit", "stale") else None
    if where:
        text.append(f"  {where}", style=role("muted"))
    elif rec.backend:
        text.append(f"  → {rec.backend}", style=role("muted"))
    return text


class OverviewView(View, can_focus=True):
    """The system as a live diagram, requests to follow through it, and recent events.

    | Key | Action |
    | :- | :- |
    | j/k or down/up | Follow the next or previous recent request: its path lights up. |
    | escape | Stop following; the list runs again. |
    """

    view_id: ClassVar[str] = "overview"
    title: ClassVar[str] = "Overview"

    BINDINGS: ClassVar = [
        Binding(
            "j,down",
            "follow(1)",
            "Follow",
            id="overview_follow_next",
            tooltip="Follow a recent request: its path lights up in the diagram",
        ),
        Binding(
            "k,up",
            "follow(-1)",
            "Follow",
            show=False,
            id="overview_follow_prev",
            tooltip="Follow the previous recent request",
        ),
        Binding(
            "escape",
            "unfollow",
            "Stop following",
            show=False,
            id="overview_unfollow",
            tooltip="Stop following; the request list runs again",
        ),
    ]

    DEFAULT_CSS = """
    OverviewView { layout: vertical; }
    OverviewView > #ov-diagram-box { height: auto; max-height: 1fr; }
    OverviewView #ov-purpose { height: auto; color: $text-muted; }
    OverviewView > #ov-recent { height: 8; border: none; }
    OverviewView > #ov-events { height: 1fr; }
    OverviewView.-compact > #ov-recent { height: 4; }
    OverviewView.-compact > #ov-events { display: none; }
    OverviewView.-compact #ov-purpose { display: none; }
    """

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self._cursor = 0
        self._recent: deque[Any] = deque(maxlen=RECENT)
        self._blocks: deque[tuple[float, str]] = deque(maxlen=5000)
        self._shown: list[Any] = []
        """The records the list shows, newest first: following picks from these (not from
        ``_recent``, which keeps moving while the list holds still)."""
        self._followed: Any = None
        self._routes = routes_of(engine)
        self._snapshot: dict[str, Any] | None = None
        # Created up front: a refresh racing mount or teardown must not fail a query.
        self._diagram = SystemDiagram(id="ov-diagram")
        self._purpose = Static("", id="ov-purpose")
        self._list = OptionList(id="ov-recent")
        # The view keeps focus so j/k/escape always reach it; a click still picks a request.
        self._list.can_focus = False
        self._events_box = Static("", id="ov-events", classes="panel")
        self._events_box.border_title = "Recent events"

    def compose(self) -> ComposeResult:
        box = VerticalScroll(self._diagram, self._purpose, id="ov-diagram-box", classes="panel")
        box.border_title = "The system, live (rates over the last 10 s)"
        box.can_focus = False
        yield box
        self._list.border_title = "Recent requests: j/k to follow one"
        yield self._list
        yield self._events_box

    def on_mount(self) -> None:
        self._apply_size(self.app.size.width, self.app.size.height)

    def on_resize(self, event: Resize) -> None:
        self._apply_size(self.app.size.width, self.app.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        self.set_class(width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1], "-compact")
        if self._snapshot is not None:
            self._draw(self._snapshot)

    @property
    def compact(self) -> bool:
        """Whether the compact layout is in use."""
        return self.has_class("-compact")

    def focus_default(self) -> None:
        self.focus()

    # -- data ------------------------------------------------------------------------------
    def _drain(self, now: float) -> None:
        reader = getattr(self.engine, "records_since", None)
        if reader is None:
            return
        records, self._cursor, _skipped = reader(self._cursor, 2000)
        for rec in records:
            self._recent.append(rec)
            if _blocked(rec):
                self._blocks.append((rec.start, rec.proxy))
        while self._blocks and self._blocks[0][0] < now - BLOCK_WINDOW * 3:
            self._blocks.popleft()

    def blocked_rates(self, now: float) -> dict[str, float]:
        """Requests per second stopped at each proxy over the last :data:`BLOCK_WINDOW`."""
        counts: dict[str, int] = {}
        for t, proxy in self._blocks:
            if t >= now - BLOCK_WINDOW:
                counts[proxy] = counts.get(proxy, 0) + 1
        return {p: n / BLOCK_WINDOW for p, n in counts.items()}

    def update_view(self, snapshot: dict[str, Any]) -> None:
        self._snapshot = snapshot
        now = float(snapshot.get("time") or 0.0)
        self._drain(now)
        self._draw(snapshot)
        if self._followed is None:
            self._refresh_list()
        self._events_box.update(self._events(snapshot))

    def _draw(self, snapshot: dict[str, Any]) -> None:
        now = float(snapshot.get("time") or 0.0)
        lit = path_of(self._followed) if self._followed is not None else ()
        self._diagram.show(
            snapshot,
            self._routes,
            blocked=self.blocked_rates(now),
            compact=self.compact,
            lit=lit,
        )
        listeners = snapshot.get("listeners") or {}
        purpose = Text()
        for kind in ("forward", "reverse"):
            if listeners.get(kind):
                purpose.append(f"{kind} proxy ", style="bold")
                purpose.append(f"{PURPOSE[kind]}   ")
        admin = listeners.get("admin")
        if admin:
            purpose.append(f"admin API {admin} (JSON, /metrics)")
        self._purpose.update(purpose)

    @property
    def _shown_ids(self) -> list[int]:
        return [rec.id for rec in self._shown]

    def _refresh_list(self) -> None:
        newest = list(reversed(self._recent))
        if [rec.id for rec in newest] == self._shown_ids:
            return
        self._shown = newest
        self._list.set_options(
            [Option(themed(record_label(rec)), id=str(rec.id)) for rec in newest]
            or [Option(themed(Text("no requests yet", style=role("muted"))), disabled=True)]
        )

    # -- following -------------------------------------------------------------------------
    def action_follow(self, delta: int) -> None:
        ol = self._list
        if not self._shown:
            return
        if self._followed is None:
            ol.highlighted = 0
        elif delta > 0:
            ol.action_cursor_down()
        else:
            ol.action_cursor_up()
        self._follow_highlighted()

    def _follow_highlighted(self) -> None:
        index = self._list.highlighted
        if index is None or index >= len(self._shown):
            return
        self._followed = self._shown[index]
        wanted = self._followed.id
        self._list.border_title = (
            f"Following #{wanted}: its path is lit above · esc: stop following"
        )
        if self._snapshot is not None:
            self._draw(self._snapshot)

    @on(OptionList.OptionSelected, "#ov-recent")
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._follow_highlighted()

    def action_unfollow(self) -> None:
        self._followed = None
        self._list.highlighted = None
        self._list.border_title = "Recent requests: j/k to follow one"
        self._shown = []
        self._refresh_list()
        if self._snapshot is not None:
            self._draw(self._snapshot)

    @property
    def followed(self) -> Any:
        """The request being followed, or None."""
        return self._followed

    # -- events ----------------------------------------------------------------------------
    def _events(self, snapshot: dict[str, Any]) -> Content:
        now = float(snapshot.get("time") or 0.0)
        events = (snapshot.get("events") or [])[-MAX_EVENTS:]
        if not events:
            return Content.styled(
                "nothing yet: health changes, live edits and errors appear here", "$text-muted"
            )
        lines = []
        for e in reversed(events):
            age = human_age(now - (e.get("time") or now))
            kind = str(e.get("kind", ""))
            lines.append(
                Content.assemble(
                    (f"{age:>5} ago ", role("muted")),
                    (f"{kind:<7}", EVENT_STYLES.get(kind, role("muted"))),
                    (f"{e.get('who', ''):<6} ", role("muted")),
                    str(e.get("message", "")),
                )
            )
        return Content("\n").join(lines)
