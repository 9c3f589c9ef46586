"""Federation over the https_web profile, and what SPIRE logs when it is misconfigured."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.expect import check
from sim.scenario import ScenarioError, load_scenario, parse_scenario
from sim.simulation import Result, Simulation

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "https-web.yaml"
TEXT = SCENARIO.read_text(encoding="utf-8")
PREFIX = "failed to fetch federated bundle from endpoint"
URL = '"https://spire-server.foo.svc.cluster.local:8443"'


def _run(old: str = "", new: str = "", until: float = 15 * 60) -> Result:
    assert old in TEXT
    return Simulation(parse_scenario(TEXT.replace(old, new), "variant.yaml"), until=until).run()


def _bar_errors(r: Result) -> set[str]:
    return {
        rec.field("error")
        for rec in r.log.find(instance="bar/spire-server-0", msg="Error updating bundle")
    }


def test_https_web_needs_no_bootstrap_and_requests_succeed() -> None:
    r = Simulation(load_scenario(SCENARIO)).run()
    first = r.log.first(instance="bar/spire-server-0", msg="Bundle refreshed")
    assert first is not None and first.t == 0  # at bar's start, with no `bundle set`
    assert not _bar_errors(r)
    # foo's https_spiffe side still waited for its bootstrap at 2m.
    foo_errors = r.log.find(instance="foo/spire-server-0", msg="Error updating bundle")
    assert [e.t for e in foo_errors] == [0, 60]
    assert r.requests and all(q.ok for q in r.requests)
    assert all(o.passed for o in check(r))


def test_endpoint_serving_a_spiffe_svid_to_a_web_client() -> None:
    # foo's endpoint back to the default profile: it serves its SPIFFE server SVID.
    start = TEXT.index("        profile: https_web          # bundle_endpoint")
    end = TEXT.index("      federates_with:", start)
    r = _run(TEXT[start:end], "")
    assert _bar_errors(r) == {
        f"{PREFIX}: failed to authenticate bundle endpoint using web authentication but the "
        'server certificate contains SPIFFE ID "spiffe://foo.example.com/spire/server": maybe '
        f"use https_spiffe instead of https_web: Get {URL}: tls: failed to verify certificate: "
        "x509: certificate is not valid for any names, but wanted to match "
        "spire-server.foo.svc.cluster.local"
    }


def test_serving_certificate_for_the_wrong_name() -> None:
    r = _run("dns_names: [spire-server.foo.svc.cluster.local]", "dns_names: [foo.example.com]")
    assert _bar_errors(r) == {
        f"{PREFIX}: failed to fetch bundle: Get {URL}: tls: failed to verify certificate: "
        "x509: certificate is valid for foo.example.com, not spire-server.foo.svc.cluster.local"
    }


def test_web_ca_not_in_the_system_roots() -> None:
    r = _run(
        "      bundle_endpoint: {port: 8443}\n",
        "      bundle_endpoint: {port: 8443}\n      web_roots: []\n",
    )
    assert _bar_errors(r) == {
        f"{PREFIX}: failed to fetch bundle: Get {URL}: tls: failed to verify certificate: "
        "x509: certificate signed by unknown authority"
    }
    assert r.log.count(instance="bar/spire-server-0", msg="Bundle refreshed") == 0


def test_a_web_client_facing_a_spiffe_relationship_is_told_so() -> None:
    # The reverse mistake: bar uses https_spiffe against foo's Web PKI certificate.
    r = _run("          profile: https_web\n", "")
    assert r.log.count(instance="bar/spire-server-0", msg="Bundle refreshed") == 0
    errors = _bar_errors(r)
    assert errors == {"can't perform SPIFFE Authentication: local copy of bundle not found"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'profile: {spire: "1.x", ghostunnel: "latest"}',
            'profile: {spire: "0.9", ghostunnel: "1.5.2"}',
            'https_web needs profile spire "1.7" or later',
        ),
        (
            "        serving_cert:\n          authority: example-web-ca\n"
            "          dns_names: [spire-server.foo.svc.cluster.local]\n",
            "",
            'missing required key "serving_cert" (profile https_web)',
        ),
        (
            "authority: example-web-ca",
            "authority: example-web-cb",
            'unknown Web PKI authority "example-web-cb" (did you mean "example-web-ca"?)',
        ),
    ],
)
def test_scenario_checks(old: str, new: str, message: str) -> None:
    assert old in TEXT
    with pytest.raises(ScenarioError) as err:
        parse_scenario(TEXT.replace(old, new), "variant.yaml")
    assert message in str(err.value)
