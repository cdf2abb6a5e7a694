"""An intercepted CONNECT whose client refused the workbench's certificate, in the TUI (real
engine, real TLS origin, a real client that does not trust the CA)."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from conftest import text_of
from origin import wait_for
from tls_origin import client_ssl, connect_through, intercept_config

from workbench.tui.app import make_app
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.widgets.request_columns import cell_texts


async def _open_row(app, pilot, predicate) -> DetailScreen:
    view = app.view("traffic")
    await wait_for(lambda: any(predicate(r) for r in view.table.rows))
    await pilot.pause()
    index = next(i for i, r in enumerate(view.table.rows) if predicate(r))
    view.table.move_cursor(index)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, DetailScreen)
    return app.screen


async def test_refused_certificate_row_and_detail_say_so(tmp_path, tls_origin, engine_factory):
    config = intercept_config(tmp_path, tls_origin)
    engine = await engine_factory(config)
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await s.get(
                    f"https://localhost:{tls_origin.port}/",
                    proxy=engine.listeners["forward"],
                    ssl=ssl.create_default_context(cafile=tls_origin.ca_file),
                )
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.pause()
        keys = [k for k, _w in view._columns]
        cells = dict(zip(keys, cell_texts(view.table.rows[0], view._columns), strict=True))
        assert cells["status"].strip() == "TLS✗", cells
        assert "client rejected the certificate" in cells["path"]
        assert cells["backend"].strip() == ""  # nothing went upstream
        screen = await _open_row(app, pilot, lambda r: r.method == "CONNECT")
        summary = text_of(screen.query_one("#detail-summary"))
        assert "TLS✗ client rejected the certificate" in summary
        assert "trust the CA: `workbench ca`" in summary
        assert "200" not in summary.split("\n")[1]
        tunnel = text_of(screen.query_one("#detail-tunnel"))
        assert "rejected the workbench's certificate" in tunnel or "does not trust" in tunnel
        assert "trust the CA" in tunnel and "nothing went upstream" in tunnel
        titles = [text_of(w) for w in screen.query(".detail-title")]
        assert "Interception — the client refused the workbench's certificate" in titles
        assert "only relays encrypted bytes" not in tunnel
        assert "SNI     localhost" in tunnel


async def test_client_that_hangs_up_after_the_connect_in_the_detail(
    tmp_path, tls_origin, engine_factory
):
    config = intercept_config(tmp_path, tls_origin)
    engine = await engine_factory(config)
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        _reader, writer = await connect_through(engine.listeners["forward"], tls_origin.port)
        writer.close()
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.pause()
        keys = [k for k, _w in view._columns]
        cells = dict(zip(keys, cell_texts(view.table.rows[0], view._columns), strict=True))
        assert cells["status"].strip() == "TLS✗" and "client closed before TLS" in cells["path"]
        screen = await _open_row(app, pilot, lambda r: r.method == "CONNECT")
        tunnel = text_of(screen.query_one("#detail-tunnel"))
        assert "SNI     none (the client sent no TLS ClientHello)" in tunnel
        assert "closed the connection right after the CONNECT's 200" in tunnel
        assert "trust the CA" not in tunnel  # not a certificate problem
        titles = [text_of(w) for w in screen.query(".detail-title")]
        assert "Interception — the client's TLS handshake did not happen" in titles


async def test_intercepted_connect_detail_does_not_call_it_a_sealed_tunnel(
    tmp_path, tls_origin, engine_factory
):
    config = intercept_config(tmp_path, tls_origin)
    engine = await engine_factory(config)
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession() as s:
            async with s.get(
                f"https://localhost:{tls_origin.port}/echo",
                proxy=engine.listeners["forward"],
                ssl=client_ssl(tmp_path),
            ) as r:
                assert r.status == 200
        view = app.view("traffic")
        await wait_for(lambda: any(r.method == "CONNECT" for r in view.table.rows))
        await pilot.pause()
        keys = [k for k, _w in view._columns]
        connect = next(r for r in view.table.rows if r.method == "CONNECT")
        cells = dict(zip(keys, cell_texts(connect, view._columns), strict=True))
        assert cells["status"].strip() == "200" and "· decrypted" in cells["path"]
        screen = await _open_row(app, pilot, lambda r: r.method == "CONNECT")
        assert text_of(screen.query_one("#detail-summary")).split("\n")[1].startswith("200")
        tunnel = text_of(screen.query_one("#detail-tunnel"))
        assert "SNI     localhost" in tunnel
        assert "only relays encrypted bytes" not in tunnel
        assert "ended the client's TLS itself" in tunnel
        titles = [text_of(w) for w in screen.query(".detail-title")]
        assert "Interception — TLS decrypted by the workbench" in titles
