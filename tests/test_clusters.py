"""Several clusters: ``clusters:`` and ``links:`` in scenarios (loading, mistakes), and
cross-cluster traffic through sim.network (DNS forwarding, routes over links, latency, loss,
partitions), alone and in whole runs."""

from __future__ import annotations

import random
import re

import pytest

from sim.network import Network, NetworkError
from sim.scenario import ScenarioError, parse_scenario
from sim.simulation import Simulation
from sim.topology import TopologySpec, generate, render

HEAD = """\
name: t
start: 2026-01-01T00:00:00Z
duration: 1h
"""
CLUSTERS = """\
clusters:
  east:
    domain: east.local
    pod_subnet: 10.1.0.0/16
    service_subnet: 10.128.0.0/16
    nodes: {east-cp: {control_plane: true}, east-w: {}}
  west:
    domain: west.local
    pod_subnet: 10.2.0.0/16
    service_subnet: 10.129.0.0/16
    nodes: {west-cp: {control_plane: true}, west-w: {}}
links:
  - {between: [east, west], latency: 20ms, loss: 0.1}
"""
DOMAINS = """\
trust_domains:
  a.org: {namespace: a, cluster: east}
  b.org: {namespace: b, cluster: west}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "t.yaml")
    return [str(p).removeprefix("t.yaml:") for p in err.value.problems]


def test_clusters_load() -> None:
    sc = parse_scenario(HEAD + CLUSTERS + DOMAINS, "t.yaml")
    assert [c.name for c in sc.clusters] == ["east", "west"]
    assert sc.cluster is sc.clusters[0]  # existing code sees the first cluster
    west = sc.cluster_named("west")
    assert (west.domain, west.pod_subnet, west.service_subnet, west.linked) == (
        "west.local", "10.2.0.0/16", "10.129.0.0/16", True,
    )  # fmt: skip
    (link,) = sc.links
    assert (link.a, link.b, link.latency, link.loss, link.line) == ("east", "west", 0.02, 0.1, 16)
    assert sc.cluster_of(sc.domain("b.org")).name == "west"


def test_one_cluster_shorthand_is_unchanged() -> None:
    text = (
        HEAD
        + "cluster: {name: kind, nodes: {kind-w: {}}}\n"
        + ("trust_domains: {a.org: {namespace: a}}\n")
    )
    sc = parse_scenario(text, "t.yaml")
    assert sc.clusters == (sc.cluster,) and not sc.cluster.linked
    assert sc.cluster.domain == "cluster.local" and sc.links == ()
    assert sc.cluster_of(sc.domain("a.org")).name == "kind"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            lambda t: t + "cluster: {name: k, nodes: {k1: {}}}\n",
            ["4:1: give either cluster or clusters, not both"],
            id="both",
        ),
        pytest.param(
            lambda t: t.replace(CLUSTERS, ""),
            [
                '1:1: missing required key "cluster" (or "clusters")',
                '5:34: unknown cluster "east" (none are defined)',
                '6:34: unknown cluster "west" (none are defined)',
            ],
            id="neither",
        ),  # fmt: skip
        pytest.param(
            lambda t: t.replace("[east, west]", "[east, wset]"),
            ['16:22: unknown cluster "wset" (did you mean "west"?)'],
            id="unknown-cluster-in-link",
        ),
        pytest.param(
            lambda t: t.replace("[east, west]", "[east, east]"),
            ['16:15: cannot link cluster "east" to itself'],
            id="self-link",
        ),
        pytest.param(
            lambda t: t.replace(
                "loss: 0.1}", "loss: 0.1}\n  - {between: [west, east], latency: 1ms}"
            ),
            ['17:15: clusters "east" and "west" are already linked'],
            id="duplicate-link",
        ),
        pytest.param(
            lambda t: t.replace("loss: 0.1", "loss: 1"),
            ["16:50: expected a number from 0 up to (not 1), got 1"],
            id="loss-1",
        ),
        pytest.param(
            lambda t: t.replace("pod_subnet: 10.2.0.0/16", "pod_subnet: 10.1.128.0/17"),
            [
                "12:17: pod subnet 10.1.128.0/17 overlaps the pod subnet 10.1.0.0/16 of cluster "
                '"east": linked clusters route each other\'s ranges'
            ],
            id="overlapping-pods",
        ),  # fmt: skip
        pytest.param(
            lambda t: t.replace("service_subnet: 10.129.0.0/16", "service_subnet: 10.1.0.0/24"),
            [
                "13:21: service subnet 10.1.0.0/24 overlaps the pod subnet 10.1.0.0/16 of cluster "
                '"east": linked clusters route each other\'s ranges'
            ],
            id="service-over-pods",
        ),  # fmt: skip
        pytest.param(
            lambda t: t.replace("domain: west.local", "domain: east.local"),
            ['11:13: domain "east.local" is already used by cluster "east"'],
            id="same-domain",
        ),
        pytest.param(
            lambda t: t.replace("west-w: {}", "east-w: {}"),
            ['10:3: node name "east-w" is already used by cluster "east"'],
            id="node-in-two-clusters",
        ),
        pytest.param(
            lambda t: t.replace("pod_subnet: 10.2.0.0/16", "pod_subnet: 10.2.0/16"),
            ['12:17: invalid pod subnet "10.2.0/16": expected an IPv4 CIDR like "10.244.0.0/16"'],
            id="bad-cidr",
        ),
        pytest.param(
            lambda t: t.replace("{namespace: b, cluster: west}", "{namespace: b}"),
            ['19:10: missing required key "cluster" (the scenario has 2 clusters: east, west)'],
            id="domain-without-cluster",
        ),
        pytest.param(
            lambda t: t + "workloads: {w: {trust_domain: a.org, cluster: west}}\n",
            ['20:47: workload "w" must run in cluster "east", where the agents of a.org run'],
            id="workload-elsewhere",
        ),
        pytest.param(
            lambda t: t.replace(CLUSTERS, "cluster: {name: k, nodes: {k1: {}}}\nlinks: []\n"),
            [
                "5:1: links join the clusters of clusters:, not cluster:",
                '7:34: unknown cluster "east" (expected one of: k)',
                '8:34: unknown cluster "west" (expected one of: k)',
            ],
            id="links-with-cluster",
        ),  # fmt: skip
    ],
)
def test_cluster_mistakes(edit, expected: list[str]) -> None:  # noqa: ANN001
    assert problems(edit(HEAD + CLUSTERS + DOMAINS)) == expected


def test_partition_places_include_clusters_and_trust_domains() -> None:
    ok = (
        HEAD
        + CLUSTERS
        + DOMAINS
        + (
            "events:\n"
            "  - {at: 1m, do: partition, between: [east, west]}\n"
            "  - {at: 2m, do: heal, between: [a.org, b.org]}\n"
        )
    )
    assert [e.between for e in parse_scenario(ok, "t.yaml").events] == [
        ("east", "west"), ("a.org", "b.org"),
    ]  # fmt: skip
    bad = ok.replace("[a.org, b.org]", "[a.org, c.org]")
    assert problems(bad) == ['22:41: unknown place "c.org" (did you mean "b.org"?)']


# --- the network ---------------------------------------------------------------------------


def _sites(*names: str, seed: int = 1) -> Network:
    net = Network(random.Random(seed))
    for i, name in enumerate(names):
        net.add_cluster(
            name, domain=f"{name}.local", pod_subnet=f"10.{i + 1}.0.0/16",
            service_subnet=f"10.{128 + i}.0.0/16", bridged=False,
        )  # fmt: skip
        net.add_node(name, f"{name}-cp", role="control-plane")
        net.add_node(name, f"{name}-w")
    return net


def test_routes_cross_links_and_add_their_latency() -> None:
    net = _sites("a", "b", "c")
    net.add_link("a", "b", latency=0.010)
    net.add_link("b", "c", latency=0.030)
    web = net.add_pod("c", "shop", "web", labels={"app": "web"})
    net.listen(web, 8443)
    net.add_service("c", "shop", "web", selector={"app": "web"}, ports=[(18443, 8443)])
    client = net.add_pod("a", "shop", "client")
    conn = net.dial(client, "web.shop.svc.c.local", 18443)
    # pod veth + node link (50 us each side) + two links.
    assert conn.latency == pytest.approx(0.040 + 2 * (20e-6 + 50e-6))
    assert (conn.remote_addr, conn.target_addr) == ("10.130.0.2:18443", "10.3.1.2:8443")
    # A shorter way round wins once it exists.
    net.add_link("a", "c", latency=0.005)
    assert net.dial(client, "web.shop.svc.c.local", 18443).latency == pytest.approx(
        0.005 + 2 * (20e-6 + 50e-6)
    )
    # Pod IPs of a linked cluster are routed too.
    assert net.dial(client, web.ip, 8443).target_addr == "10.3.1.2:8443"
    # Short names stay in the caller's cluster.
    assert str(net.dial(client, "web", 18443)) == (
        "dial tcp: lookup web on 10.128.0.10:53: no such host"
    )


def test_partition_and_link_down() -> None:
    net = _sites("a", "b")
    net.add_link("a", "b", latency=0.01)
    web = net.add_pod("b", "ns", "web")
    net.listen(web, 80)
    client = net.add_pod("a", "ns", "client")
    assert net.dial(client, web.ip, 80).dst == web
    net.partition("a", "b")
    assert str(net.dial(client, web.ip, 80)) == "dial tcp 10.2.1.2:80: i/o timeout"
    net.heal("a", "b")
    assert net.dial(client, web.ip, 80).dst == web
    net.set_link("a", "b", up=False)
    assert str(net.dial(client, web.ip, 80)) == "dial tcp 10.2.1.2:80: i/o timeout"
    net.set_link("b", "a", up=True, latency=0.002)
    assert net.link("b", "a").latency == 0.002 and net.links()[0].up


def test_loss_is_drawn_from_the_seed() -> None:
    def outcomes(seed: int) -> list[bool]:
        net = _sites("a", "b", seed=seed)
        net.add_link("a", "b", latency=0.01, loss=0.3)
        web = net.add_pod("b", "ns", "web")
        net.listen(web, 80)
        client = net.add_pod("a", "ns", "client")
        local = net.add_pod("a", "ns", "local")
        net.listen(local, 80)
        out = []
        for _ in range(200):
            # Same-cluster dials never draw: they cannot shift the stream.
            assert net.dial(client, local.ip, 80).dst == local
            conn = net.dial(client, web.ip, 80)
            if not hasattr(conn, "dst"):
                assert str(conn) == "dial tcp 10.2.1.2:80: i/o timeout"
            out.append(hasattr(conn, "dst"))
        return out

    first = outcomes(1)
    assert first == outcomes(1)
    assert first != outcomes(2)
    assert 0.55 < sum(first) / len(first) < 0.85


def test_links_join_only_unbridged_clusters() -> None:
    net = _sites("a")
    net.add_cluster("kind")
    with pytest.raises(NetworkError, match='cluster "kind" is on the bridge'):
        net.add_link("a", "kind", latency=0.0)
    with pytest.raises(NetworkError, match="cannot link"):
        net.add_link("a", "a", latency=0.0)
    with pytest.raises(NetworkError, match="loss 1.0 must be at least 0 and below 1"):
        _sites("x", "y").add_link("x", "y", latency=0.0, loss=1.0)


# --- whole runs ----------------------------------------------------------------------------


def _two_sites(**changes) -> str:  # noqa: ANN003
    spec = TopologySpec(
        trust_domains=2, clusters=2, workloads=4, federation="mesh", duration=1200, every=10,
        latency=0.015, **changes,
    )  # fmt: skip
    return render(generate(spec))


def test_run_across_a_lossy_link_is_deterministic() -> None:
    text = _two_sites(loss=0.2)
    a = Simulation(parse_scenario(text, "lossy.yaml")).run()
    b = Simulation(parse_scenario(text, "lossy.yaml")).run()
    assert [(r.t, r.workload, r.ok, r.errors) for r in a.requests] == [
        (r.t, r.workload, r.ok, r.errors) for r in b.requests
    ]
    late = [r for r in a.requests if r.t >= 240]
    lost = [r for r in late if not r.ok]
    assert late and lost and len(lost) < len(late)
    # A lost connection attempt times out, as Go says it, towards the peer's Service.
    assert all(r.reason == "dial_timeout" for r in lost)
    assert all(re.fullmatch(r"error on dial: dial tcp 10\.\d+\.0\.\d+:18443: i/o timeout",
                            r.errors[0]) for r in lost)  # fmt: skip


def test_partitioning_clusters_and_trust_domains_in_a_run() -> None:
    base = _two_sites()
    events = (
        "  - {at: 10m, do: partition, between: [c1, c2]}\n"
        "  - {at: 12m, do: heal, between: [c1, c2]}\n"
        "  - {at: 15m, do: partition, between: [td1.example.org, td2.example.org]}\n"
    )
    text = base.replace("events:\n", "events:\n" + events, 1)
    result = Simulation(parse_scenario(text, "p.yaml")).run()
    by_window = {
        "before": [r for r in result.requests if 240 <= r.t < 600],
        "cut": [r for r in result.requests if 600 <= r.t < 720],
        "healed": [r for r in result.requests if 720 <= r.t < 900],
        "td-cut": [r for r in result.requests if r.t >= 900],
    }
    assert all(r.ok for r in by_window["before"]) and by_window["before"]
    assert by_window["cut"] and not any(r.ok for r in by_window["cut"])
    # Cut off from the peer cluster, CoreDNS cannot forward the peer's domain.
    assert any("server misbehaving" in r.errors[0] for r in by_window["cut"])
    assert all(r.ok for r in by_window["healed"]) and by_window["healed"]
    assert by_window["td-cut"] and not any(r.ok for r in by_window["td-cut"])
    assert all("i/o timeout" in r.errors[0] for r in by_window["td-cut"])
    assert result.log.count(component="network", contains="partition td1.example.org") == 1


def test_validate_names_cross_cluster_servers_by_their_domain(tmp_path) -> None:  # noqa: ANN001
    from sim.validate import validate_file

    good = _two_sites()
    path = tmp_path / "ok.yaml"
    path.write_text(good)
    assert validate_file(path) == []
    # td2's server lives in c2: from td1 (in c1) only spire-server.td2.svc.c2.local reaches it.
    for wrong in ("spire-server.td2.svc.cluster.local", "spire-server.td2"):
        path.write_text(good.replace('"spire-server.td2.svc.c2.local"', f'"{wrong}"'))
        (problem,) = validate_file(path)
        assert problem.message == (
            f"federation with td2.example.org: {wrong}:8443 is no SPIRE server of this "
            "scenario (expected spire-server.<namespace>.svc.<cluster domain>)"
        )
