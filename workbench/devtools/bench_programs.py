"""What ``workbench bench`` runs: the baseline proxies, origins and workbench configs.

The Python programs are written to a temporary directory and started in their own process; the
nginx configurations are formatted with that directory and the ports.
"""

from __future__ import annotations

import textwrap

# The fairest aiohttp pass-through we know: the low-level web.Server (no Application, router or
# middleware machinery), one shared ClientSession without cookie handling or auto-added request
# headers, no decompression, uvloop.
BARE_PROXY = textwrap.dedent(
    """
    import asyncio, sys
    import aiohttp
    from aiohttp import web
    try:
        import uvloop; uvloop.install()
    except ImportError:
        pass
    UPSTREAM = sys.argv[1]
    PORT = int(sys.argv[2])
    HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
           "proxy-connection", "proxy-authorization", "proxy-authenticate", "content-length"}
    SKIP = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")

    async def main():
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=SKIP,
            auto_decompress=False,
        )

        async def handler(request):
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
            body = await request.read() if request.can_read_body else None
            async with session.request(request.method, UPSTREAM + request.path_qs,
                                       headers=headers, data=body or None,
                                       allow_redirects=False) as r:
                data = await r.read()
                out = {k: v for k, v in r.headers.items() if k.lower() not in HOP}
                return web.Response(status=r.status, body=data, headers=out)

        server = web.Server(handler, access_log=None)
        runner = web.ServerRunner(server)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", PORT, backlog=1024).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)

# nginx as a reverse proxy: one worker, keep-alive to the origin, no cache, no access log. Without
# a master process the one process that serves is the one whose CPU time the bench reads.
NGINX_PROXY_CONF = """
worker_processes 1;
master_process off;
daemon off;
pid {dir}/nginx-proxy.pid;
error_log {dir}/proxy-error.log crit;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  proxy_temp_path {dir};
  fastcgi_temp_path {dir};
  uwsgi_temp_path {dir};
  scgi_temp_path {dir};
  keepalive_requests 1000000;
  upstream origin {{
    server 127.0.0.1:{origin_port};
    keepalive 64;
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering on;
    }}
  }}
}}
"""

MEMORY_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from aiohttp import web
    try:
        import uvloop; uvloop.install()
    except ImportError:
        pass
    PORT = int(sys.argv[1]); SIZE = int(sys.argv[2])
    BODY = b"x" * SIZE
    async def handler(request):
        return web.Response(body=BODY, content_type="text/plain",
                            headers={"Cache-Control": "max-age=3600"})
    async def main():
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", PORT).start()
        print("ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
    """
)

# A lean origin for when nginx is not installed: fixed response, httptools, keep-alive.
FAST_ORIGIN = textwrap.dedent(
    """
    import asyncio, sys
    import httptools
    try:
        import uvloop; uvloop.install()
    except ImportError:
        pass
    PORT = int(sys.argv[1]); SIZE = int(sys.argv[2])
    BODY = b"x" * SIZE
    RESP = (b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nCache-Control: %s\\r\\n"
            b"Content-Length: %d\\r\\n\\r\\n")
    class P(asyncio.Protocol):
        def connection_made(self, t):
            self.t = t; self.p = httptools.HttpRequestParser(self); self.url = b""
        def data_received(self, d):
            try:
                self.p.feed_data(d)
            except httptools.HttpParserError:
                self.t.close()
        def on_url(self, u):
            self.url = u
        def on_message_complete(self):
            cc = b"max-age=3600" if b"cache" in self.url else b"no-store"
            self.t.write(RESP % (cc, SIZE) + BODY)
    async def main():
        loop = asyncio.get_running_loop()
        await loop.create_server(P, "127.0.0.1", PORT, backlog=1024)
        print("ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
    """
)

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log crit;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  proxy_temp_path {dir};
  fastcgi_temp_path {dir};
  uwsgi_temp_path {dir};
  scgi_temp_path {dir};
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location /cache {{
      add_header Cache-Control "max-age=3600"; root {dir}; try_files /body =404;
      default_type text/plain;
    }}
    location / {{
      add_header Cache-Control "no-store"; root {dir}; try_files /body =404;
      default_type text/plain;
    }}
    location = /healthz {{ return 200 "ok"; }}
  }}
}}
"""


def forward_config(port: int, rules: int, idle_intercept_ca: str | None = None) -> str:
    """The forward proxy with the same 10 rules, stats and records, no cache, JSON access log.

    With ``idle_intercept_ca`` (a CA folder), HTTPS interception and the intercept (hold) filter
    are both set up but match nothing the bench sends: what they cost while idle.
    """
    rule_lines = "\n".join(
        f'  - {{ name: r{i}, when: "~d blocked{i}.test | ~u ^/never{i}/", action: block }}'
        for i in range(rules)
    )
    intercept = (
        f'  intercept: {{ hosts: ["nothing.invalid"], ca_dir: "{idle_intercept_ca}" }}\n'
        if idle_intercept_ca
        else ""
    )
    hold = 'hold: { filter: "~d nothing.invalid", phase: request }\n' if idle_intercept_ca else ""
    return (
        f"version: 1\nforward:\n  listen: 127.0.0.1:{port}\n  cache: false\n{intercept}"
        + hold
        + "rules:\n"
        + (rule_lines or "  []")
        + "\n"
    )


def workbench_config(
    origin_port: int, port: int, cache: bool, rules: int, body_cap: int | None = None
) -> str:
    """The reverse proxy in front of one origin with ``rules`` block rules and health checks;
    ``body_cap`` sets ``records.body_cap`` (None: the default, capture on; 0: capture off)."""
    rule_lines = "\n".join(
        f'  - {{ name: r{i}, when: "~d blocked{i}.test | ~u ^/never{i}/", action: block }}'
        for i in range(rules)
    )
    return (
        textwrap.dedent(
            f"""\
        version: 1
        reverse:
          listen: 127.0.0.1:{port}
          cache: {str(cache).lower()}
          routes:
            - {{ name: all, path_prefix: /, pool: origin }}
          pools:
            origin:
              algorithm: weighted_round_robin
              backends:
                - {{ name: origin-1, url: "http://127.0.0.1:{origin_port}", weight: 1 }}
              health: {{ path: /healthz, interval: 1s, timeout: 1s }}
        cache:
          max_size: 64MiB
        """
        )
        + (f"records: {{ body_cap: {body_cap} }}\n" if body_cap is not None else "")
        + "rules:\n"
        + (rule_lines or "  []")
        + "\n"
    )
