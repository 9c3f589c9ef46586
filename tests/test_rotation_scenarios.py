"""The rotation scenarios under scenarios/rotation/: what each promises, checked against instants
computed from the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.expect import check
from sim.scenario import load_scenario
from sim.simulation import Result, Simulation

DIR = Path(__file__).resolve().parents[1] / "scenarios" / "rotation"
H = 3600
UNKNOWN = (
    "error on dial: x509svid: could not verify leaf certificate: x509: certificate signed by "
    "unknown authority"
)


def _run(name: str) -> Result:
    result = Simulation(load_scenario(DIR / f"{name}.yaml")).run()
    # Each scenario's own expect: section holds as well.
    failed = [o.render() for o in check(result) if not o.passed]
    assert not failed, failed
    return result


def test_default_settings_rotate_without_a_failed_request() -> None:
    r = _run("default-1x-3days")
    assert r.requests and all(q.ok for q in r.requests)
    # ca_ttl 24h, rotator tick 10 s: activations at 20h10s, then every 12h10s.
    expected = [20 * H + 10 + k * (12 * H + 10) for k in range(5)]
    for server in ("foo", "bar"):
        acts = [
            x.t for x in r.log.find(instance=f"{server}/spire-server-0", msg="X509 CA activated")
        ]
        assert acts == [0.0, *expected]
    assert r.summary()["ca_rotations"] == 10


def test_fast_rotation_fails_only_between_an_old_cas_expiry_and_the_next_sync() -> None:
    r = _run("fast-ca-1m")
    activations = [x.t for x in r.log.find(msg="X509 CA activated")][1:]
    expiries = {round(a) for a in activations}
    failed = [q for q in r.requests if not q.ok]
    assert len(failed) < len(r.requests) / 20
    for q in failed:
        assert q.reason == "expired"
        # the old CA expired at the activation tick; the agent's next sync is <= 5 s later
        assert any(0 <= q.t - e < 5 for e in expiries)
    # Every other request, including those right after the agent's sync, succeeded.
    ok_after = [q for q in r.requests if q.ok and any(5 <= q.t - e < 40 for e in expiries)]
    assert ok_after


def _first_renewal_after(r: Result, t: float, spiffe_id: str) -> float:
    return min(
        rec.t
        for rec in r.log.find(component="spire-agent", msg="Renewing X509-SVID", since=t)
        if rec.field("spiffe_id") == spiffe_id
    )


def test_stale_bundle_window_ends_at_the_next_refresh() -> None:
    r = _run("stale-bundle-refresh-hint")
    # bar: ca_ttl 24h -> the next CA is prepared at 12h10s, activated at 20h10s.
    activated = 20 * H + 10
    assert [x.t for x in r.log.find(instance="bar/spire-server-0", msg="X509 CA activated")][
        1
    ] == activated
    # foo polls bar every 48h / 4 = 12h from the start: 0, 12h, 24h.
    polls = [
        x.t
        for x in r.log.find(instance="foo/spire-server-0", msg="Polling for bundle update")
        if x.field("trust_domain") == "bar.example.com"
    ]
    assert polls == [0.0, 12 * H, 24 * H]
    first_use = _first_renewal_after(r, activated, "spiffe://bar.example.com/http-server")
    refresh = 24 * H
    failed = [q.t for q in r.requests if not q.ok]
    inside = [q.t for q in r.requests if first_use < q.t < refresh]
    assert inside and set(inside) <= set(failed)
    assert all(first_use < t <= refresh for t in failed)
    assert all(q.ok for q in r.requests if q.t <= first_use or q.t > refresh)
    lines = r.log.find(component="ghostunnel", contains="error on dial")
    assert {rec.msg for rec in lines} == {UNKNOWN}
    warn = r.log.first(instance="bar/spire-server-0", level="warn")
    assert warn is not None and warn.msg.startswith(
        "Bundle endpoint refresh hint set to a high value."
    )


def test_https_spiffe_endpoint_re_signed_by_an_unfetched_ca_breaks_federation() -> None:
    r = _run("stale-bundle-https-spiffe")
    first_use = _first_renewal_after(r, 20 * H + 10, "spiffe://bar.example.com/http-server")
    assert all(q.ok for q in r.requests if q.t <= first_use)
    after = [q for q in r.requests if q.t > first_use]
    assert after and not any(q.ok for q in after)  # never recovers
    errors = r.log.find(instance="foo/spire-server-0", msg="Error updating bundle", since=12 * H)
    assert [e.t for e in errors] == [24 * H]
    assert errors[0].field("error") == (
        "failed to fetch federated bundle from endpoint: failed to fetch bundle: Get "
        '"https://spire-server.bar.svc.cluster.local:8443": x509svid: could not verify leaf '
        "certificate: x509: certificate signed by unknown authority"
    )


@pytest.mark.parametrize("name", ["stale-bundle-refresh-hint", "stale-bundle-https-spiffe"])
def test_the_stale_scenarios_fix_themselves_with_a_short_hint(name: str) -> None:
    # Mutation: the default 5 minute hint makes both stories disappear.
    text = (DIR / f"{name}.yaml").read_text().replace("refresh_hint: 48h", "refresh_hint: 5m")
    from sim.scenario import parse_scenario

    r = Simulation(parse_scenario(text, f"{name}-fixed.yaml")).run()
    assert r.requests and all(q.ok for q in r.requests)
