"""Per-version behaviour that the rotation scenarios do not show: warnings about TTLs and refresh
hints, availability_target, and the profile checks of the scenario loader."""

from __future__ import annotations

import pytest

from sim.profiles import SPIRE_VERSIONS, spire_profile
from sim.scenario import ScenarioError, parse_scenario
from sim.simulation import Result, Simulation

H = 3600


def one_domain(spire: str, *, server: str = "", agent: str = "{start: 0s}", hours: int = 2) -> str:
    return f"""
name: one
description: one trust domain
start: 2024-01-01T00:00:00Z
duration: {hours}h
profile: {{spire: "{spire}"}}
cluster: {{name: kind, nodes: {{cp: {{control_plane: true}}, w: {{}}}}}}
trust_domains:
  example.org:
    namespace: spire
    server: {{bundle_endpoint: {{port: 8443{server}}}}}
    agent: {agent}
    entries:
      - {{spiffe_id: spiffe://example.org/node, selectors: ["k8s_psat:agent_ns:spire"], node: true}}
      - {{spiffe_id: spiffe://example.org/web, parent_id: spiffe://example.org/node,
         selectors: ["k8s:pod-label:app:web"]}}
workloads:
  web: {{trust_domain: example.org, labels: {{app: web}},
        sidecar: {{ghostunnel: server, listen: "0.0.0.0:8443", target: "127.0.0.1:8080"}}}}
"""


def _run(text: str) -> Result:
    return Simulation(parse_scenario(text, "one.yaml")).run()


def _warnings(r: Result) -> list[str]:
    return [rec.msg for rec in r.log.find(component="spire-server", level="warn")]


def test_every_version_has_a_profile() -> None:
    assert SPIRE_VERSIONS == ("0.9", "1.7", "1.8", "1.9", "1.x")
    with pytest.raises(ValueError, match='unknown SPIRE version "2.0"'):
        spire_profile("2.0")


def test_svid_ttl_too_long_for_the_ca_ttl_is_warned_about() -> None:
    text = one_domain("1.x").replace(
        "server: {bundle_endpoint", "server: {ca_ttl: 1h, bundle_endpoint"
    )
    assert _warnings(_run(text)) == [
        "default_x509_svid_ttl is too high for the configured ca_ttl value. SVIDs with shorter "
        "lifetimes may be issued. Please set default_x509_svid_ttl to 10m or less, or the ca_ttl "
        "to 6h or more, to guarantee the full default_x509_svid_ttl lifetime when CA rotations "
        "are scheduled."
    ]
    # ... and the SVIDs are indeed cut at the CA's expiry.
    r = _run(text)
    svids = [s for a in r.agents for s in a.svids.values()]
    assert svids and all(s.not_after <= r.servers["example.org"].x509_ca.not_after for s in svids)


@pytest.mark.parametrize(
    ("spire", "hint", "expected"),
    [
        ("1.x", "", []),
        (
            "1.x",
            ", refresh_hint: 30s",
            [
                "Bundle endpoint refresh hint set too low. SPIRE will not "
                "refresh more often than 1 minute"
            ],
        ),
        (
            "1.9",
            ", refresh_hint: 24h",
            [
                "Bundle endpoint refresh hint set to a high value. To cover "
                "the case of unscheduled trust bundle updates, it's "
                "recommended to have a smaller value, e.g. 5m"
            ],
        ),
        (
            "1.8",
            "",
            [
                "Bundle endpoint refresh_hint is not set. This configuration will default to "
                "5 minutes in a future release; please check if you need to specify it"
            ],
        ),
        ("1.7", "", []),
    ],
)
def test_refresh_hint_warnings(spire: str, hint: str, expected: list[str]) -> None:
    r = _run(one_domain(spire, server=hint))
    assert _warnings(r) == expected


@pytest.mark.parametrize(
    ("spire", "hint", "served"),
    [
        ("1.7", "", (24 * H + 10) // 10),
        ("1.8", "", (24 * H + 10) // 10),
        ("1.8", ", refresh_hint: 10m", 600),
        ("1.x", "", 300),
        ("1.x", ", refresh_hint: 10m", 600),
    ],
)
def test_served_refresh_hint_by_version(spire: str, hint: str, served: int) -> None:
    r = _run(one_domain(spire, server=hint))
    assert r.servers["example.org"].served_refresh_hint() == served


def test_refresh_hint_is_refused_where_spire_computed_it() -> None:
    with pytest.raises(ScenarioError, match='refresh_hint needs profile spire "1.8" or later'):
        parse_scenario(one_domain("1.7", server=", refresh_hint: 5m"), "one.yaml")


def test_availability_target_rotates_when_that_much_life_is_left() -> None:
    text = one_domain("1.x", agent="{start: 0s, availability_target: 24h}", hours=60).replace(
        "server: {bundle_endpoint", "server: {ca_ttl: 30d, svid_ttl: 48h, bundle_endpoint"
    )
    r = _run(text)
    renewals = [
        rec
        for rec in r.log.find(component="spire-agent", msg="Renewing X509-SVID")
        if rec.field("spiffe_id") == "spiffe://example.org/web"
    ]
    assert renewals
    for rec in renewals:
        expires = r.clock.to_sim(rec.field("expires_at"))
        left = expires - rec.t
        # ttl <= AT + U[0, 10m), checked on the 5 s sync tick
        assert 24 * H - 5 < left <= 24 * H + 600
    assert not _warnings(r)


def test_availability_target_falls_back_with_spires_warning() -> None:
    text = one_domain("1.x", agent="{start: 0s, availability_target: 24h}", hours=1).replace(
        "server: {bundle_endpoint", "server: {ca_ttl: 30d, svid_ttl: 30h, bundle_endpoint"
    )
    r = _run(text)
    warn = r.log.first(component="spire-agent", level="warn")
    assert warn is not None and warn.msg == (
        "X509 SVID lifetime isn't long enough to guarantee the availability_target, falling back "
        "to the default rotation strategy"
    )


@pytest.mark.parametrize(
    ("spire", "agent", "message"),
    [
        ("1.x", "{availability_target: 12h}", "availability_target must be at least 24h0m0s"),
        ("1.8", "{availability_target: 24h}", 'availability_target needs profile spire "1.9"'),
    ],
)
def test_availability_target_checks(spire: str, agent: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(one_domain(spire, agent=agent), "one.yaml")
