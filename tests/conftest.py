"""Shared fixtures: real origin servers and a running engine on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from origin import Origin  # noqa: E402


@pytest.fixture
async def origins():
    """Factory: ``await origins("web-1", "web-2")`` → list of running Origin servers."""
    started: list[Origin] = []

    async def make(*names: str) -> list[Origin]:
        out = [await Origin(n).start() for n in names]
        started.extend(out)
        return out

    yield make
    for o in started:
        await o.stop()


@pytest.fixture
async def tls_origin(tmp_path):
    """A running HTTPS origin (see ``tls_origin.py``); its CA file is ``tls_origin.ca_file``."""
    from tls_origin import start_tls_origin

    origin = await start_tls_origin(tmp_path)
    yield origin
    await origin.stop()


@pytest.fixture
async def engine_factory():
    """Factory: ``await engine_factory(config)`` → started Engine; stopped at teardown."""
    from workbench.runtime import Runtime

    runtimes = []

    async def make(config):
        rt = Runtime(config)
        await rt.start()
        runtimes.append(rt)
        return rt.engine

    yield make
    for rt in runtimes:
        await rt.stop(grace=1.0)


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory, monkeypatch):
    """Lesson progress, the classroom's CA and other state go to fresh directories, never the
    user's own."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
