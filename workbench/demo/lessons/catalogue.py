"""The lessons themselves, in teaching order: their text, pictures, steps and checks."""

from __future__ import annotations

from workbench.demo.lessons.checks_forward import (
    check_intercept,
    check_read,
    check_server_sees,
    check_tls,
    check_two_proxies,
)
from workbench.demo.lessons.checks_reverse import (
    BALANCE_BACKEND,
    check_access,
    check_balancing,
    check_caching,
    check_failover,
)
from workbench.demo.lessons.model import Lesson

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        id="two-proxies",
        title="Two proxies",
        concept=(
            "Both kinds of proxy stand between a client and a server; what differs is who put "
            "them there. A forward proxy is chosen by the client: it runs near the users and "
            "fetches any site on their behalf, so the site talks to the proxy. Whether the site "
            "also learns who the user is depends on the proxy's mode: this one runs in "
            "{privacy} mode, and lesson 2 shows what each mode passes on. A reverse proxy is "
            "chosen by the site's owner: it accepts every visitor and hands each request to one "
            "of several servers, so visitors connect only to the proxy, never to a server's own "
            "address. That alone does not keep secret which server answered: the classroom's "
            "backends name themselves in an X-Backend header, and a proxy removes such headers "
            "only when told to (hide_backend_headers). This classroom runs one of each."
        ),
        diagram=(
            " browser ──► FORWARD proxy ──► any web site\n"
            "   acts for the client; how much of the client\n"
            "   it passes on depends on its privacy mode\n"
            "\n"
            " visitor ──► REVERSE proxy ──► web-1|web-2|web-3\n"
            "   acts for the site; visitors see only the proxy"
        ),
        steps=(
            "Send one request through each proxy, marked as yours: curl -s '{reverse}/?{mark}' "
            "and curl -s -x {forward} '{origin}/?{mark}'. Only requests carrying {mark} count: "
            "the demo traffic never sends it.",
            "The live panel above shows each request line exactly as the proxy received it: the "
            "reverse proxy got only a path (/?{mark}), the forward proxy a whole URL "
            "(http://host:port/...), because the client asked it to fetch that address.",
            "Press 1 (Traffic), press / and type ~u student, and open your reverse request with "
            "enter: its trace names the route, the pool and the backend the balancer picked. "
            "The client only ever talked to {reverse}.",
            "Run curl -si '{reverse}/?{mark}' a few times: the X-Backend header in each answer "
            "says which server handled it.",
        ),
        look_for=(
            "Reverse requests end at a pool member (web-1, api-2, ...); forward requests end at "
            "the origin's own host:port. The check passes once your own marked requests went "
            "through both proxies after you started the lesson."
        ),
        check=check_two_proxies,
        needs=("reverse", "forward"),
    ),
    Lesson(
        id="server-sees",
        title="What servers see",
        concept=(
            "A forward proxy decides how much of the client reaches the server. Transparent mode "
            "hides nothing: it adds X-Forwarded-For with the client's address and a Via line "
            "naming itself. Anonymous mode leaves the address out but keeps Via: the server "
            "knows a proxy is involved, not who is behind it. Elite mode sends neither, so the "
            "request looks as if the proxy made it; the server still sees the proxy's own "
            "address as the source of the connection, so it learns where the request came "
            "from, only not who asked the proxy. None of these headers proves anything on its "
            "own: a client can write its own X-Forwarded-For, and only proxies you run can vouch "
            "for what they added. The forward proxy is in {privacy} mode now."
        ),
        diagram=(
            " client ── GET http://origin/echo\n"
            "    │\n"
            "    ▼\n"
            " forward  transparent: + X-Forwarded-For + Via\n"
            " proxy    anonymous:   + Via only\n"
            "    │     elite:       neither header\n"
            "    ▼\n"
            " origin /echo\n"
            "    sees the proxy's IP address in every mode"
        ),
        steps=(
            "Ask the origin what it received through the proxy: curl -s -x {forward} "
            "'{origin}/echo?{mark}' (its JSON lists the headers it got). The live panel shows "
            "the same from the proxy's side.",
            "Forge a header and watch the proxy append to it: curl -s -x {forward} "
            "-H 'X-Forwarded-For: 203.0.113.9' '{origin}/echo?{mark}'",
            "Compare with no proxy at all: curl -s '{origin}/echo' (no Via, no X-Forwarded-For).",
            "Switch the mode live: ctrl+p, type privacy, choose anonymous or elite; then repeat "
            "step 1. The check passes once you have seen two modes.",
            "Press 1, press / and type ~u /echo, and open a record with enter: it shows the "
            "headers as the client sent them and as the proxy forwarded them.",
        ),
        look_for=(
            "The X-Forwarded-For and Via lines in the forwarded headers. On one machine the "
            "client and the proxy are both 127.0.0.1, so read the headers, not the address."
        ),
        check=check_server_sees,
        needs=("forward",),
    ),
    Lesson(
        id="caching",
        title="Caching",
        concept=(
            "A cache keeps copies of responses so repeated requests are answered without "
            "bothering a backend: on the reverse side that shields the servers, on the forward "
            "side it saves the users' bandwidth. Cache-Control max-age says how long a copy stays "
            "fresh; after that the proxy revalidates with If-None-Match, and a 304 renews the copy "
            "cheaply. Vary names request headers that pick different copies: /lang answers with "
            "Vary: Accept-Language, so the cache keeps one copy of that one URL per language. "
            "Private and no-store answers are never shared. A purge drops copies on demand, for "
            "instance after a deploy."
        ),
        diagram=(
            " request ─► cache ── fresh copy? ── yes ─► HIT\n"
            "              │            (backend untouched)\n"
            "              │ no, or stale\n"
            "              ▼\n"
            "           backend ─► 200: store for max-age\n"
            "                   └► 304: still good, revalidated"
        ),
        steps=(
            "Fetch a file twice yourself: curl -s -o /dev/null -D - '{reverse}/static/app.css"
            "?{mark}'. The first answer's Cache-Status header says it was stored, the second "
            "that it was a hit.",
            "Press 3 (Cache): the hit ratio climbs as the demo asks for /static/app.css and "
            "/static/logo.png (public, max-age=60) again and again.",
            "One URL, one copy per language: curl -s -H 'Accept-Language: fr' '{reverse}/lang' "
            "and again with de. The live panel lists the stored copies of /lang, one per "
            "Accept-Language value.",
            "Press 1, press / and type ~u /etag: no-cache means every use is checked with the "
            "backend first; look for revalidated and 304 in the trace.",
            "Press 3, then p and confirm to purge: the entries drop to 0 and the next requests "
            "are misses until the cache fills again.",
        ),
        look_for=(
            "Hit ratio, entries and bytes in the Cache view; misses right after the purge; "
            "/private never stored."
        ),
        check=check_caching,
        needs=("reverse", "cache"),
        shows_cache=True,
    ),
    Lesson(
        id="balancing",
        title="Load balancing",
        concept=(
            "A reverse proxy spreads requests over a pool. Round robin takes each backend in "
            "turn. Weighted round robin gives each a share in proportion to its weight "
            "({weights}). Least connections sends each request to the backend with the fewest "
            "in flight, which helps when some requests are slow (the classroom's api pool uses "
            "it). Hashing (ip_hash, consistent_hash) sends the same client or URL to the same "
            "backend every time. A weight of 0 drains a backend gently: running "
            "requests finish, new ones go elsewhere, and no client sees an error."
        ),
        diagram=(
            "              ┌─► web-1  share ∝ weight\n"
            " reverse ─────┼─► web-2  weight 0 → share 0\n"
            " proxy        └─► web-3  share ∝ weight"
        ),
        steps=(
            "Press 2 (Backends) and compare each web backend's expected share (from the weights) "
            "with its actual share.",
            "Select web-2 and press - until its weight is 0 (or press = and type 0).",
            "Watch web-2's actual share fall towards 0% while web-1 and web-3 take its requests; "
            "the reverse proxy answers no client with a 5xx.",
            "Optional: press a to try round_robin, least_connections or ip_hash and see how the "
            "shares move.",
            "When you are done, select web-2 and press + to put it back.",
        ),
        look_for=(
            "The share and requests per second of each backend in Backends; the reverse "
            "proxy's 5xx count (Overview, 5) stays at 0. The forward proxy has its own count: "
            "it does not balance, so it is not what this lesson is about."
        ),
        check=check_balancing,
        needs=("reverse", f"backend:{BALANCE_BACKEND}"),
    ),
    Lesson(
        id="failover",
        title="Health & failover",
        concept=(
            "Balancing onto a dead server hurts someone, so the proxy watches its backends. "
            "Active checks fetch /healthz every second: two failures in a row mark a backend "
            "down, two passes bring it back. Passive checks count real requests that fail and "
            "eject a backend for a while. A failed idempotent request is retried once on another "
            "backend, so clients of the reverse proxy rarely notice a crash at all. The forward "
            "proxy has no pool to fall back on: a request sent through it straight to a dead "
            "server's address fails, and its 5xx count shows it."
        ),
        diagram=(
            " every 1 s: GET /healthz\n"
            "   web-3  ✗ ✗  → down  (out of the balancer)\n"
            "   web-3  ✓ ✓  → up    (back in rotation)\n"
            "\n"
            " request ─► web-3 ✗ connection refused\n"
            "        └─► retry on web-1 ✓ 200 (client sees 200)"
        ),
        steps=(
            "Press 2 (Backends), select web-3 and press {kill_key} to kill it: its port "
            "stops accepting connections.",
            "Within about two seconds web-3 turns down; the event log shows why.",
            "Press 1: requests keep getting answers. Open one sent right after the kill with "
            "enter: its trace may show the retry on another backend.",
            "Press 5 (Overview) and watch the reverse proxy's 5xx count: it stays at 0. The "
            "forward proxy's may rise, because some demo requests go to web-3's own address.",
            "Press 2, select web-3 and press {kill_key} again to revive it; after two good "
            "checks it is up again and back in rotation.",
        ),
        look_for=(
            "web-3's state (up → down → up), the health column, and the reverse proxy's 5xx "
            "count, which stays at 0 once web-3 is out."
        ),
        check=check_failover,
        needs=("reverse", "demo"),
    ),
    Lesson(
        id="access",
        title="Blocking & ACLs",
        concept=(
            "A proxy is a natural checkpoint. The forward proxy decides who may use it at all: "
            "allow_clients lists the networks it serves (loopback here), everyone else gets 403, "
            "so it never turns into an open proxy. It can also decide what users may reach: in "
            "the classroom, block-tracker answers 403 for tracker.test before any connection is "
            "made. A reverse proxy turns bad requests away before they touch a server. Rules run "
            "in order and the first block or redirect decides."
        ),
        diagram=(
            " request ─► ACL: client allowed? ── no ─► 403\n"
            "              │ yes\n"
            "              ▼\n"
            "            rules in order (block-tracker, yours…)\n"
            "              │ block ─► 403 page, nothing sent on\n"
            "              ▼\n"
            "            passed to the origin or the pool"
        ),
        steps=(
            "Press 4 (Rules): in the classroom, block-tracker's hit count grows with every "
            "tracker pixel the demo traffic asks for.",
            "Press n to add a rule: name no-private, filter ~u /private, action block, status "
            "403; save it.",
            "Try it: curl -si '{reverse}/private?{mark}' answers 403, and the live panel names "
            "your rule; no backend saw the request.",
            "Press 1, press / and type ~u /private: in the classroom the demo's requests to "
            "/private end in 403 too.",
            "Back in Rules, press space on your rule to switch it off, and again to switch it on.",
        ),
        look_for=(
            "Hit counters per rule, the rule's name in the trace, and blocked requests that "
            "never reached a backend."
        ),
        check=check_access,
        needs=("reverse",),
    ),
    Lesson(
        id="tls",
        title="HTTPS via a proxy",
        concept=(
            "For HTTPS the client asks the forward proxy for a tunnel: CONNECT host:443. The "
            "proxy opens a TCP connection and then copies bytes it cannot read. It learns the "
            "host and port, the server name the client sends in clear in the TLS hello (SNI), "
            "timings and byte counts; paths, headers, cookies and bodies stay encrypted. Since "
            "a tunnel can carry anything, a careful proxy allows CONNECT only to a few ports "
            "(connect_ports: just 443 by default; this classroom adds {secure_port} for its own "
            "HTTPS server), so it is no way into mail or SSH servers. A "
            "reverse proxy usually holds the site's certificate and ends TLS itself: it sees all."
        ),
        diagram=(
            " client ─ CONNECT example.com:443 ─► forward proxy\n"
            "    ◄──── 200 Connection established ─────┘\n"
            "    ═══ TLS hello (SNI example.com), then ═══►\n"
            "    ═══ encrypted bytes only ═════════════════►\n"
            " proxy sees:  host, port, SNI, timing, bytes\n"
            " proxy can't: path, headers, cookies, body"
        ),
        steps=(
            "Ask for a tunnel to a demo backend: curl -v -p -x {forward} http://{origin_host}/ "
            "— the proxy answers 403 because port {origin_port} is not in connect_ports.",
            "Press 1, press / and type ~m CONNECT, then press enter on it: the trace says which "
            "ports are allowed.",
            "Open a real tunnel to the classroom's HTTPS server, named by its address so that "
            "the proxy only relays it (lesson 8 decrypts localhost): curl -sk -o /dev/null -p "
            "-x {forward} https://127.0.0.1:{secure_port}/ gives a 200 tunnel with byte counts "
            "and no path or headers. It has no SNI either: a client names no server in its TLS "
            "hello when it connects to an IP address.",
            "If this machine reaches the internet: curl -s -o /dev/null -p -x {forward} "
            "https://example.com/ gives a tunnel whose record shows the SNI, example.com.",
        ),
        look_for=(
            "The CONNECT record: its status (403 refused by connect_ports, 200 tunnel open), the "
            "SNI line of the trace, bytes each way. A 200 record appears when the tunnel closes."
        ),
        check=check_tls,
        needs=("forward",),
    ),
    Lesson(
        id="intercept",
        title="Reading HTTPS",
        concept=(
            "A forward proxy can read HTTPS only by ending the client's TLS itself. It answers "
            "the CONNECT, shows the client a certificate for the host that it makes on the spot "
            "and signs with its own certificate authority (CA), and opens a second TLS "
            "connection to the real server, whose certificate it checks. In between, the "
            "request is plain text to it: method, path, query, headers, cookies and body. Here "
            "the forward proxy decrypts CONNECTs to localhost only (forward.intercept.hosts); "
            "every other host stays a sealed tunnel.\n"
            "Reading someone's HTTPS is eavesdropping unless they agreed to it. So it works only "
            "for a client that chose to trust this CA; any other client sees a forged "
            "certificate, stops, and sends nothing."
        ),
        diagram=(
            " curl ══TLS══► forward proxy ══TLS══► localhost\n"
            "   certificate made by     real certificate,\n"
            "   the workbench CA        checked by the proxy\n"
            " proxy reads: method, path, headers, body\n"
            " no --cacert: curl refuses, nothing is sent"
        ),
        steps=(
            'Without trusting the CA: curl -x {forward} "{secure_origin}/echo?{mark}" — curl '
            "stops with a certificate error and sends nothing. Press 1: the CONNECT row's trace "
            "says the client rejected the certificate.",
            "Trust the CA for this one command (--cacert; nothing is installed) and send a "
            'little JSON: curl --cacert "$(workbench ca --path)" -x {forward} '
            "-H 'Content-Type: application/json' -d '{\"card\": \"4111 1111 1111 1111\"}' "
            '"{secure_origin}/echo?{mark}"',
            "Press 1 and find the row fwd POST /echo?{mark} on localhost; press enter. The "
            "trace starts with tls intercepted (SNI, TLS version, cipher); press 2 for the "
            "request: its headers and the card number you sent, in clear.",
            "workbench ca (without --path) prints the CA's fingerprint and how to trust it for "
            "good. Trust it only on a machine that is yours, and remove it when you are done.",
        ),
        look_for=(
            "The decrypted row: method, path and status like any plain request, its trace "
            "starting with tls intercepted, and in its detail the headers and the body — all "
            "that a tunnel hides."
        ),
        check=check_intercept,
        needs=("forward", "intercept"),
    ),
    Lesson(
        id="at-a-glance",
        title="At a glance",
        concept=(
            "Same machinery, opposite loyalties: the forward proxy acts for the people making "
            "requests, the reverse proxy for the servers answering them. The table sums up "
            "where they differ."
        ),
        diagram=(
            "[client side]            [server side]\n"
            "users ─► FORWARD ─► internet ─► REVERSE ─► servers"
        ),
        steps=(
            "Read the table row by row.",
            "For each row, recall where you saw it live: press l to go back to the first lesson "
            "and compare.",
        ),
        look_for="Which side each proxy protects, and what each one can hide.",
        check=check_read,
        table=(
            ("", "Forward proxy", "Reverse proxy"),
            (
                "What it is",
                "A go-between that clients use to reach other servers",
                "A go-between that servers put in front of themselves",
            ),
            (
                "Typical use",
                "Privacy for users; control over what they may reach",
                "Spreading load, caching, shielding the servers",
            ),
            (
                "Direction",
                "Outbound: from a client network to the internet",
                "Inbound: from the internet to the servers",
            ),
            (
                "Whose address it hides",
                "The client's, in anonymous or elite mode only (transparent passes it on); "
                "the proxy's own address always shows",
                "The servers': visitors connect only to the proxy (headers such as X-Backend "
                "can still name a server)",
            ),
            ("Load balancing", "Rarely", "One of its main jobs"),
            ("Caching", "Faster pages for its users", "Less work for the backends"),
            (
                "Security role",
                "Keeps users from harmful places",
                "Keeps harmful requests from the servers",
            ),
            ("Where it runs", "Inside the client's network", "In front of the web servers"),
        ),
    ),
)


def lesson_by_id(lesson_id: str) -> Lesson | None:
    """The lesson with this id, if any."""
    return next((lesson for lesson in LESSONS if lesson.id == lesson_id), None)
