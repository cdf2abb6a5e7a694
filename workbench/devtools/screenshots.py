"""Regenerate the README screenshots from the real app under demo traffic.

``python -m workbench.devtools.screenshots [--out screenshots]`` starts the classroom (built-in
backends and
traffic, on free ports), waits until requests have flowed, then drives the app headlessly and saves
one SVG per view, a request detail and the help screen.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from workbench.config.model import Address, Config

SIZE = (160, 45)
VIEWS = ("traffic", "backends", "cache", "rules", "overview", "lessons", "charts")


def classroom_on_free_ports() -> Config:
    """The classroom configuration with every listener on an ephemeral port."""
    from workbench.demo.classroom import classroom_config

    cfg = classroom_config()
    if cfg.reverse is not None:
        cfg = replace(cfg, reverse=replace(cfg.reverse, listen=Address("127.0.0.1", 0)))
    if cfg.forward is not None:
        cfg = replace(cfg, forward=replace(cfg.forward, listen=Address("127.0.0.1", 0)))
    if cfg.admin is not None:
        cfg = replace(cfg, admin=replace(cfg.admin, listen=Address("127.0.0.1", 0)))
    return cfg


async def _wait(predicate, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def take_screenshots(out: Path, min_requests: int = 60) -> list[Path]:
    """Write the SVGs into ``out``; returns the files written."""
    from workbench.runtime import Runtime
    from workbench.tui.app import make_app
    from workbench.tui.screens.detail import DetailScreen
    from workbench.tui.screens.help import HelpScreen

    out.mkdir(parents=True, exist_ok=True)
    config = classroom_on_free_ports()
    runtime = Runtime(config)
    await runtime.start()
    written: list[Path] = []
    try:
        engine = runtime.engine
        await _wait(lambda: engine.records.total >= min_requests, 30, "demo traffic")
        app = make_app(runtime.config, engine=engine, runtime=runtime)
        async with app.run_test(size=SIZE) as pilot:

            def save(name: str) -> None:
                path = out / f"{name}.svg"
                app.save_screenshot(filename=path.name, path=str(out))
                written.append(path)
                print(path)

            for view_id in VIEWS:
                app.action_show_view(view_id)
                # A few ticks so rates, sparklines and tables have data.
                for _ in range(3):
                    await pilot.pause(0.25)
                save(view_id)
            app.action_show_view("traffic")
            await pilot.pause(0.25)
            traffic = app.view("traffic")
            await _wait(lambda: traffic.table.row_count > 0, 10, "rows in the Traffic view")
            await pilot.press("F")  # hold the cursor still while the detail opens
            await pilot.press("enter")
            await _wait(lambda: isinstance(app.screen, DetailScreen), 5, "the detail screen")
            await app.workers.wait_for_complete()
            await pilot.pause()
            save("detail")
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("question_mark")
            await _wait(lambda: isinstance(app.screen, HelpScreen), 5, "the help screen")
            await pilot.pause()
            save("help")
    finally:
        await runtime.stop(grace=1.0)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="screenshots", help="directory for the SVG files")
    args = parser.parse_args(argv)
    try:
        asyncio.run(take_screenshots(Path(args.out)))
    except Exception as exc:  # a plain message for the person running the script
        print(f"screenshots failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
