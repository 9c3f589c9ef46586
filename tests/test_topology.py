"""sim.topology: generated federation and network graphs, generated scenarios, the shipped
ring scenario showing that federation is not transitive, and ``spire-sim generate``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.expect import check
from sim.scenario import load_scenario, parse_scenario
from sim.simulation import Simulation
from sim.topology import (
    TopologyError,
    TopologySpec,
    federation_graph,
    generate,
    network_graph,
    render,
)
from sim.validate import validate_file

ROOT = Path(__file__).resolve().parents[1]
RING = ROOT / "scenarios" / "topologies" / "ring-not-transitive.yaml"


@pytest.mark.parametrize(
    ("kind", "n", "edges"),
    [
        ("mesh", 4, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]),
        ("hub", 4, [(0, 1), (0, 2), (0, 3)]),
        ("ring", 5, [(0, 1), (0, 4), (1, 2), (2, 3), (3, 4)]),
        ("ring", 2, [(0, 1)]),
        ("mesh", 1, []),
    ],
)
def test_federation_graph_edges(kind: str, n: int, edges: list[tuple[int, int]]) -> None:
    g = federation_graph(kind, n)
    assert sorted(g.nodes) == list(range(n))
    assert sorted(g.edges) == edges


def test_random_federation_depends_on_the_seed_only() -> None:
    a = sorted(federation_graph("random", 12, seed=7).edges)
    assert a == sorted(federation_graph("random", 12, seed=7).edges)
    assert a != sorted(federation_graph("random", 12, seed=8).edges)
    # About 30% of the 66 possible edges, never all of them.
    assert 5 < len(a) < 66


def test_random_network_is_connected() -> None:
    import networkx as nx

    for seed in range(1, 20):
        g = network_graph("random", 9, seed=seed)
        assert nx.is_connected(g), seed


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(TopologyError, match='unknown graph kind "star"'):
        federation_graph("star", 3)


def _fed_pairs(data: dict) -> set[tuple[str, str]]:
    return {
        (td, peer)
        for td, spec in data["trust_domains"].items()
        for peer in spec["server"]["federates_with"]
    }


@pytest.mark.parametrize("kind", ["mesh", "hub", "ring", "random"])
def test_generated_federation_follows_the_graph(kind: str, tmp_path: Path) -> None:
    spec = TopologySpec(trust_domains=6, clusters=3, workloads=18, federation=kind, seed=3)
    data = generate(spec)
    g = federation_graph(kind, 6, seed=3)
    expected = {
        (f"td{a + 1}.example.org", f"td{b + 1}.example.org")
        for u, v in g.edges
        for a, b in ((u, v), (v, u))
    }
    assert _fed_pairs(data) == expected
    # Every relationship is bootstrapped with a bundle_set.
    sets = {(e["trust_domain"], e["peer"]) for e in data["events"] if e["do"] == "bundle_set"}
    assert sets == expected
    path = tmp_path / f"{kind}.yaml"
    path.write_text(render(data))
    assert validate_file(path) == []
    sc = load_scenario(path)
    assert len(sc.clusters) == 3 and len(sc.links) == 3
    assert {td.cluster for td in sc.trust_domains} == {"c1", "c2", "c3"}


def test_network_graph_may_differ_from_federation() -> None:
    data = generate(
        TopologySpec(trust_domains=4, clusters=4, workloads=4, federation="mesh", network="ring")
    )
    assert [tuple(link["between"]) for link in data["links"]] == [
        ("c1", "c2"), ("c1", "c4"), ("c2", "c3"), ("c3", "c4"),
    ]  # fmt: skip
    assert len(_fed_pairs(data)) == 12


def test_generated_scenario_is_deterministic() -> None:
    spec = TopologySpec(trust_domains=5, clusters=2, workloads=10, federation="random", seed=4)
    assert render(generate(spec)) == render(generate(spec))


def _outcome(result, name: str) -> tuple[bool, set[str]]:  # noqa: ANN001
    mine = [r for r in result.requests if r.workload == name and r.t >= 240]
    assert mine, name
    return all(r.ok for r in mine), {e for r in mine for e in r.errors}


def test_federation_is_not_transitive() -> None:
    """td1-td2 and td2-td3 federate, td1-td3 do not: td1 -> td2 and td2 -> td3 work, td1 ->
    td3 fails in td1's ghostunnel for want of td3's roots (not for want of a route)."""
    sc = load_scenario(RING)
    targets = {w.name: w.sidecar.target.host for w in sc.workloads if w.traffic is not None}
    assert targets["td1-client-4"].startswith("td2-web-1.td2.")
    assert targets["td2-client-3"].startswith("td3-web-1.td3.")
    assert targets["td1-client-2"].startswith("td3-web-1.td3.")
    result = Simulation(sc).run()
    assert _outcome(result, "td1-client-4") == (True, set())
    assert _outcome(result, "td2-client-3") == (True, set())
    ok, errors = _outcome(result, "td1-client-2")
    assert not ok
    assert 'error on dial: no roots for peer trust domain "spiffe://td3.example.org"' in errors
    # The connection itself was made: the failure is the handshake's, not the network's.
    assert not any("i/o timeout" in e or "no such host" in e for e in errors)
    outcomes = check(result)
    assert outcomes and all(o.passed for o in outcomes), [o.render() for o in outcomes]


def test_ring_expectations_can_fail() -> None:
    """Federate td1 and td3 as well (servers, bootstrap and entries): td1 -> td3 then works,
    and the ring's expectation that it fails is reported as failed."""
    data = yaml.safe_load(RING.read_text())
    for a, b, ns in (("td1", "td3", "c1"), ("td3", "td1", "c1")):
        server = data["trust_domains"][f"{a}.example.org"]["server"]
        server["federates_with"][f"{b}.example.org"] = {
            "address": f"spire-server.{b}.svc.{ns}.local", "port": 8443,
        }  # fmt: skip
        data["events"].insert(
            0, {"at": "30s", "do": "bundle_set", "trust_domain": f"{a}.example.org",
                "peer": f"{b}.example.org"},
        )  # fmt: skip
        for ev in data["events"]:
            if ev["do"] == "entry_create" and ev["trust_domain"] == f"{a}.example.org":
                ev["entry"]["federates_with"].append(f"spiffe://{b}.example.org")
    result = Simulation(parse_scenario(render(data), "fixed.yaml")).run()
    assert _outcome(result, "td1-client-2") == (True, set())
    failing = [o for o in check(result) if not o.passed]
    # td3's client aimed at td1 is the other one the ring expected to fail.
    assert [o.description.split()[2] for o in failing] == ["td1-client-2", "td3-client-2"]
    assert all("no roots" in o.description for o in failing)


def test_cli_generate_writes_a_valid_scenario(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "hub.yaml"
    code = main([
        "generate", "--trust-domains", "5", "--clusters", "3", "--workloads", "15",
        "--federation", "hub", "--seed", "2", "--out", str(out),
    ])  # fmt: skip
    assert code == 0, capsys.readouterr()
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert out.read_text().startswith("# spire-sim generate --trust-domains 5 --clusters 3")
    assert validate_file(out) == []
    sc = load_scenario(out)
    assert len(sc.trust_domains) == 5 and len(sc.workloads) == 15
    # Hub: td1 federates with all, the spokes with td1 only.
    assert len(sc.domain("td1.example.org").server.federates_with) == 4
    assert [r.trust_domain.name for r in sc.domain("td3.example.org").server.federates_with] == [
        "td1.example.org"
    ]


def test_cli_generate_refuses_bad_input(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code = main([
        "generate", "--trust-domains", "0", "--clusters", "1", "--workloads", "1",
        "--federation", "mesh", "--out", str(tmp_path / "x.yaml"),
    ])  # fmt: skip
    assert code == 2
    assert "need at least one trust domain" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()


def test_generated_hub_run_succeeds_through_the_hub_only() -> None:
    """A hub: spokes reach the hub; a spoke's client aimed at another spoke fails."""
    data = generate(
        TopologySpec(
            trust_domains=3, clusters=3, workloads=9, federation="hub", duration=900,
            every=30, network="ring", latency=0.02,
        )
    )  # fmt: skip
    sc = parse_scenario(render(data), "hub.yaml")
    result = Simulation(sc).run()
    outcomes = check(result)
    assert outcomes and all(o.passed for o in outcomes), [o.render() for o in outcomes]
    assert any(not r.ok for r in result.requests) and any(r.ok for r in result.requests)
