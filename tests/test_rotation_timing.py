"""Rotation and refresh instants, to the second, computed from SPIRE's formulas (spire-facts
1.2, 1.5, 3, 4, 5) for a self-signed and an upstream-disk server under two version profiles."""

from __future__ import annotations

import json

import pytest

from sim.scenario import parse_scenario
from sim.simulation import Result, Simulation

H = 3600


def scenario(spire: str, *, hours: int = 50) -> str:
    ghostunnel = "1.5.2" if spire == "0.9" else "latest"
    return f"""
name: timing
start: 2024-01-01T00:00:00Z
duration: {hours}h
profile: {{spire: "{spire}", ghostunnel: "{ghostunnel}"}}
cluster:
  name: kind
  nodes:
    cp: {{control_plane: true}}
    w1: {{taints: ["app=foo:NoSchedule"]}}
    w2: {{taints: ["app=bar:NoSchedule"]}}
trust_domains:
  foo.example.com:                    # self-signed, ca_ttl 24h
    namespace: foo
    tolerations: ["app=foo:NoSchedule"]
    server:
      ca_ttl: 24h
      bundle_endpoint: {{port: 8443}}
    agent: {{start: 0s}}
    entries:
      - {{spiffe_id: spiffe://foo.example.com/agent, selectors: ["k8s_psat:agent_ns:foo"],
         node: true}}
      - {{spiffe_id: spiffe://foo.example.com/web, parent_id: spiffe://foo.example.com/agent,
         selectors: ["k8s:pod-label:app:web"]}}
  bar.example.com:                    # upstream disk: 12h intermediates, ca_ttl 24h
    namespace: bar
    tolerations: ["app=bar:NoSchedule"]
    server:
      ca_ttl: 24h
      upstream_authority: {{disk: {{generate: {{common_name: bar root}}, ttl: 12h}}}}
      federates_with:
        foo.example.com: {{address: spire-server.foo.svc.cluster.local}}
workloads:
  web:
    trust_domain: foo.example.com
    labels: {{app: web}}
    sidecar: {{ghostunnel: server, listen: "0.0.0.0:8443", target: "127.0.0.1:8080",
              allow_uri: [spiffe://bar.example.com/x]}}
events:
  - {{at: 0s, do: bundle_set, trust_domain: bar.example.com, peer: foo.example.com}}
"""


@pytest.fixture(scope="module", params=["0.9", "1.x"])
def run(request: pytest.FixtureRequest) -> Result:
    return Simulation(parse_scenario(scenario(request.param), "timing.yaml")).run()


def _times(r: Result, instance: str, msg: str) -> list[float]:
    return [rec.t for rec in r.log.find(instance=instance, msg=msg)]


def tick(threshold: float, t0: float = 0.0, every: float = 10.0) -> float:
    """The rotator's first tick strictly after a threshold (now.After)."""
    return t0 + (int((threshold - t0) // every) + 1) * every


def ca_schedule(ca_lifetime: float, horizon: float) -> tuple[list[float], list[float]]:
    """(prepares, activations) after the initial one, for a CA re-issued with ``lifetime``:
    prepare when now > notAfter - lifetime/2, activate when now > notAfter - lifetime/6."""
    prepares, activations = [], []
    issued = 0.0
    while True:
        not_after = issued + ca_lifetime
        p = tick(not_after - ca_lifetime / 2)
        a = tick(not_after - ca_lifetime / 6)
        if p > horizon:
            break
        prepares.append(p)
        if a <= horizon:
            activations.append(a)
        issued = p
    return prepares, activations


def test_self_signed_ca_and_jwt_slots_follow_the_thresholds(run: Result) -> None:
    prepares, activations = ca_schedule(24 * H, 50 * H)
    assert prepares[:2] == [12 * H + 10, 24 * H + 20] and activations[:2] == [
        20 * H + 10,
        32 * H + 20,
    ]
    inst = "foo/spire-server-0"
    assert _times(run, inst, "X509 CA prepared") == [0.0, *prepares]
    assert _times(run, inst, "X509 CA activated") == [0.0, *activations]
    # The JWT key lives ca_ttl too, so its slot turns at the same instants here.
    assert _times(run, inst, "JWT key prepared") == [0.0, *prepares]
    assert _times(run, inst, "JWT key activated") == [0.0, *activations]


def test_upstream_signed_ca_turns_at_its_own_12h_lifetime(run: Result) -> None:
    prepares, activations = ca_schedule(12 * H, 50 * H)
    assert prepares[:2] == [6 * H + 10, 12 * H + 20] and activations[:2] == [
        10 * H + 10,
        16 * H + 20,
    ]
    inst = "bar/spire-server-0"
    assert _times(run, inst, "X509 CA prepared") == [0.0, *prepares]
    assert _times(run, inst, "X509 CA activated") == [0.0, *activations]
    jwt_prepares, jwt_activations = ca_schedule(24 * H, 50 * H)
    assert _times(run, inst, "JWT key prepared") == [0.0, *jwt_prepares]
    assert _times(run, inst, "JWT key activated") == [0.0, *jwt_activations]


def test_sequence_counts_every_bundle_change(run: Result) -> None:
    foo, bar = run.servers["foo.example.com"], run.servers["bar.example.com"]
    # foo (self-signed): +1 per root and +1 per JWT key at each prepare; -2 pruned at 48h (+1).
    n = len(_times(run, "foo/spire-server-0", "X509 CA prepared"))
    assert foo.bundle.sequence_number == 2 * n + 1
    # bar (upstream): the same upstream root every time, so only JWT keys (+1 each), the root
    # once, and the 48h prune of the first JWT key (+1).
    m = len(_times(run, "bar/spire-server-0", "JWT key prepared"))
    assert bar.bundle.sequence_number == 1 + m + 1
    assert len(bar.bundle.x509_authorities) == 1


def test_pruning_on_the_six_hour_tick(run: Result) -> None:
    # Authorities expired at 24h are pruned once expired for 24h: the 6-hourly tick at 48h.
    pruned = run.log.find(
        instance="foo/spire-server-0", msg="Pruning CA certificate due to expiration"
    )
    assert [r.t for r in pruned] == [48 * H]
    jwt = run.log.find(
        instance="bar/spire-server-0", msg="Pruning JWT signing key due to expiration"
    )
    assert [r.t for r in jwt] == [48 * H]
    done = run.log.find(msg="Expired certificates were successfully pruned from bundle")
    assert sorted({r.t for r in done}) == [48 * H]


def test_workload_svid_renewals(run: Result) -> None:
    # Each mint of the web SVID is logged by the agent ("Creating"/"Renewing X509-SVID"; SPIRE
    # 0.9 says "Renewing" for both, HEAD tells them apart).
    agent = "foo/" + _agent(run, "foo")
    minted = [
        r.t for r in run.log.find(instance=agent)
        if r.msg in ("Creating X509-SVID", "Renewing X509-SVID")
        and r.field("spiffe_id").endswith("/web")
    ]  # fmt: skip
    assert len(minted) > 50
    for before, after in zip(minted, minted[1:], strict=False):
        lifetime = 3600 + 10  # default_x509_svid_ttl 1h plus the 10 s backdate
        if run.scenario.profile.spire == "0.9":
            # exactly at half-life: the first 5 s agent tick with ttl <= lifetime / 2
            assert after - before == lifetime / 2 - 10  # 1795 s, already on the 5 s grid
        else:
            # jittered half-life, 45 % .. 55 % of the lifetime, on the 5 s grid
            ttl_left = before + 3600 - after
            assert 0.9 * lifetime / 2 - 5 < ttl_left <= 1.1 * lifetime / 2
        assert after % 5 == 0


def _agent(run: Result, ns: str) -> str:
    return next(
        i.split("/", 1)[1] for i in run.log.instances() if i.startswith(f"{ns}/spire-agent")
    )


def test_bundle_refresh_spacing(run: Result) -> None:
    polls = _times(run, "bar/spire-server-0", "Polling for bundle update")
    gaps = {b - a for a, b in zip(polls, polls[1:], strict=False)}
    if run.scenario.profile.spire == "0.9":
        # hint = min root lifetime / 10 = (24h + 10 s) / 10 for foo's self-signed CA; / 4.
        hint = (24 * H + 10) // 10
        assert gaps == {hint / 4}
        assert "spiffe_sequence" not in run.servers["foo.example.com"].served_document()
    else:
        assert gaps == {75.0}  # the 5 minute default hint / 4
        doc = json.loads(run.servers["foo.example.com"].served_document())
        assert doc["spiffe_refresh_hint"] == 300 and doc["spiffe_sequence"] >= 2


def test_jitter_is_deterministic_per_seed() -> None:
    text = scenario("1.x", hours=6)
    a = Simulation(parse_scenario(text, "t.yaml")).run()
    b = Simulation(parse_scenario(text, "t.yaml")).run()
    c = Simulation(parse_scenario(text, "t.yaml"), seed=9).run()
    renew = "Renewing X509-SVID"
    assert [r.t for r in a.log.find(msg=renew)] == [r.t for r in b.log.find(msg=renew)]
    assert [r.t for r in a.log.find(msg=renew)] != [r.t for r in c.log.find(msg=renew)]
