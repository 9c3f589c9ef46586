"""The seed scenario replayed from YAML, end to end: the blog's steps in the products' words."""

from __future__ import annotations

import pytest

from sim.expect import check
from sim.scenario import builtin_scenario_path, load_scenario, parse_scenario
from sim.simulation import Result, Simulation

SEED_TEXT = builtin_scenario_path("seed").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed() -> Result:
    return Simulation(load_scenario(builtin_scenario_path("seed"))).run()


def _lines(result: Result, component: str, text: str) -> list[str]:
    found = []
    for inst in result.log.instances():
        if result.log.instance(inst).component == component:
            found += [
                ln for ln in result.log.render_native(inst, result.clock).splitlines() if text in ln
            ]
    return found


def test_bundles_are_exchanged_as_in_the_blog(seed: Result) -> None:
    for server, peer in (("foo", "bar"), ("bar", "foo")):
        native = seed.log.render_native(f"{server}/spire-server-0", seed.clock)
        assert (
            'time="2019-12-17T00:29:32Z" level=info msg="Bundle refreshed" '
            f"subsystem_name=bundle_client trust_domain={peer}.example.com"
        ) in native
        assert (
            'time="2019-12-17T00:29:32Z" level=debug msg="Scheduling next bundle refresh" '
            'at="2020-01-31T15:29:32Z" subsystem_name=bundle_client '
            f"trust_domain={peer}.example.com"
        ) in native
        # Before `bundle set` at 29m: SPIRE 0.9 could not authenticate and retried every minute.
        errors = seed.log.find(instance=f"{server}/spire-server-0", msg="Error updating bundle")
        assert [seed.clock.rfc3339(r.t) for r in errors][:2] == [
            "2019-12-17T00:00:32Z",
            "2019-12-17T00:01:32Z",
        ]
        assert {r.field("error") for r in errors} == {"local bundle not found"}
        assert all(r.t < 29 * 60 for r in errors)
    foo = seed.servers["foo.example.com"]
    assert '"spiffe_refresh_hint": 15768000' in foo.served_document()
    assert "spiffe_sequence" not in foo.served_document()  # SPIRE 0.9 sent none


def test_success_phase(seed: Result) -> None:
    before = [r for r in seed.requests if r.t < 5 * 3600 + 20 * 60]
    assert before and all(r.ok for r in before)
    assert before[0].t == 1 * 3600 + 21 * 60  # the first curl after the client pod started


def test_failure_after_federates_with_is_gone(seed: Result) -> None:
    failed = [r for r in seed.requests if not r.ok]
    assert failed and all(r.reason == "no_bundle" and r.curl_exit == 56 for r in failed)
    client = _lines(seed, "ghostunnel", "error on dial")
    assert client and all(
        ln.endswith('error on dial: no roots for peer trust domain "spiffe://foo.example.com"')
        for ln in client
    )
    server = _lines(seed, "ghostunnel", "error on TLS handshake from")
    assert len(server) == len(failed)
    assert all(ln.endswith(": remote error: tls: bad certificate") for ln in server)
    assert all(" from 10.244.2." in ln for ln in server)  # the client pod on worker2
    curl = _lines(seed, "curl", "curl: (56)")
    assert len(curl) == len(failed)
    assert set(curl) == {"curl: (56) Recv failure: Connection reset by peer"}
    # ghostunnel's Go log line, as the blog printed it.
    assert client[0].startswith("[1] 2019/12/17 05:2")


def test_verdicts_flip_when_the_new_svids_reach_the_client_sidecar(seed: Result) -> None:
    # The re-created entry (no federatesWith) reaches bar's agent at its next 5 s sync, which
    # pushes the client sidecar an update without foo's bundle: the next request fails.
    recreate = 5 * 3600 + 21 * 60
    push = seed.log.first(
        component="ghostunnel",
        trust_domain="bar.example.com",
        msg="(spiffe) [DEBUG]: X509SVID workload API update received",
        since=recreate,
    )
    assert push is not None
    assert recreate < push.t <= recreate + 5
    last_ok = max(r.t for r in seed.requests if r.ok)
    first_failed = min(r.t for r in seed.requests if not r.ok)
    assert last_ok < push.t <= first_failed
    assert first_failed - push.t < 10  # the very next curl


def test_the_seed_passes_its_own_expectations(seed: Result) -> None:
    outcomes = check(seed)
    assert len(outcomes) == 8
    assert [o.render() for o in outcomes if not o.passed] == []


def test_a_broken_expectation_fails() -> None:
    text = SEED_TEXT.replace("count: {min: 40}", "count: {min: 4000}")
    r = Simulation(parse_scenario(text, "seed-broken.yaml")).run()
    failed = [o for o in check(r) if not o.passed]
    assert len(failed) == 1
    assert failed[0].render().startswith("FAIL  seed-broken.yaml:214  log component='ghostunnel'")
    assert failed[0].detail.startswith("49 found")


def test_same_seed_gives_byte_identical_event_logs(seed: Result) -> None:
    again = Simulation(load_scenario(builtin_scenario_path("seed"))).run()
    assert again.log.to_jsonl(again.clock) == seed.log.to_jsonl(seed.clock)
    other = Simulation(load_scenario(builtin_scenario_path("seed")), seed=2).run()
    assert other.log.to_jsonl(other.clock) != seed.log.to_jsonl(seed.clock)


def _variant(old: str, new: str) -> Result:
    assert old in SEED_TEXT
    text = SEED_TEXT.replace(old, new)
    scenario = parse_scenario(text, "seed-variant.yaml")
    return Simulation(scenario, until=2 * 3600).run()


def test_without_bundle_set_federation_never_bootstraps() -> None:
    r = _variant("  - {at: 29m, do: bundle_set", "  # - {at: 29m, do: bundle_set")
    assert r.log.count(msg="Bundle refreshed") == 0
    errors = r.log.find(instance="foo/spire-server-0", msg="Error updating bundle")
    assert len(errors) == 120  # every minute from 00:00:32 to 01:59:32
    refused = r.log.find(instance="operator", contains="unable to find federated bundle")
    assert refused and 'unable to find federated bundle "spiffe://bar.example.com"' in (
        refused[0].msg
    )
    assert r.requests and not any(q.ok for q in r.requests)


def test_bootstrap_recovers_at_the_next_retry_once_bundle_set_is_done() -> None:
    r = _variant("at: 29m, do: bundle_set", "at: 44m50s, do: bundle_set")
    refreshed = r.log.find(msg="Bundle refreshed")
    assert sorted(r.clock.rfc3339(x.t) for x in refreshed) == ["2019-12-17T00:45:32Z"] * 2
    assert r.log.count(msg="Error updating bundle", since=45 * 60) == 0
