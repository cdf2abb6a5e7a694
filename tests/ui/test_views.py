"""Backends, Cache, Rules and Overview views driven by keys against a real engine and real HTTP.

Each test opens the real app on one view (its own stylesheets, keys and timer), presses keys,
and then checks the engine and the traffic that really flows through the proxy.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from origin import wait_for
from textual.app import App
from textual.widgets import DataTable, Input, Select, Static

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    DemoConfig,
    ForwardConfig,
    HealthConfig,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
    TrafficConfig,
)
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.choose import ChooseScreen
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.rule_form import RuleFormScreen
from workbench.tui.screens.rule_test import RuleTestScreen
from workbench.tui.screens.weight import WeightScreen
from workbench.tui.views.backends import BackendsView
from workbench.tui.views.cache import NOT_CONFIGURED, CacheView
from workbench.tui.views.overview import OverviewView
from workbench.tui.views.rules import RulesView

VIEWS_TCSS = Path(__file__).resolve().parents[2] / "workbench" / "tui" / "views.tcss"


class Host(WorkbenchApp):
    """The real app (its own stylesheets and keys), opened on one view."""

    def __init__(self, engine: Any, view_cls: type) -> None:
        super().__init__(engine.config, engine=engine)
        self.current_view = view_cls.view_id

    @property
    def shown(self) -> Any:
        """The view under test."""
        return self.view(self.current_view)


def pool_config(origins, weights, algorithm="weighted_round_robin", **kw) -> PoolConfig:
    return PoolConfig(
        name="web",
        algorithm=algorithm,
        backends=tuple(
            BackendConfig(name=o.name, url=o.url, weight=w)
            for o, w in zip(origins, weights, strict=True)
        ),
        **kw,
    )


def config(origins, weights=(1, 1), rules=(), **kw) -> Config:
    return Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            routes=(RouteConfig(name="site", pool="web"),),
            pools={"web": pool_config(origins, list(weights), **kw)},
            cache=False,
        ),
        forward=ForwardConfig(listen=Address("127.0.0.1", 0)),
        rules=tuple(rules),
    )


async def fetch(url: str, n: int = 1) -> list[tuple[int, str | None]]:
    out = []
    async with aiohttp.ClientSession() as s:
        for _ in range(n):
            async with s.get(url) as r:
                await r.read()
                out.append((r.status, r.headers.get("X-Backend")))
    return out


def messages(app: App) -> list[str]:
    return [str(n.message) for n in app._notifications]


def text_of(widget: Static) -> str:
    return str(widget.render())


def cell(table: DataTable, row: str, column: str) -> str:
    """The cell's text, or "" while the row is not (yet) in the table."""
    try:
        return str(table.get_cell(row, column))
    except Exception:  # the row or column is not there yet
        return ""


def screen_text(app: App) -> str:
    return app.export_screenshot().replace("&#160;", " ")


# -- Backends ---------------------------------------------------------------------------------
def _cached_reverse(base: Config) -> Config:
    """``base``'s reverse proxy alone, with its cache on."""
    return Config(
        reverse=ReverseConfig(
            listen=base.reverse.listen,
            routes=base.reverse.routes,
            pools=base.reverse.pools,
            cache=True,
        )
    )


async def test_weight_down_to_zero_takes_backend_out_of_rotation(origins, engine_factory):
    web = await origins("web-1", "web-2")
    eng = await engine_factory(config(web, weights=(1, 2)))
    app = Host(eng, BackendsView)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.shown.query_one("#pool-web", DataTable)
        await pilot.press("down")  # web-2
        await pilot.press("minus", "minus")
        assert eng.pools["web"].backends["web-2"].weight == 0
        await pilot.press("minus")  # already 0: refused in the UI, nothing changes
        assert eng.pools["web"].backends["web-2"].weight == 0
        assert any("already 0" in m for m in messages(app))
        await wait_for(lambda: cell(table, "web-2", "weight") == "0")
        # The cursor stayed on web-2 across refreshes.
        assert table.cursor_row == 1
        seen = collections.Counter(b for _, b in await fetch(eng.listeners["reverse"] + "/", 30))
        assert seen == {"web-1": 30}
        # The edit appears in the change log under the table.
        events = app.shown.query_one("#events", Static)
        await wait_for(lambda: "weight 1 → 0" in text_of(events))


async def test_the_keys_reach_every_pool(origins, engine_factory):
    """Each pool has its own table: j at the last backend of one goes on to the next pool's
    first, k at the top goes back, so a class can select an api backend without a mouse."""
    web = await origins("web-1", "web-2", "api-1")
    base = config(web[:2])
    api = PoolConfig(name="api", backends=(BackendConfig(name="api-1", url=web[2].url),))
    cfg = Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            routes=(
                RouteConfig(name="api", path_prefix="/api", pool="api"),
                RouteConfig(name="site", pool="web"),
            ),
            pools={"web": base.reverse.pools["web"], "api": api},
            cache=False,
        )
    )
    eng = await engine_factory(cfg)
    app = Host(eng, BackendsView)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.shown
        await wait_for(lambda: len(view.query(DataTable)) == 2)
        await pilot.pause()

        def selected() -> str | None:
            sel = view.selected()
            return sel[1] if sel is not None else None

        assert selected() == "web-1"
        await pilot.press("j")
        assert selected() == "web-2"
        await pilot.press("j")
        assert selected() == "api-1"
        await pilot.press("minus")
        assert eng.pools["api"].backends["api-1"].weight == 0
        assert eng.pools["web"].backends["web-2"].weight == 1
        await pilot.press("j")  # the last row of the last pool: stays
        assert selected() == "api-1"
        await pilot.press("k")
        assert selected() == "web-2"
        await pilot.press("G")  # the last backend of every pool
        assert selected() == "api-1"
        await pilot.press("g")
        assert selected() == "web-1"


async def test_plus_and_typed_weight(origins, engine_factory):
    web = await origins("web-1", "web-2")
    eng = await engine_factory(config(web))
    app = Host(eng, BackendsView)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("plus")
        assert eng.pools["web"].backends["web-1"].weight == 2
        await pilot.press("equals_sign")
        await pilot.pause()
        assert isinstance(app.screen, WeightScreen)
        inp = app.screen.query_one(Input)
        inp.value = ""
        await pilot.press("1", "2", "3", "4", "enter")
        await pilot.pause()
        # Out of range: the modal stays open with the reason, the weight is unchanged.
        assert isinstance(app.screen, WeightScreen)
        assert "0 to 1000" in text_of(app.screen.query_one("#error", Static))
        assert eng.pools["web"].backends["web-1"].weight == 2
        await pilot.press("backspace", "backspace", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, WeightScreen)
        assert eng.pools["web"].backends["web-1"].weight == 12


async def test_algorithm_picker_changes_the_pool(origins, engine_factory):
    web = await origins("web-1", "web-2")
    eng = await engine_factory(config(web, algorithm="weighted_round_robin"))
    app = Host(eng, BackendsView)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ChooseScreen)
        await pilot.press("up", "enter")  # weighted_round_robin is highlighted; one up
        await pilot.pause()
        assert eng.pools["web"].algorithm == "round_robin"
        title = app.shown.query_one(".pool-title", Static)
        await wait_for(lambda: "pool web  round_robin" in text_of(title))
        seen = collections.Counter(b for _, b in await fetch(eng.listeners["reverse"] + "/", 10))
        assert seen == {"web-1": 5, "web-2": 5}


async def test_drain_and_disable_toggle(origins, engine_factory):
    web = await origins("web-1", "web-2")
    eng = await engine_factory(config(web))
    app = Host(eng, BackendsView)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.shown.query_one("#pool-web", DataTable)
        await pilot.press("d")
        assert eng.pools["web"].backends["web-1"].draining is True
        await wait_for(lambda: cell(table, "web-1", "state") == "draining")
        assert {b for _, b in await fetch(eng.listeners["reverse"] + "/", 6)} == {"web-2"}
        await pilot.press("d")
        assert eng.pools["web"].backends["web-1"].draining is False
        await pilot.press("down", "x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen), "disabling asks first"
        assert eng.pools["web"].backends["web-2"].enabled is True
        await pilot.press("y")
        assert eng.pools["web"].backends["web-2"].enabled is False
        await wait_for(lambda: cell(table, "web-2", "state") == "disabled")
        await pilot.press("x")  # enabling again does not ask
        assert eng.pools["web"].backends["web-2"].enabled is True


async def test_fault_keys_only_with_a_demo(origins, engine_factory):
    web = await origins("web-1", "web-2")
    eng = await engine_factory(config(web))
    app = Host(eng, BackendsView)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.shown.check_action("fault", ("kill",)) is False
        await pilot.press("X")
        assert eng.pools["web"].backends["web-1"].state == "up"


async def test_demo_fault_keys(engine_factory):
    cfg = Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            routes=(RouteConfig(name="site", pool="web"),),
            pools={
                "web": PoolConfig(
                    name="web",
                    backends=(
                        BackendConfig(name="web-1", url="demo://web-1"),
                        BackendConfig(name="web-2", url="demo://web-2"),
                    ),
                    health=HealthConfig(interval=0.1, timeout=0.5, rise=1, fall=1),
                )
            },
            cache=False,
        ),
        demo=DemoConfig(backends=2, traffic=TrafficConfig(enabled=False)),
    )
    eng = await engine_factory(cfg)
    app = Host(eng, BackendsView)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.shown.query_one("#pool-web", DataTable)
        faults = eng.demo.faults
        await pilot.press("L")
        assert faults.backends["web-1"].extra_latency == pytest.approx(0.3)
        await pilot.press("E")
        assert faults.backends["web-1"].error_rate == pytest.approx(0.5)
        await wait_for(lambda: "+300ms" in cell(table, "web-1", "fault"))
        await pilot.press("L", "E")
        assert faults.backends["web-1"].extra_latency == 0
        assert faults.backends["web-1"].error_rate == 0
        await pilot.press("H")
        assert faults.backends["web-1"].health_fail is True
        # The failing health check takes web-1 down; the change shows in the log panel.
        await wait_for(lambda: eng.pools["web"].backends["web-1"].state == "down")
        events = app.shown.query_one("#events", Static)
        await wait_for(lambda: "web-1: up → down" in text_of(events))
        await pilot.press("H")
        await pilot.press("F")
        assert faults.backends["web-1"].flap > 0, "F makes web-1's health check flap"
        await pilot.press("F")
        assert faults.backends["web-1"].flap == 0
        await pilot.press("down", "k")  # k is navigation (up) and never kills
        await pilot.pause()
        assert not faults.backends["web-1"].killed and not faults.backends["web-2"].killed
        assert table.cursor_row == 0
        await pilot.press("j", "X")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen), "killing asks first"
        await pilot.press("n")
        await pilot.pause()
        assert not faults.backends["web-2"].killed, "n cancels"
        await pilot.press("X", "y")
        await wait_for(lambda: faults.backends["web-2"].killed)
        await wait_for(lambda: "killed" in cell(table, "web-2", "fault"))


# -- Rules ------------------------------------------------------------------------------------
async def fill_rule_form(pilot, app, name: str, when: str, action: str = "block") -> None:
    await pilot.press("n")
    await pilot.pause()
    assert isinstance(app.screen, RuleFormScreen)
    await pilot.press(*name)
    app.screen.query_one("#when", Input).focus()
    await pilot.press(*when)
    app.screen.query_one("#action", Select).value = action
    await pilot.pause()


async def test_new_block_rule_blocks_real_traffic(origins, engine_factory):
    web = await origins("web-1")
    eng = await engine_factory(config(web, weights=(1,)))
    url = eng.listeners["reverse"]
    assert await fetch(url + "/secret/x") == [(200, "web-1")]
    app = Host(eng, RulesView)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await fill_rule_form(pilot, app, "no-secrets", "~u /secret")
        assert "matches:" in text_of(app.screen.query_one("#when-feedback", Static))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, RuleFormScreen)
        assert [r.name for r in eng.rule_configs] == ["no-secrets"]
        assert (await fetch(url + "/secret/x"))[0][0] == 403
        assert (await fetch(url + "/public"))[0][0] == 200
        table = app.shown.query_one(DataTable)
        await wait_for(lambda: cell(table, "no-secrets", "hits") == "1")
        assert cell(table, "no-secrets", "action") == "block 403"


async def test_bad_expression_keeps_the_form_and_the_rules(origins, engine_factory):
    web = await origins("web-1")
    keep = RuleConfig(name="keep", when="~d tracker.test", action="block")
    eng = await engine_factory(config(web, weights=(1,), rules=[keep]))
    before = list(eng.rule_configs)
    app = Host(eng, RulesView)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await fill_rule_form(pilot, app, "broken", "~u (")
        feedback = text_of(app.screen.query_one("#when-feedback", Static))
        assert feedback.startswith("col 4:")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RuleFormScreen)
        assert "when" in text_of(app.screen.query_one("#error", Static))
        assert eng.rule_configs == before
        # The typed text survives the refusal, so it can be fixed in place.
        assert app.screen.query_one("#name", Input).value == "broken"
        await pilot.press("escape")
        await pilot.pause()
        assert eng.rule_configs == before


async def test_the_rule_form_names_fields_not_config_paths(origins, engine_factory):
    """The form edits one rule: its errors say ``name: …``, not the config path ``rules[1].name``
    of a list the student never saw."""
    web = await origins("web-1")
    keep = RuleConfig(name="keep", when="~d tracker.test", action="block")
    eng = await engine_factory(config(web, weights=(1,), rules=[keep]))
    app = Host(eng, RulesView)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await fill_rule_form(pilot, app, "no private", "~u /private")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RuleFormScreen)
        error = text_of(app.screen.query_one("#error", Static))
        assert error.startswith("name: invalid name 'no private'"), error
        assert "rules[" not in error
        assert [r.name for r in eng.rule_configs] == ["keep"]


async def test_edit_toggle_move_delete(origins, engine_factory):
    web = await origins("web-1")
    rules = [
        RuleConfig(name="first", when="~u /a$", action="block"),
        RuleConfig(name="second", when="~u /b$", action="delay", delay=0.01),
        RuleConfig(name="third", when="~u /c$", action="block", status=451),
    ]
    eng = await engine_factory(config(web, weights=(1,), rules=rules))
    url = eng.listeners["reverse"]
    app = Host(eng, RulesView)
    names = lambda: [r.name for r in eng.rule_configs]  # noqa: E731
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.shown.query_one(DataTable)
        # space disables the selected rule: /a passes again.
        await pilot.press("space")
        assert eng.rule_configs[0].enabled is False
        assert (await fetch(url + "/a"))[0][0] == 200
        await pilot.press("space")
        assert (await fetch(url + "/a"))[0][0] == 403
        # J moves "first" down, the cursor follows it; K moves it back.
        await pilot.press("J")
        await pilot.pause()
        assert names() == ["second", "first", "third"]
        assert app.shown.selected_name() == "first"
        await pilot.press("J")
        assert names() == ["second", "third", "first"]
        await pilot.press("K", "K")
        assert names() == ["first", "second", "third"]
        assert table.cursor_row == 0
        # e edits: the form starts from the rule; change the status.
        await pilot.press("down", "down", "e")
        await pilot.pause()
        assert isinstance(app.screen, RuleFormScreen)
        assert app.screen.query_one("#status", Input).value == "451"
        app.screen.query_one("#status", Input).value = "410"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert eng.rule_configs[2].status == 410
        assert (await fetch(url + "/c"))[0][0] == 410
        # delete asks first; "n" keeps the rule, "y" removes it.
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert names() == ["first", "second", "third"]
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert names() == ["first", "second"]


async def test_dry_run_shows_the_matching_rule(origins, engine_factory):
    web = await origins("web-1")
    rules = [
        RuleConfig(name="block-tracker", when="~d tracker.test", action="block"),
        RuleConfig(name="slow-api", when="~u /api/", action="delay", delay=0.01),
    ]
    eng = await engine_factory(config(web, weights=(1,), rules=rules))
    app = Host(eng, RulesView)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, RuleTestScreen)
        url = app.screen.query_one("#url", Input)
        url.value = ""
        await pilot.press(*"http://cdn.tracker.test/pixel.gif")
        await pilot.pause()
        outcome = text_of(app.screen.query_one("#outcome", Static))
        assert "would fire: block-tracker" in outcome
        url.value = "http://site.test/api/items"
        await pilot.pause()
        assert "would fire: slow-api" in text_of(app.screen.query_one("#outcome", Static))
        # A dry run never counts as a hit.
        assert all(r.hits == 0 for r in eng.ruleset.rules)


# -- Cache ------------------------------------------------------------------------------------
async def test_cache_purge_goes_through_confirm(origins, engine_factory):
    web = await origins("web-1")
    eng = await engine_factory(config(web, weights=(1,)))
    app = Host(eng, CacheView)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        if eng.cache is None:
            assert NOT_CONFIGURED in text_of(app.shown.query_one("#cache-summary", Static))
            assert any("not configured" in m for m in messages(app))
        else:  # the cache is integrated: a real purge empties it
            assert any("cache purged" in m for m in messages(app))
            assert eng.snapshot()["cache"]["entries"] == 0


async def test_cache_toggle_per_proxy(origins, engine_factory):
    web = await origins("web-1")
    eng = await engine_factory(config(web, weights=(1,)))
    app = Host(eng, CacheView)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert eng.forward.cache_enabled is True
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ChooseScreen)
        await pilot.press("down", "enter")  # reverse, forward → forward
        await pilot.pause()
        assert eng.forward.cache_enabled is False
        assert eng.reverse.cache_enabled is False  # untouched (off in this config)


# -- every view renders at both sizes ---------------------------------------------------------
@pytest.mark.parametrize("view_cls", [BackendsView, CacheView, RulesView, OverviewView])
@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_views_render_at_both_sizes(origins, engine_factory, view_cls, size):
    web = await origins("web-1", "web-2")
    rules = [RuleConfig(name="block-tracker", when="~d tracker.test", action="block")]
    eng = await engine_factory(config(web, rules=rules, health=HealthConfig(interval=0.2)))
    await fetch(eng.listeners["reverse"] + "/", 10)
    app = Host(eng, view_cls)
    async with app.run_test(size=size):
        words = {
            OverviewView: ["REVERSE :", "web-2"],
            BackendsView: ["web-2"],
            RulesView: ["block-tracker"],
            CacheView: ["hit ratio"],
        }[view_cls]
        await wait_for(lambda: all(w in screen_text(app) for w in words), interval=0.05)
        assert "Traceback" not in screen_text(app)


async def test_rule_tester_shows_disabled_rules_and_tests_response_rules(origins, engine_factory):
    web = await origins("web-1")
    rules = [
        RuleConfig(name="block-tracker", when="~d tracker.test", action="block", enabled=False),
        RuleConfig(
            name="tag-json",
            when="~t application/json",
            action="tag",
            value="json",
            phase="response",
        ),
    ]
    eng = await engine_factory(config(web, weights=(1,), rules=rules))
    app = Host(eng, RulesView)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RuleTestScreen)
        screen.query_one("#url", Input).value = "http://cdn.tracker.test/pixel.gif"
        await pilot.pause()
        outcome = text_of(screen.query_one("#outcome", Static))
        assert "disabled, would match" in outcome and "block-tracker" in outcome
        assert "would fire: tag-json" not in outcome
        screen.query_one("#content_type", Input).value = "application/json"
        await pilot.pause()
        assert "would fire: tag-json" in text_of(screen.query_one("#outcome", Static))
        screen.query_one("#url", Input).value = "http://[::1"  # half typed: no crash
        await pilot.pause()
        assert app.return_code is None


async def test_cache_view_marks_a_stored_set_cookie(engine_factory):
    """RFC 9111 §7.3 lets a shared cache store Set-Cookie: the Cache view shows that risk."""
    from aiohttp import web
    from origin import Origin

    app_ = web.Application()

    async def cookie(request: web.Request) -> web.Response:
        return web.Response(
            text="hello", headers={"Cache-Control": "max-age=60", "Set-Cookie": "sid=abc; Path=/"}
        )

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="plain", headers={"Cache-Control": "max-age=60"})

    app_.router.add_get("/cookie", cookie)
    app_.router.add_get("/plain", plain)
    origin = await Origin("web-1", app_).start()
    try:
        cfg = _cached_reverse(config([origin], weights=(1,)))
        eng = await engine_factory(cfg)
        url = eng.listeners["reverse"]
        async with aiohttp.ClientSession() as s:
            for path in ("/cookie", "/plain"):
                async with s.get(url + path) as r:
                    assert r.status == 200
                    await r.read()
        app = Host(eng, CacheView)
        async with app.run_test(size=(160, 45)) as pilot:
            table = app.shown.query_one(DataTable)
            await wait_for(lambda: table.row_count >= 2)
            await pilot.pause()
            rows = [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]
            cookie_rows = [r for r in rows if "/cookie" in r]
            plain_rows = [r for r in rows if "/plain" in r]
            assert cookie_rows and "Set-Cookie" in cookie_rows[0]
            assert plain_rows and "Set-Cookie" not in plain_rows[0]
    finally:
        await origin.stop()


async def test_cache_view_lists_every_variant_and_keeps_its_columns_on_resize(engine_factory):
    """One URL stored once per language is one row per language (the caching lesson points the
    class at it), and after the terminal shrinks size, age, TTL and hits stay on screen."""
    from aiohttp import web
    from origin import Origin

    app_ = web.Application()

    async def lang(request: web.Request) -> web.Response:
        return web.Response(
            text=request.headers.get("Accept-Language", "?"),
            headers={"Cache-Control": "max-age=60", "Vary": "Accept-Language"},
        )

    app_.router.add_get("/{tail:.*}", lang)
    origin = await Origin("web-1", app_).start()
    try:
        cfg = _cached_reverse(config([origin], weights=(1,)))
        eng = await engine_factory(cfg)
        url = eng.listeners["reverse"]
        # A long URL widens the URL column at 160 columns, as the classroom's do.
        long_path = "/static/" + "a-file-with-a-long-name-" * 3 + ".css"
        async with aiohttp.ClientSession() as s:
            for path, language in (("/lang", "fr"), ("/lang", "de"), (long_path, "en")):
                async with s.get(url + path, headers={"Accept-Language": language}) as r:
                    assert r.status == 200 and await r.text() == language
        app = Host(eng, CacheView)
        async with app.run_test(size=(160, 45)) as pilot:
            table = app.shown.query_one(DataTable)
            await wait_for(lambda: table.row_count >= 3)
            await pilot.pause()
            rows = sorted(
                (str(table.get_row_at(i)[0]).rsplit("/", 1)[-1], str(table.get_row_at(i)[1]))
                for i in range(table.row_count)
            )
            assert rows[1:] == [("lang", "accept-language=de"), ("lang", "accept-language=fr")]

            def widths() -> list[int]:
                return [c.get_render_width(table) for c in table.columns.values()]

            # At 160 columns the long URL is shown whole (cell padding: one either side).
            whole = len(url.split("://", 1)[1] + long_path) + 2
            await wait_for(lambda: widths()[0] >= whole, timeout=5)
            await pilot.resize_terminal(80, 24)
            # At 80 the URL gives way: size, age, TTL and hits stay on screen.
            await wait_for(lambda: sum(widths()) <= table.scrollable_content_region.width, 5)
            assert table.row_count == 3
    finally:
        await origin.stop()
