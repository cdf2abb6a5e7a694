"""The Textual workbench: a header, the numbered views, a footer, and the screens over them.

The app owns only view state. It pulls from the engine on a timer (one ``snapshot()`` per tick,
handed to the visible view) and changes the engine only through ``engine.control``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import ContentSwitcher, LoadingIndicator, Static

from workbench.config.model import Config
from workbench.tui.views.base import View
from workbench.tui.widgets.header import WorkbenchHeader
from workbench.tui.widgets.keybar import KeyBar

log = logging.getLogger("workbench.tui")

TICK_SECONDS = 0.2
"""Refresh period: 5 Hz is smooth to the eye and cheap for the proxy sharing the loop."""
PROJECTOR_THEME = "workbench-projector"

# (key, view id, title, module, class). Views other than Traffic land from other work streams;
# a missing one shows a placeholder so the app runs meanwhile.
VIEW_SPECS: tuple[tuple[str, str, str, str, str], ...] = (
    ("1", "traffic", "Traffic", "workbench.tui.views.traffic", "TrafficView"),
    ("2", "backends", "Backends", "workbench.tui.views.backends", "BackendsView"),
    ("3", "cache", "Cache", "workbench.tui.views.cache", "CacheView"),
    ("4", "rules", "Rules", "workbench.tui.views.rules", "RulesView"),
    ("5", "overview", "Overview", "workbench.tui.views.overview", "OverviewView"),
    ("6", "lessons", "Lessons", "workbench.tui.views.lessons", "LessonsView"),
    ("7", "charts", "Charts", "workbench.tui.views.charts", "ChartsView"),
)


class ComingSoon(View):
    """Stand-in for a view whose module has not landed yet."""

    def compose(self):
        yield Static(f"{self.title}: coming soon", classes="coming-soon")


def load_view_class(view_id: str, title: str, module: str, name: str) -> type[View]:
    """The view class, or a placeholder when its module is not importable (yet)."""
    try:
        cls = getattr(importlib.import_module(module), name) if module else None
    except (ImportError, AttributeError):
        cls = None
    if cls is None:
        return type(f"ComingSoon_{view_id}", (ComingSoon,), {"view_id": view_id, "title": title})
    return cls


PROJECTOR = Theme(
    name=PROJECTOR_THEME,
    primary="#ffff00",
    secondary="#00ffff",
    accent="#ff8800",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1a1a1a",
    success="#00ff00",
    warning="#ffff00",
    error="#ff4040",
    dark=True,
    variables={"footer-key-foreground": "#ffff00", "block-cursor-background": "#ffff00"},
)
"""High contrast for beamers: pure black, white text, saturated accents."""


def live_config(base: Config, engine: Any) -> Config:
    """``base`` with the engine's current weights, algorithms, rules and cache switches."""
    cfg = replace(base, rules=tuple(getattr(engine, "rule_configs", base.rules)))
    reverse = cfg.reverse
    if reverse is not None:
        pools = {}
        for name, pool_cfg in reverse.pools.items():
            live = engine.pools.get(name)
            if live is None:
                pools[name] = pool_cfg
                continue
            backends = tuple(
                replace(b, weight=live.backends[b.name].weight) if b.name in live.backends else b
                for b in pool_cfg.backends
            )
            pools[name] = replace(pool_cfg, algorithm=live.algorithm, backends=backends)
        reverse = replace(reverse, pools=pools)
        if engine.reverse is not None:
            reverse = replace(reverse, cache=bool(engine.reverse.cache_enabled))
        cfg = replace(cfg, reverse=reverse)
    if cfg.forward is not None and getattr(engine, "forward", None) is not None:
        cfg = replace(
            cfg,
            forward=replace(
                cfg.forward,
                cache=bool(engine.forward.cache_enabled),
                privacy=engine.forward.privacy,
            ),
        )
    return cfg


class WorkbenchApp(App[None]):
    """Proxy Workbench: watch and steer the live proxies.

    | Key | Action |
    | :- | :- |
    | 1–7 | Traffic, Backends, Cache, Rules, Overview, Lessons, Charts. |
    | tab | Next view. |
    | ? | Help (every key). |
    | ctrl+p | Command palette. |
    | s | Save the live configuration to a new file. |
    | ctrl+t | Projector (high-contrast) theme. |
    | q | Quit (the proxies stop gracefully). |
    """

    TITLE = "Proxy Workbench"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar = [
        *(
            Binding(
                key,
                f"show_view('{view_id}')",
                title,
                id=f"view_{view_id}",
                show=False,
                tooltip=f"Show the {title} view",
            )
            for key, view_id, title, _m, _c in VIEW_SPECS
        ),
        Binding(
            "tab",
            "next_view",
            "Next view",
            id="next_view",
            show=False,
            priority=True,
            tooltip="Cycle through the views",
        ),
        Binding(
            "l",
            "show_view('lessons')",
            "Lessons",
            id="lessons",
            show=False,
            tooltip="Open the guided lessons (inside Lessons: the next lesson)",
        ),
        Binding("question_mark", "help", "Help", id="help", tooltip="Every key, by view"),
        Binding(
            "s",
            "save_config",
            "Save",
            id="save_config",
            tooltip="Save the live configuration to a new YAML file",
        ),
        Binding(
            "ctrl+t",
            "toggle_projector",
            "Projector",
            id="projector",
            show=False,
            tooltip="High-contrast theme for projectors",
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="Stop the proxies and leave"),
    ]

    def __init__(
        self, config: Config, *, engine: Any = None, runtime: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.runtime = runtime
        self.engine = engine if engine is not None else getattr(runtime, "engine", None)
        # Only an engine the app started itself is stopped by the app.
        self._owns_runtime = self.engine is None
        self.view_classes: list[tuple[str, type[View]]] = [
            (key, load_view_class(view_id, title, module, name))
            for key, view_id, title, module, name in VIEW_SPECS
        ]
        self.current_view = "traffic"
        self.last_snapshot: dict[str, Any] | None = None
        self._timer: Timer | None = None
        self._stopping = False
        self._last_error: str | None = None
        self._theme_before_projector = "textual-dark"

    # -- layout -----
    def compose(self):
        yield WorkbenchHeader(self.TITLE, id="header")
        with Container(id="main"):
            if self.engine is None:
                yield LoadingIndicator(id="loading")
            else:
                yield self._switcher()
        yield KeyBar()

    def _switcher(self) -> ContentSwitcher:
        views = []
        for _key, cls in self.view_classes:
            try:
                views.append(cls(self.engine, id=cls.view_id))
            except Exception as exc:  # one broken view must not take the workbench down
                log.exception("view %s failed", cls.view_id)
                stub = load_view_class(cls.view_id, cls.title, "", "")
                views.append(stub(self.engine, id=cls.view_id))
                self.notify(f"{cls.title} view failed: {exc}", severity="error")
        return ContentSwitcher(*views, initial=self.current_view, id="views")

    def on_mount(self) -> None:
        self.register_theme(PROJECTOR)
        if self.config.keymap:
            self.set_keymap(dict(self.config.keymap))
        self._update_tabs()
        if self.engine is None:
            self._start_runtime()
        else:
            self._engine_ready()

    @work(exclusive=True, group="runtime", exit_on_error=False)
    async def _start_runtime(self) -> None:
        from workbench.runtime import Runtime

        runtime = self.runtime if self.runtime is not None else Runtime(self.config)
        self.runtime = runtime
        self.query_one(WorkbenchHeader).set_status({}, None, "starting the proxies…")
        try:
            await runtime.start()
        except Exception as exc:  # a busy port or a bad certificate: say so plainly and leave
            try:
                await runtime.stop(0)
            except Exception:  # best effort; the start already failed
                log.debug("cleanup after failed start", exc_info=True)
            self.exit(return_code=1, message=f"workbench: cannot start: {exc}")
            return
        self.engine = runtime.engine
        for note in getattr(runtime, "notes", ()):
            self.notify(note, severity="warning")
        await self.query_one("#loading").remove()
        await self.query_one("#main").mount(self._switcher())
        self._engine_ready()

    def _engine_ready(self) -> None:
        self._timer = self.set_interval(TICK_SECONDS, self.tick, name="engine-tick")
        self._focus_view()
        self.tick()

    # -- the timer -----
    def tick(self) -> None:
        """Take one snapshot and hand it to the visible view and the header."""
        engine = self.engine
        if engine is None or self._stopping:
            return
        try:
            snapshot = engine.snapshot()
            self.last_snapshot = snapshot
            view = self.view()
            if view is not None:
                view.update_view(snapshot)
            windows = (snapshot.get("stats") or {}).get("windows") or {}
            # Keys are ints from the engine, strings when the snapshot came through JSON.
            rate = (windows.get(1) or windows.get("1") or {}).get("rate")
            self.query_one(WorkbenchHeader).set_status(engine.listeners, rate)
        except Exception as exc:  # keep ticking; show each distinct problem once
            message = f"refresh failed: {exc}"
            if message != self._last_error:
                self._last_error = message
                log.exception("refresh failed")
                self.notify(message, severity="error")

    # -- views -----
    def view(self, view_id: str | None = None) -> View | None:
        """The view with ``view_id`` (default: the visible one), once the engine is up."""
        try:
            return self.query_one(f"#views > #{view_id or self.current_view}", View)
        except Exception:
            return None

    def _update_tabs(self) -> None:
        tabs = [(key, cls.view_id, cls.title) for key, cls in self.view_classes]
        self.query_one(WorkbenchHeader).set_tabs(tabs, self.current_view)

    def _focus_view(self) -> None:
        view = self.view()
        if view is not None:
            self.set_focus(None)
            view.focus_default()

    def action_show_view(self, view_id: str) -> None:
        if view_id not in {cls.view_id for _k, cls in self.view_classes}:
            return
        self.current_view = view_id
        self._update_tabs()
        try:
            self.query_one("#views", ContentSwitcher).current = view_id
        except Exception:
            return  # still starting: the choice applies when the views mount
        self._focus_view()
        self.tick()

    def action_next_view(self) -> None:
        ids = [cls.view_id for _k, cls in self.view_classes]
        i = ids.index(self.current_view) if self.current_view in ids else -1
        self.action_show_view(ids[(i + 1) % len(ids)])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a screen is over the views, view switching and the app keys stand aside so
        # tab moves focus in the save dialog and `s`/`?` do not stack screens.
        if action in {"show_view", "next_view", "save_config", "help"}:
            return len(self.screen_stack) <= 1
        return True

    # -- screens -----
    def help_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Keys of the app and of every view, as the user's keymap has them."""
        keymap = dict(getattr(self, "_keymap", {}) or {})

        def rows(bindings: Iterable[Any]) -> list[tuple[str, str]]:
            grouped: dict[str, tuple[list[str], str]] = {}
            for b in Binding.make_bindings(bindings):
                keys = keymap.get(b.id, b.key) if b.id else b.key
                shown, _text = grouped.setdefault(
                    b.id or b.action, ([], b.tooltip or b.description or b.action)
                )
                for key in (k.strip() for k in keys.split(",")):
                    display = self.get_key_display(replace(b, key=key)) if key else ""
                    if display and display not in shown:
                        shown.append(display)
            return [(" ".join(shown), text) for shown, text in grouped.values()]

        sections = [
            ("Everywhere", rows(self.BINDINGS) + [("ctrl+p", "Command palette: every action")])
        ]
        from workbench.tui.views.traffic import RequestTable

        for _key, cls in self.view_classes:
            bindings = list(getattr(cls, "BINDINGS", []))
            if cls.view_id == "traffic":
                bindings += RequestTable.BINDINGS
            if issubclass(cls, ComingSoon):
                sections.append((f"{cls.title} view", [("", "coming soon")]))
            elif bindings:
                sections.append((f"{cls.title} view", rows(bindings)))
        from workbench.tui.screens.detail import DetailScreen
        from workbench.tui.widgets.filter_bar import FilterBar

        sections.append(
            (
                "Display filter",
                [("enter", "Apply (empty clears)")]
                + rows(FilterBar.BINDINGS)
                + [("", "~d host  ~u url  ~m method  ~c code/4xx  ~b backend  ~cache hit")]
                + [("", "~h header  ~t type  ~e error   combine with ! & | ( )")],
            )
        )
        sections.append(("Request detail", rows(DetailScreen.BINDINGS)))
        return sections

    def action_help(self) -> None:
        from workbench.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_sections()))

    def action_save_config(self) -> None:
        from workbench.tui.screens.save import SaveScreen

        if self.engine is None:
            self.notify("the proxies are still starting", severity="warning")
            return

        def saved(path: Path | None) -> None:
            if path is not None:
                self.notify(f"saved the live configuration to {path}")

        self.push_screen(SaveScreen(self.save_config), saved)

    def save_config(self, path: Path) -> str | None:
        """Write the live configuration to ``path`` (must not exist); an error message or None."""
        from workbench.config.dump import dump_config

        try:
            text = dump_config(live_config(self.config, self.engine))
            # "x" refuses to replace a file created since the dialog checked.
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(text)
        except FileExistsError:
            return f"{path} already exists; choose a new name"
        except Exception as exc:  # disk full, permissions, a config the dumper rejects
            return f"cannot save: {exc}"
        return None

    def action_toggle_projector(self) -> None:
        if self.theme == PROJECTOR_THEME:
            self.theme = self._theme_before_projector
        else:
            self._theme_before_projector = self.theme
            self.theme = PROJECTOR_THEME

    # -- engine actions offered in the palette -----
    def _control(self, method: str, *args: Any, done: str = "") -> None:
        engine = self.engine
        if engine is None:
            self.notify("the proxies are still starting", severity="warning")
            return
        res = getattr(engine.control, method)(*args)
        if not res.ok:
            self.notify(res.error or "failed", severity="error")
        elif done:
            self.notify(done.format(value=res.value))

    def _toggle_traffic(self) -> None:
        demo = (self.last_snapshot or {}).get("demo") or {}
        running = bool((demo.get("traffic") or {}).get("running"))
        self._control(
            "set_traffic", not running, done="demo traffic " + ("off" if running else "on")
        )

    def _view_action(self, view_id: str, action: str) -> None:
        self.action_show_view(view_id)
        view = self.view(view_id)
        if view is not None and hasattr(view, f"action_{action}"):
            self.call_later(getattr(view, f"action_{action}"))
        else:
            self.notify(f"{view_id} view: not available yet", severity="warning")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for _key, cls in self.view_classes:
            yield SystemCommand(
                f"View: {cls.title}",
                f"Switch to the {cls.title} view",
                lambda v=cls.view_id: self.action_show_view(v),
            )
        yield SystemCommand("View: next", "Cycle to the next view", self.action_next_view)
        yield SystemCommand(
            "Traffic: filter",
            "Show only matching requests",
            lambda: self._view_action("traffic", "open_filter"),
        )
        yield SystemCommand(
            "Traffic: pause / resume",
            "Freeze the request list (recording continues)",
            lambda: self._view_action("traffic", "toggle_pause"),
        )
        yield SystemCommand(
            "Traffic: follow on / off",
            "Keep the newest request in view",
            lambda: self._view_action("traffic", "toggle_follow"),
        )
        yield SystemCommand(
            "Cache: purge everything",
            "Drop every cached response",
            lambda: self._control("purge_cache", done="purged {value} cache entries"),
        )
        for mode, what in (
            ("transparent", "the origin sees X-Forwarded-For and Via"),
            ("anonymous", "the origin sees Via only"),
            ("elite", "no forwarding headers; the origin sees only the proxy's address"),
        ):
            yield SystemCommand(
                f"Forward proxy: privacy {mode}",
                f"Switch the forward proxy's privacy mode: {what}",
                lambda m=mode: self._control("set_privacy", m, done=f"forward privacy: {m}"),
            )
        yield SystemCommand(
            "Demo: traffic on / off",
            "Start or stop the built-in traffic generator",
            self._toggle_traffic,
        )
        yield SystemCommand(
            "Save live configuration…",
            "Write weights, algorithms and rules to a new file",
            self.action_save_config,
        )
        yield SystemCommand(
            "Projector theme on / off",
            "High-contrast colours for a beamer",
            self.action_toggle_projector,
        )
        yield SystemCommand(
            "Lessons: reset progress",
            "Forget which lessons were finished (kept across restarts)",
            lambda: self._view_action("lessons", "reset_progress_now"),
        )
        yield SystemCommand("Help: keys", "Every key, by view", self.action_help)
        yield from super().get_system_commands(screen)

    # -- leaving -----
    async def action_quit(self) -> None:
        """Stop the proxies (finishing in-flight requests) and exit."""
        if self._stopping:
            return
        self._stopping = True
        if self._timer is not None:
            self._timer.stop()
        if self._owns_runtime and self.runtime is not None and self.engine is not None:
            self.notify("stopping the proxies…", timeout=5)
            try:
                await self.runtime.stop(grace=2.0)
            except Exception as exc:  # exit anyway; say what went wrong
                self.exit(return_code=1, message=f"workbench: error while stopping: {exc}")
                return
        self.exit()


def make_app(config: Config, *, engine: Any = None, runtime: Any = None) -> WorkbenchApp:
    """The app for ``config``; with ``engine`` it shows that running engine and never stops it."""
    return WorkbenchApp(config, engine=engine, runtime=runtime)
