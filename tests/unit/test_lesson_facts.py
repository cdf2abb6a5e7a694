"""The lesson texts agree with the classroom they run in.

Each fact a lesson states about the classroom is checked against the classroom's configuration,
so changing a weight, an interval or a header list without the text fails here. Claims the issue
found wrong are kept out for good.
"""

from __future__ import annotations

import ipaddress

import pytest

from workbench.demo.classroom import classroom_config
from workbench.demo.lessons import LESSONS, addresses, fill, lesson_by_id


def text(lesson_id: str) -> str:
    lesson = lesson_by_id(lesson_id)
    assert lesson is not None
    rows = " ".join(" ".join(row) for row in lesson.table)
    return " ".join((lesson.concept, lesson.diagram, *lesson.steps, lesson.look_for, rows))


ALL = " ".join(text(lesson.id) for lesson in LESSONS)
CFG = classroom_config()


@pytest.mark.parametrize(
    "wrong",
    [
        "hides who is asking",  # transparent mode passes the client's address on
        "no trace of the client or the proxy",  # elite: the origin sees the proxy's address
        "never learn which server answered",  # the demo answers with X-Backend
        "Whose IP is hidden",
    ],
)
def test_claims_found_wrong_are_gone(wrong):
    assert wrong not in ALL


def test_the_privacy_mode_is_read_live_not_stated():
    assert "{privacy}" in lesson_by_id("two-proxies").concept
    values = addresses({"listeners": {}, "proxies": {"forward": {"privacy": CFG.forward.privacy}}})
    assert f"runs in {CFG.forward.privacy} mode" in fill(text("two-proxies"), values)
    lesson2 = text("server-sees")
    assert "Transparent mode hides nothing" in lesson2
    assert "sees the proxy's IP address in every mode" in lesson2


def test_the_backends_name_themselves_and_the_reverse_proxy_lets_it_through():
    assert "X-Backend" in text("two-proxies")
    hidden = {h.lower() for h in CFG.reverse.hide_backend_headers}
    assert "x-backend" not in hidden


def _pools_snapshot(pools: dict[str, dict[str, int]]) -> dict:
    return {
        "listeners": {"reverse": "http://127.0.0.1:8080"},
        "pools": {
            name: {"backends": [{"name": n, "weight": w} for n, w in weights.items()]}
            for name, weights in pools.items()
        },
    }


def test_weights_and_shares_are_read_from_the_live_pool():
    web = CFG.reverse.pools["web"]
    weights = {b.name: b.weight for b in web.backends}
    assert web.algorithm == "weighted_round_robin"
    assert "{weights}" in lesson_by_id("balancing").concept
    classroom = fill(text("balancing"), addresses(_pools_snapshot({"web": weights})))
    assert "(web-1 3, web-2 1, web-3 1: about 60/20/20)" in classroom
    # A user's config (sample_configs/reverse.yaml weighs web-1 2 and web-2 1) gets its own.
    theirs = fill(text("balancing"), addresses(_pools_snapshot({"web": {"web-1": 2, "web-2": 1}})))
    assert "(web-1 2, web-2 1: about 67/33)" in theirs and "60/20/20" not in theirs
    assert CFG.reverse.pools["api"].algorithm == "least_connections"
    assert "(the classroom's api pool uses it)" in text("balancing")


def test_health_timing_matches_the_pools():
    for pool in CFG.reverse.pools.values():
        assert pool.health is not None
        assert pool.health.interval == 1.0 and pool.health.fall == 2 and pool.health.rise == 2
    t = text("failover")
    assert "every second: two failures in a row" in t and "two passes bring it back" in t


def test_acl_connect_ports_and_rules_match():
    fwd = CFG.forward
    assert all(ipaddress.ip_network(n).is_loopback for n in map(str, fwd.allow_clients))
    assert "(loopback here)" in text("access")
    from workbench.config.model import ForwardConfig
    from workbench.demo.classroom import SECURE_PORT

    assert ForwardConfig().connect_ports == (443,)
    assert "just 443 by default" in text("tls")
    # The classroom adds its HTTPS origin's port, read live (it may fall back to a free one).
    assert tuple(fwd.connect_ports) == (443, SECURE_PORT)
    assert "this classroom adds {secure_port}" in lesson_by_id("tls").concept
    tracker = next(r for r in CFG.rules if r.name == "block-tracker")
    assert tracker.action == "block" and "tracker.test" in tracker.when
    assert "block-tracker answers 403 for tracker.test" in text("access")
    # The tunnel to the classroom's HTTPS server is named by address: only localhost is
    # decrypted, so 127.0.0.1 stays a sealed tunnel (and an IP address carries no SNI).
    assert "https://127.0.0.1:{secure_port}/" in text("tls")
    assert "127.0.0.1" not in fwd.intercept.hosts
    # Nobody is told to quit the classroom in the middle of a lesson.
    assert "quit (q)" not in ALL


def test_lessons_tell_which_proxy_to_watch_for_5xx():
    for lesson_id in ("balancing", "failover"):
        assert "reverse proxy's 5xx count" in text(lesson_id)


def test_the_interception_lesson_matches_the_classroom():
    from workbench.demo.classroom import SECURE_CA
    from workbench.engine.http.ca import default_ca_dir

    ic = CFG.forward.intercept
    t = text("intercept")
    # "decrypts CONNECTs to localhost only": localhost is the one host, and the HTTPS origin
    # the steps use is on it.
    assert ic.hosts == ("localhost",)
    assert "decrypts CONNECTs to localhost only (forward.intercept.hosts)" in t
    assert "{secure_origin}" in t and ic.upstream_ca_file == SECURE_CA
    values = addresses({"demo": {"secure_origin": "https://localhost:8443"}, "listeners": {}})
    assert fill("{secure_origin}", values).startswith("https://localhost:")
    # "--cacert "$(workbench ca --path)"": with no config, workbench ca names the default CA,
    # and the classroom uses the default CA (no ca_dir of its own).
    assert '--cacert "$(workbench ca --path)"' in t and ic.ca_dir is None
    assert default_ca_dir().name == "ca"
    # "the real server, whose certificate it checks"
    assert ic.upstream_verify is True and "whose certificate it checks" in t
    # The two lines on consent.
    assert "only for a client that chose to trust this CA" in t
    assert "eavesdropping unless they agreed" in t
    # The body it shows is the one the student sends: JSON to /echo, which echoes it back.
    assert "Content-Type: application/json" in t and "/echo?{mark}" in t
