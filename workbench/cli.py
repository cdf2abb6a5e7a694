"""Command line: ``workbench [run|check|view|demo-backends|bench|hash-password|ca]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace

from workbench import __version__


def _event_loop_policy() -> None:
    """Use uvloop where available: it roughly halves the event loop's share of each request."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="workbench",
        description="A live forward proxy and reverse proxy you can watch and edit.",
    )
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = p.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run the proxies from a config file")
    run.add_argument("config", nargs="?", help="YAML config (default: the built-in classroom)")
    run.add_argument("--headless", action="store_true", help="no UI: print an access log")
    run.add_argument("--listen-reverse", metavar="ADDR", help="override reverse.listen")
    run.add_argument("--listen-forward", metavar="ADDR", help="override forward.listen")
    run.add_argument("--admin", metavar="ADDR", help="override admin.listen (enables the API)")
    run.add_argument(
        "--log-format",
        choices=("combined", "json", "none"),
        default="combined",
        help="headless access log format (none: listeners only)",
    )

    serve = sub.add_parser("serve", help="serve the TUI in a web page (textual-serve)")
    serve.add_argument("config", nargs="?", help="YAML config (default: the built-in classroom)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    serve.add_argument(
        "--token", help="require ?token=TOKEN on the page URL (generated off loopback)"
    )

    check = sub.add_parser("check", help="validate config files")
    check.add_argument("files", nargs="+")

    demo = sub.add_parser("demo-backends", help="run only the built-in demo backends")
    demo.add_argument("--count", type=int, default=3)
    demo.add_argument("--base-port", type=int, default=9001)

    bench = sub.add_parser("bench", help="measure the proxy against a bare aiohttp baseline")
    bench.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    bench.add_argument("--connections", type=int, default=50)
    bench.add_argument(
        "--rounds", type=int, default=3, help="rounds; each measures every scenario once in turn"
    )
    bench.add_argument("--body-size", type=int, default=1024)
    bench.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    bench.add_argument(
        "--only",
        default="",
        help="comma list of scenarios: origin, bare, nginx, workbench, forward, ui, memory, "
        "cache-hit (default: all)",
    )
    bench.add_argument(
        "--before",
        help="also run the workbench and cache-hit scenarios from this source tree (same rounds)",
    )
    bench.add_argument(
        "--json", action="store_true", help="end with the whole report as one line of JSON"
    )

    ca = sub.add_parser("ca", help="show the HTTPS interception CA and how to trust it")
    ca.add_argument("config", nargs="?", help="YAML config whose forward.intercept.ca_dir to use")
    shown = ca.add_mutually_exclusive_group()
    shown.add_argument("--pem", action="store_true", help="print only the CA certificate (PEM)")
    shown.add_argument("--path", action="store_true", help="print only the certificate's path")

    view = sub.add_parser("view", help="open a saved HAR capture read-only (no proxies)")
    view.add_argument("file", help="a .har file (from the workbench, a browser, or any tool)")

    hp = sub.add_parser("hash-password", help="print a password hash for forward.auth.users")
    hp.add_argument("password", nargs="?", help="read from stdin when omitted")
    return p


def _load(path: str | None):
    from workbench.config.load import ConfigError, load_config

    if path is None:
        from workbench.demo.classroom import classroom_config

        return classroom_config(), None
    try:
        return load_config(path), None
    except ConfigError as exc:
        return None, str(exc)


def _override(cfg, args):
    from workbench.config.load import parse_address
    from workbench.config.model import AdminConfig, ForwardConfig, ReverseConfig

    try:
        if args.listen_reverse:
            cfg = replace(
                cfg,
                reverse=replace(
                    cfg.reverse or ReverseConfig(), listen=parse_address(args.listen_reverse)
                ),
            )
        if args.listen_forward:
            cfg = replace(
                cfg,
                forward=replace(
                    cfg.forward or ForwardConfig(), listen=parse_address(args.listen_forward)
                ),
            )
        if args.admin:
            cfg = replace(
                cfg, admin=replace(cfg.admin or AdminConfig(), listen=parse_address(args.admin))
            )
    except ValueError as exc:
        return None, f"bad listen address: {exc}"
    return cfg, None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "tui"
    if command == "check":
        from workbench.config.load import check_files

        code, lines = check_files(args.files, also=_check_ca_lines)
        for line in lines:
            print(line, file=sys.stderr if code else sys.stdout)
        return code
    if command == "hash-password":
        import getpass

        from workbench.config.passwords import hash_password

        pw = args.password
        if pw is None:
            pw = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
        print(hash_password(pw.rstrip("\n")))
        return 0
    if command == "ca":
        return _ca(args)
    if command == "view":
        return _view(args.file)
    if command == "serve":
        return _serve(args)
    if command == "bench":
        from workbench.devtools.bench import run_bench

        return run_bench(args)
    _event_loop_policy()
    from workbench.engine.tuning import tune_gc

    tune_gc()  # process-wide, so only for real runs (tests start engines in their own process)
    if command == "demo-backends":
        from workbench.demo.backends import run_demo_backends

        return asyncio.run(run_demo_backends(args.count, args.base_port))
    if command == "tui":
        cfg, err = _load(None)
        return _run_tui(cfg)
    cfg, err = _load(args.config)
    if err:
        print(err, file=sys.stderr)
        return 2
    cfg, err = _override(cfg, args)
    if err:
        print(err, file=sys.stderr)
        return 2
    from workbench.config.lint import nothing_to_run, warnings

    empty = nothing_to_run(cfg)
    if empty:
        print(f"workbench: {args.config}: {empty}", file=sys.stderr)
        return 2
    for warning in warnings(cfg):
        print(f"warning: {warning}", file=sys.stderr)
    err = _check_ca(cfg)
    if err:
        print(f"{args.config}: {err}" if args.config else err, file=sys.stderr)
        return 2
    if args.headless:
        from workbench.headless import run_headless

        try:
            return asyncio.run(run_headless(cfg, log_format=args.log_format))
        except (OSError, ValueError) as exc:  # a busy port; a demo:// name the demo lacks
            print(f"cannot start: {exc}", file=sys.stderr)
            return 1
    return _run_tui(cfg)


def _check_ca_lines(path: str, cfg) -> tuple[bool, list[str]]:
    """``workbench check``: load the interception CA (never create it) and say which one signs,
    or that one would be created, or why it cannot be used: ``(ok, lines)``."""
    if cfg.forward is None or not cfg.forward.intercept.hosts:
        return True, []
    from workbench.engine.http.ca import CAError, CertificateAuthority, check_creatable

    key = "forward.intercept.ca_dir"
    ca_dir = cfg.forward.intercept.ca_dir
    try:
        ca = CertificateAuthority.load_existing(ca_dir)
        if ca is None:
            folder = check_creatable(ca_dir)
    except CAError as exc:
        return False, [f"{path}: {key}: {exc}"]
    if ca is None:
        return True, [
            f"{path}: {key}: no CA in {folder} yet: `workbench run` creates one there "
            f"(`workbench ca {path}` creates it now and says how to trust it)"
        ]
    return True, [
        f"{path}: {key}: intercepted hosts get certificates signed by the CA {ca.cert_path} "
        f"(SHA-256 {ca.fingerprint})"
    ]


def _check_ca(cfg) -> str | None:
    """Create or load the interception CA before starting, so a broken one is a clear line."""
    if cfg.forward is None or not cfg.forward.intercept.hosts:
        return None
    from workbench.engine.http.ca import CAError, CertificateAuthority

    try:
        CertificateAuthority.load_or_create(cfg.forward.intercept.ca_dir)
    except CAError as exc:
        return f"forward.intercept.ca_dir: {exc}"
    return None


def _ca(args) -> int:
    """``workbench ca``: the CA of the config's ``forward.intercept.ca_dir`` (or the default)."""
    from workbench.engine.http.ca import CAError, CertificateAuthority, trust_instructions

    ca_dir = None
    proxy = "127.0.0.1:8888"
    if args.config:
        cfg, err = _load(args.config)
        if err:
            print(err, file=sys.stderr)
            return 2
        if cfg.forward is not None:
            ca_dir = cfg.forward.intercept.ca_dir
            proxy = str(cfg.forward.listen)
    try:
        ca = CertificateAuthority.load_or_create(ca_dir)
    except CAError as exc:
        print(f"workbench ca: {exc}", file=sys.stderr)
        return 2
    if args.pem:
        sys.stdout.write(ca.cert_pem.decode())
    elif args.path:
        print(ca.cert_path)
    else:
        print(trust_instructions(ca, proxy), end="")
    return 0


def view_app(path: str):
    """The app on a saved HAR capture, read-only; raises ``HarError`` for a file it can't read."""
    from workbench.config.model import Config
    from workbench.engine.observe.capture import CaptureEngine
    from workbench.engine.observe.har import load_har
    from workbench.tui.app import make_app

    return make_app(Config(), engine=CaptureEngine(load_har(path), path))


def _view(path: str) -> int:
    """``workbench view FILE.har``: the Traffic list, filters and detail on a saved capture."""
    from workbench.engine.observe.har import HarError

    try:
        app = view_app(path)
    except HarError as exc:
        print(f"workbench view: {exc}", file=sys.stderr)
        return 2
    app.run()
    return app.return_code or 0


def _serve(args) -> int:
    """``workbench serve``: check the config here, so its errors show in this terminal."""
    if args.config:
        from workbench.config.lint import nothing_to_run

        cfg, err = _load(args.config)
        err = err or (nothing_to_run(cfg) and f"{args.config}: {nothing_to_run(cfg)}")
        ca_err = None if err else _check_ca(cfg)
        err = err or (ca_err and f"{args.config}: {ca_err}")
        if err:
            print(err, file=sys.stderr)
            return 2
    from workbench.serve import run_serve

    return asyncio.run(run_serve(args.config, args.host, args.port, args.token))


def _run_tui(cfg) -> int:
    from workbench.tui.app import make_app

    app = make_app(cfg)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    raise SystemExit(main())
