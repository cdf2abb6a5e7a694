"""The Textual workbench: a header, the numbered views, a footer, and the screens over them.

The app owns only view state. It pulls from the engine on a timer (one ``snapshot()`` per tick,
handed to the visible view) and changes the engine only through ``engine.control``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.css.query import NoMatches
from textual.markup import escape as escape_markup
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import ContentSwitcher, LoadingIndicator, Static

from workbench.config.model import Config
from workbench.engine.snapshot import EngineSnapshot
from workbench.tui.actions import ACTIONS, SCOPE_TITLES, Action, bindings, keys_of
from workbench.tui.views.base import View
from workbench.tui.widgets.header import WorkbenchHeader
from workbench.tui.widgets.keybar import KeyBar

log = logging.getLogger("workbench.tui")
_HERE = Path(__file__).resolve().parent

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
    variables={
        "footer-key-foreground": "#ffff00",
        "block-cursor-background": "#ffff00",
        # Black reads on every saturated button colour (white on the red one does not).
        "button-color-foreground": "#000000",
    },
)
"""High contrast for beamers: pure black, white text, saturated accents."""


def live_config(base: Config, snapshot: EngineSnapshot) -> Config:
    """``base`` with the live weights, algorithms, rules and proxy switches of ``snapshot``."""
    from workbench.config.model import RuleConfig

    rules = tuple(
        RuleConfig(**{k: v for k, v in r.as_config().items() if v is not None})
        for r in snapshot.rules
    )
    cfg = replace(base, rules=rules)
    reverse = cfg.reverse
    if reverse is not None:
        pools = {}
        for name, pool_cfg in reverse.pools.items():
            live = snapshot.pool(name)
            if live is None:
                pools[name] = pool_cfg
                continue
            weights = {b.name: b.weight for b in live.backends}
            backends = tuple(
                replace(b, weight=weights[b.name]) if b.name in weights else b
                for b in pool_cfg.backends
            )
            pools[name] = replace(pool_cfg, algorithm=live.algorithm, backends=backends)
        reverse = replace(reverse, pools=pools)
        proxy = snapshot.proxy("reverse")
        if proxy is not None:
            reverse = replace(reverse, cache=proxy.cache_enabled)
        cfg = replace(cfg, reverse=reverse)
    forward = snapshot.proxy("forward")
    if cfg.forward is not None and forward is not None:
        cfg = replace(
            cfg,
            forward=replace(
                cfg.forward,
                cache=forward.cache_enabled,
                privacy=forward.privacy or cfg.forward.privacy,
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
    # Absolute, so a subclass defined elsewhere (a test, a screenshot script) loads them too.
    CSS_PATH: ClassVar = [_HERE / "app.tcss", _HERE / "views.tcss"]
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar = [
        *bindings("app"),
        # ctrl+q works even inside a text field, so it is a priority binding; it asks too.
        Binding("ctrl+q", "request_quit", "Quit", id="quit_anywhere", show=False, priority=True),
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
        self.last_snapshot: EngineSnapshot | None = None
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
        if engine is None or self._stopping or self._exit:
            return
        try:
            snapshot = engine.snapshot()
            if not isinstance(snapshot, EngineSnapshot):  # an engine that still sends the dict
                snapshot = EngineSnapshot.from_dict(snapshot)
            self.last_snapshot = snapshot
            view = self.view()
            if view is not None:
                view.update_view(snapshot)
            self.query_one(WorkbenchHeader).show_snapshot(snapshot)
        except NoMatches:  # the views are being torn down (leaving)
            return
        except Exception as exc:  # keep ticking; show each distinct problem once
            message = f"refresh failed: {exc}"
            if message != self._last_error:
                self._last_error = message
                log.exception("refresh failed")
                self.notify(message, severity="error")

    # -- views -----
    def view(self, view_id: str | None = None) -> View | None:
        """The view with ``view_id`` (default: the visible one), once it is mounted.

        A view is in the DOM before its own children are mounted; handing it out only once it
        is mounted keeps ticks, keys and benchmarks from reaching a half-built view.
        """
        try:
            view = self.query_one(f"#views > #{view_id or self.current_view}", View)
        except Exception:
            return None
        return view if view.is_mounted else None

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
        if action == "save_config" and getattr(self.engine, "read_only", False):
            return False  # a saved capture has no live configuration to save
        if action in {"show_view", "next_view", "save_config", "help"}:
            return len(self.screen_stack) <= 1
        return True

    # -- screens -----
    def _user_keymap(self) -> dict[str, str]:
        return dict(getattr(self, "_keymap", {}) or {})

    def key_text(self, a: Action) -> str:
        """The keys of ``a`` as the user sees them (after their keymap), e.g. ``/ f``."""
        shown = []
        for key in keys_of(a, self._user_keymap()):
            display = self.get_key_display(Binding(key, a.action))
            if display not in shown:
                shown.append(display)
        return " ".join(shown)

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Every action of the table by scope, with the keys as the user's keymap has them."""
        sections: list[tuple[str, list[tuple[str, str]]]] = []
        for scope, title in SCOPE_TITLES.items():
            rows = [
                (self.key_text(a) or "palette", a.description) for a in ACTIONS if a.scope == scope
            ]
            if scope == "app":
                rows.append(
                    ("ctrl+p", "Command palette: every action, including those without a key")
                )
            if scope == "detail":
                from workbench.tui.screens.detail import DetailScreen

                # The detail screen declares its own section keys; list them after ours.
                known = {a.id for a in ACTIONS}
                for b in Binding.make_bindings(DetailScreen.BINDINGS):
                    if b.id not in known:
                        rows.append((self.get_key_display(b), b.tooltip or b.description))
            if scope in {cls.view_id for _k, cls in self.view_classes}:
                title = f"{title} view"
                # Views that declare their own extra keys (Lessons) still show them.
                cls = next(c for _k, c in self.view_classes if c.view_id == scope)
                known = {a.id for a in ACTIONS}
                for b in Binding.make_bindings(getattr(cls, "BINDINGS", [])):
                    if b.id not in known:
                        rows.append((self.get_key_display(b), b.tooltip or b.description))
            if rows:
                sections.append((title, rows))
        from workbench.tui.widgets.filter_bar import FilterBar

        sections.append(
            (
                "Display filter",
                [("enter", "Apply (empty clears)")]
                + [
                    (self.get_key_display(b), b.tooltip)
                    for b in Binding.make_bindings(FilterBar.BINDINGS)
                ]
                + [("", "~d host  ~u url  ~m method  ~c code/4xx  ~b backend  ~cache hit")]
                + [("", "~h header  ~t type  ~e error   combine with ! & | ( )")],
            )
        )
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
            text = dump_config(live_config(self.config, self.engine.snapshot()))
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

    def action_toggle_traffic(self) -> None:
        """Start or stop the classroom's demo traffic."""
        demo = self.last_snapshot.demo if self.last_snapshot is not None else None
        if demo is None:
            self.notify("no demo traffic in this configuration", severity="warning")
            return
        running = demo.traffic_running
        self._control(
            "set_traffic", not running, done="demo traffic " + ("off" if running else "on")
        )

    def action_set_privacy(self, mode: str) -> None:
        """Switch the forward proxy's privacy mode."""
        self._control("set_privacy", mode, done=f"forward proxy privacy: {mode}")

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Save an SVG of the screen (default: the current directory) and say where it went."""
        try:
            written = self.save_screenshot(filename, path or str(Path.cwd()))
        except OSError as exc:
            self.notify(f"cannot save the screenshot: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"screenshot saved to {Path(written).resolve()}")

    def run_scoped(self, a: Action) -> None:
        """Run ``a`` where it belongs: on the app, or on its view after switching to it."""
        if a.scope == "app":
            # After the palette has closed, so a screenshot does not show it.
            self.set_timer(0.1, partial(self.run_action, a.action))
            return
        self.action_show_view(a.scope)
        view = self.view(a.scope)
        if view is None:
            self.notify(
                f"{SCOPE_TITLES.get(a.scope, a.scope)}: not available yet", severity="warning"
            )
            return
        self.call_later(view.run_action, a.action)

    def _offered(self, a: Action) -> bool:
        if not a.palette or a.scope in ("list", "detail"):
            return False
        if a.demo and (self.engine is None or getattr(self.engine, "demo", None) is None):
            return False
        return a.scope == "app" or self.view(a.scope) is not None

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for a in ACTIONS:
            if not self._offered(a):
                continue
            keys = self.key_text(a)
            help_text = a.description + (f"  [{keys}]" if keys else "")
            # The palette reads title and help as markup: "[/ f]" would be a closing tag.
            yield SystemCommand(
                escape_markup(a.palette_title),
                escape_markup(help_text),
                lambda a=a: self.run_scoped(a),
            )
        # Textual's own commands, minus the ones the table replaces (its quit does not ask and
        # its screenshot goes to a Downloads folder that may not exist).
        for command in super().get_system_commands(screen):
            if command.title not in {
                "Quit the application",
                "Quit",
                "Screenshot",
                "Save screenshot",
            }:
                yield command

    # -- leaving -----
    def action_request_quit(self) -> None:
        """``q``: inside a screen, close it; on the views, ask before stopping the proxies."""
        if len(self.screen_stack) > 1:
            self.screen.dismiss(None)
            return
        if self._stopping:
            return
        from workbench.tui.screens.confirm import ConfirmScreen

        stops = self._owns_runtime and self.engine is not None
        question = "Stop both proxies and quit the workbench?" if stops else "Quit the workbench?"

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_worker(self.action_quit(), group="quit", exclusive=True)

        self.push_screen(ConfirmScreen(question, yes="Quit", no="Stay"), answer)

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
