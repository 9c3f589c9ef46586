"""spire-sim explain: every failed request gets the chain of causes the model's state shows, with
the entries, authorities and instants of the run (computed here from the configuration and the
recorded state, never copied from the output)."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path

import pytest

from sim.cli import main
from sim.explain import Explanation, explain, render
from sim.scenario import builtin_scenario_path, load_scenario, parse_scenario
from sim.simulation import RequestRecord, Result, Simulation

ROOT = Path(__file__).resolve().parents[1] / "scenarios"
FAILURES = ROOT / "failures"
H, M = 3600, 60


@cache
def _run(name: str) -> Result:
    path = builtin_scenario_path("seed") if name == "seed" else ROOT / name
    return Simulation(load_scenario(path)).run()


def _causes(e: Explanation, kind: str) -> list:
    return [c for c in e.causes if c.kind == kind]


def _covers_every_failure(r: Result, found: list[Explanation]) -> None:
    failed = [q for q in r.requests if not q.ok]
    assert sum(e.count for e in found) == len(failed)
    assert min(e.first for e in found) == failed[0].t
    assert max(e.last for e in found) == failed[-1].t


def _entry(r: Result, td: str, spiffe_id: str, t: float):
    live = [e for e in r.history.entries_at(td, t).values() if e.spiffe_id == spiffe_id]
    assert len(live) == 1
    return live[0]


def test_seed_names_the_missing_federates_with_on_both_entries() -> None:
    r = _run("seed")
    found = explain(r)
    assert len(found) == 1
    e = found[0]
    _covers_every_failure(r, found)
    assert (e.workload, e.kind, e.rejected_by) == ("client", "missing_federates_with", "client")
    # The failures start after the entries were re-created without federatesWith (5h21m).
    assert e.first > 5 * H + 21 * M
    client = _entry(r, "bar.example.com", "spiffe://bar.example.com/client", e.first)
    server = _entry(r, "foo.example.com", "spiffe://foo.example.com/http-server", e.first)
    assert client.t == server.t == 5 * H + 21 * M and client.federates_with == ()
    missing = _causes(e, "missing_federates_with")
    assert [(c.side, c.workload, c.entry_id, c.spiffe_id, c.trust_domain) for c in missing] == [
        ("client", "client", client.entry_id, client.spiffe_id, "foo.example.com"),
        ("server", "http-server", server.entry_id, server.spiffe_id, "bar.example.com"),
    ]
    # The entries of the federated phase (created at 1h5m) are not the ones blamed.
    earlier = _entry(r, "bar.example.com", "spiffe://bar.example.com/client", 2 * H)
    assert earlier.federates_with == ("foo.example.com",)
    assert earlier.entry_id != client.entry_id
    for c in missing:
        assert c.entry_id in c.text and c.spiffe_id in c.text and c.trust_domain in c.text
    # Which side logged what.
    said = dict(zip(e.said_by, e.errors, strict=True))
    assert said["client's ghostunnel (client side)"] == (
        'error on dial: no roots for peer trust domain "spiffe://foo.example.com"'
    )
    assert said["http-server's ghostunnel (server side)"].endswith(
        ": remote error: tls: bad certificate"
    )
    assert said["curl in client"] == "curl: (56) Recv failure: Connection reset by peer"
    text = render(found, r.clock)
    assert client.entry_id in text and server.entry_id in text
    assert f"from {r.clock.rfc3339(e.first)} to {r.clock.rfc3339(e.last)}" in text


EXPECTED = {
    "b1-no-bootstrap.yaml": "never_bootstrapped",
    "b2-wrong-bundle-set.yaml": "wrong_bundle",
    "b3-one-sided-federation.yaml": "missing_federates_with",
    "d3-clock-skew.yaml": "clock_skew",
    "e1-no-federates-with.yaml": "missing_federates_with",
    "e2-federates-with-unknown-domain.yaml": "unknown_federated_domain",
    "r4-partition-during-rotation.yaml": "stale_bundle",
    "r3-refresh-hint-ignores-jwt-keys.yaml": "stale_jwt_bundle",
    "a1-hurried-taint-and-revoke.yaml": "stale_bundle",
    "r1-refresh-hint-too-long.yaml": "stale_bundle",
    "r2-hint-from-long-lived-root.yaml": "stale_bundle",
    "d1-server-down.yaml": "server_down",
    "d2-agent-disconnected.yaml": "agent_cannot_sync",
    "a2-datastore-lost.yaml": "datastore_lost",
    "pause-laptop-asleep.yaml": "expired",
}


def test_every_failing_story_is_expected() -> None:
    failing = sorted(p.name for p in FAILURES.glob("*.yaml") if explain(_run(f"failures/{p.name}")))
    assert failing == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_story_gets_its_cause(name: str) -> None:
    r = _run(f"failures/{name}")
    found = explain(r)
    _covers_every_failure(r, found)
    assert found[0].kind == EXPECTED[name]
    for e in found:
        assert not _causes(e, "unexplained"), render([e], r.clock)


def test_b1_and_e2_name_the_refused_entry_and_why() -> None:
    b1 = explain(_run("failures/b1-no-bootstrap.yaml"))[0]
    refused = _causes(b1, "entry_rejected")[0]
    assert refused.spiffe_id == "spiffe://bar.example.com/client" and refused.time("refused") == (
        H + 5 * M
    )
    boot = _causes(b1, "never_bootstrapped")[0]
    # bar's server starts at 32 s and retries every minute until the entry is refused at 1h5m.
    assert boot.trust_domain == "foo.example.com" and boot.time("first_poll") == 32
    assert boot.time("last_poll") == H + 4 * M + 32
    e2 = explain(_run("failures/e2-federates-with-unknown-domain.yaml"))[0]
    assert _causes(e2, "unknown_federated_domain")[0].trust_domain == "baz.example.com"


def test_b2_says_whose_authorities_the_copy_holds() -> None:
    r = _run("failures/b2-wrong-bundle-set.yaml")
    e = explain(r)[0]
    wrong = _causes(e, "wrong_bundle")[0]
    assert wrong.time("stored") == 29 * M  # the operator's bundle set
    foo_roots = {root for ev in r.history.authorities if ev.trust_domain == "foo.example.com"
                 for root in ev.roots}  # fmt: skip
    copy = r.history.bundle_at("foo.example.com", "bar.example.com", e.first)
    assert copy is not None and set(copy.x509_ids) <= foo_roots
    assert "they are foo.example.com's" in wrong.text
    assert _causes(e, "fetch_failing")


def test_b3_is_one_sided_on_the_server() -> None:
    e = explain(_run("failures/b3-one-sided-federation.yaml"))[0]
    assert e.rejected_by == "server"
    missing = _causes(e, "missing_federates_with")
    assert [(c.side, c.spiffe_id) for c in missing] == [
        ("server", "spiffe://foo.example.com/http-server")
    ]
    assert _causes(e, "one_sided")[0].workload == "client"


def test_r4_instants_come_from_the_configuration() -> None:
    r = _run("failures/r4-partition-during-rotation.yaml")
    found = explain(r)
    e = found[0]
    stale = _causes(e, "stale_bundle")[0]
    # bar: ca_ttl 24h from 0 -> next CA prepared (root published) at 12h10s, activated at
    # 20h10s (SPIRE's 10 s ticks), both inside the 11h..22h partition.
    assert stale.time("published") == 12 * H + 10
    assert stale.time("activated") == 20 * H + 10
    assert stale.authority_id == list(r.history.authority_steps("bar.example.com", "x509"))[1]
    # foo polls bar every 5m / 4 = 75 s from 0: the last success is the poll before the cut
    # (11h = 528 x 75 s is itself cut off) ...
    assert stale.time("fetched") == 11 * H - 75
    polls = _causes(e, "fetch_failing")[0]
    assert 11 * H <= polls.time("first_failed_poll") < 11 * H + 75
    assert "i/o timeout" in polls.text
    # ... and the first after the heal, which the workload gets at the agent's next sync.
    fixed = _causes(e, "fixed")[0]
    assert fixed.time("fixed") == 22 * H  # 79200 is a multiple of 75
    assert 0 < fixed.time("delivered") - fixed.time("fixed") <= 5
    assert e.first > stale.time("activated") and e.last < fixed.time("fixed")
    # A request at the very instant of the refresh still fails: the agent has not pushed it.
    assert [x.kind for x in found[1:]] == ["not_yet_delivered"]
    assert found[1].first == 22 * H


def test_r3_names_the_jwt_key_the_copy_lacks() -> None:
    r = _run("failures/r3-refresh-hint-ignores-jwt-keys.yaml")
    found = explain(r)
    e = found[0]
    assert e.kind == "stale_jwt_bundle"
    signed = _causes(e, "peer_authority")[0]
    stale = _causes(e, "stale_jwt_bundle")[0]
    # The key that signed the client's token is the one bar activated second, at 5/6 of the
    # 24h JWT key lifetime on the 10 s tick; its publication came at 1/2 (12h10s).
    kid = list(r.history.authority_steps("bar.example.com", "jwt"))[1]
    assert signed.authority_id == stale.authority_id == kid
    assert stale.time("activated") == 20 * H + 10 and stale.time("published") == 12 * H + 10
    # foo polls bar every 24 h (a 4-day hint from a 40-day root, polled at a quarter): the
    # copy of 0h lacks the key until the poll at 24h.
    assert stale.time("fetched") == 0
    assert _causes(e, "fixed")[0].time("fixed") == 24 * H
    assert stale.time("activated") <= e.first and e.last < 24 * H


def test_stale_refresh_hint_is_fixed_at_the_next_poll() -> None:
    r = _run("rotation/stale-bundle-refresh-hint.yaml")
    e = explain(r)[0]
    assert e.kind == "stale_bundle"
    # refresh_hint 48h -> polls every 12 h: the copy of 12h lacks the root prepared at 12h10s.
    stale = _causes(e, "stale_bundle")[0]
    assert stale.time("fetched") == 12 * H and stale.time("published") == 12 * H + 10
    assert _causes(e, "next_refresh")[0].time("next_poll") == 24 * H
    assert _causes(e, "fixed")[0].time("fixed") == 24 * H


def test_d3_skew_and_validity() -> None:
    r = _run("failures/d3-clock-skew.yaml")
    found = explain(r)
    assert len(found) >= 4 and {e.kind for e in found} == {"clock_skew"}
    for e in found:
        skew = _causes(e, "clock_skew")[0]
        assert skew.time("skewed") == 90 * M
        assert skew.time("verifier_clock") == e.first - 120
        # SPIRE backdates notBefore by 10 s; a clock 2 min behind accepts it 2 min later.
        assert skew.time("accepted_from") == skew.time("not_before") + 120
        assert e.last < skew.time("accepted_from") <= e.last + 10
        assert skew.side == "client" and skew.spiffe_id == "spiffe://foo.example.com/http-server"


def test_fast_ca_svids_expire_with_their_ca() -> None:
    r = _run("rotation/fast-ca-1m.yaml")
    found = explain(r)
    _covers_every_failure(r, found)
    for e in found:
        expired = _causes(e, "expired")[0]
        assert expired.time("not_after") == e.first and "capped at the expiry" in expired.text
        assert 0 < expired.time("renewed") - e.first <= 5  # the agent's next sync


def test_no_failures_explain_nothing() -> None:
    r = _run("failures/a3-ca-ttl-too-short.yaml")
    assert r.requests and explain(r) == []
    assert render([], r.clock) == "no failed requests\n"


def test_a_fixed_story_explains_nothing() -> None:
    path = FAILURES / "e1-no-federates-with.yaml"
    text = path.read_text()
    fixed = text.replace(
        "      dns_names: [http-server, http-server.foo.svc.cluster.local]\n",
        "      dns_names: [http-server, http-server.foo.svc.cluster.local]\n"
        "      federates_with: [spiffe://bar.example.com]\n",
    ).replace(
        '      selectors: ["k8s:pod-label:app:client"]\n',
        '      selectors: ["k8s:pod-label:app:client"]\n'
        "      federates_with: [spiffe://foo.example.com]\n",
    )
    assert fixed != text
    r = Simulation(parse_scenario(fixed, path.name)).run()
    assert r.requests and explain(r) == []


def test_the_fallback_admits_it_knows_no_cause() -> None:
    r = _run("failures/a3-ca-ttl-too-short.yaml")
    odd = RequestRecord(2 * H, "client", False, "mystery", 56, ("curl: (56) something",))
    found = explain(dataclasses.replace(r, requests=[*r.requests, odd]))
    assert [(e.kind, e.count) for e in found] == [("unexplained", 1)]
    assert "the model has no recorded cause" in found[0].causes[0].text


def test_since_and_until_choose_failures() -> None:
    r = _run("failures/d3-clock-skew.yaml")
    every = explain(r)
    late = explain(r, since=2 * H)
    assert late and all(e.first >= 2 * H for e in late)
    assert sum(e.count for e in late) < sum(e.count for e in every)


def test_cli_explain(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(FAILURES / "e1-no-federates-with.yaml")
    assert main(["explain", path]) == 0
    out = capsys.readouterr().out
    assert "[missing_federates_with]" in out and "spiffe://foo.example.com/http-server" in out
    assert main(["explain", path, "--format", "json", "--since", "1h30m"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (e,) = doc["explanations"]
    assert e["first"] == "2019-12-17T01:30:00Z" and e["kind"] == "missing_federates_with"
    assert [c["side"] for c in e["causes"] if c["kind"] == "missing_federates_with"] == [
        "client",
        "server",
    ]
    assert main(["explain", path, "--until", "1h"]) == 0
    assert capsys.readouterr().out == "no failed requests\n"
    assert main(["explain", path, "--since", "soon"]) == 2
    assert "invalid duration" in capsys.readouterr().err


def _variant(name: str, *edits: tuple[str, str]) -> Result:
    path = FAILURES / name
    text = path.read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    return Simulation(parse_scenario(text, path.name)).run()


E1_FIX = (
    (
        "      dns_names: [http-server, http-server.foo.svc.cluster.local]\n",
        "      dns_names: [http-server, http-server.foo.svc.cluster.local]\n"
        "      federates_with: [spiffe://bar.example.com]\n",
    ),
    (
        '      selectors: ["k8s:pod-label:app:client"]\n',
        '      selectors: ["k8s:pod-label:app:client"]\n'
        "      federates_with: [spiffe://foo.example.com]\n",
    ),
)


def test_a_server_without_a_relationship_refuses_the_entry() -> None:
    # bar has no federates_with foo.example.com and no bundle set: its client's entry, which
    # names foo, is refused (B3 as one server without the relationship).
    r = _variant(
        "e1-no-federates-with.yaml",
        *E1_FIX,
        (
            "      federates_with:\n        foo.example.com:\n"
            "          address: spire-server.foo.svc.cluster.local\n          port: 8443\n"
            "          endpoint_spiffe_id: spiffe://foo.example.com/spire/server\n",
            "",
        ),
        ("  - {at: 29m, do: bundle_set, trust_domain: bar.example.com, peer: foo.example.com}\n",
         ""),
    )  # fmt: skip
    (e,) = explain(r)
    assert e.kind == "no_relationship"
    assert [c.kind for c in e.causes] == ["no_identity", "entry_rejected", "no_relationship"]
    assert e.causes[-1].trust_domain == "foo.example.com"


def test_a_server_without_identity_refuses_connections() -> None:
    # foo's http-server entry names baz: refused, so foo's ghostunnel never listens.
    r = _variant(
        "e1-no-federates-with.yaml",
        (
            "      dns_names: [http-server, http-server.foo.svc.cluster.local]\n",
            "      dns_names: [http-server, http-server.foo.svc.cluster.local]\n"
            "      federates_with: [spiffe://baz.example.com]\n",
        ),
    )
    (e,) = explain(r)
    assert e.reason == "dial_refused" and e.kind == "unknown_federated_domain"
    assert [c.kind for c in e.causes] == [
        "dial_failed", "peer_not_listening", "entry_rejected", "unknown_federated_domain"
    ]  # fmt: skip
    assert e.causes[1].workload == "http-server"


def test_an_acl_that_does_not_list_the_peer() -> None:
    r = _variant(
        "e1-no-federates-with.yaml",
        *E1_FIX,
        ("allow_uri: [spiffe://bar.example.com/client]", "allow_uri: [spiffe://bar.example.com/other]"),
    )  # fmt: skip
    (e,) = explain(r)
    assert (e.kind, e.rejected_by) == ("not_authorized", "server")
    (c,) = e.causes
    assert c.workload == "http-server" and c.spiffe_id == "spiffe://bar.example.com/client"
    assert "spiffe://bar.example.com/other" in c.text


def test_e4_fixed_names_the_forged_identity() -> None:
    path = FAILURES / "e4-pooled-roots.yaml"
    pooled = ",\n              trust: pooled}   # UNSAFE: one pool of foo's, bar's and evil's roots"
    text = path.read_text(encoding="utf-8")
    assert pooled in text
    r = Simulation(parse_scenario(text.replace(pooled, "}"), str(path), base_dir=path.parent)).run()
    found = explain(r)
    assert [(e.workload, e.kind) for e in found] == [("intruder", "forged_identity")]
    cause = found[0].causes[0]
    assert cause.spiffe_id == "spiffe://bar.example.com/client"
    assert cause.trust_domain == "evil.example.com" and cause.side == "server"
    # The real client's requests are untouched, and every intruder request is covered.
    assert found[0].count == sum(not q.ok for q in r.requests) > 0


def test_lifecycle_causes_use_the_configured_instants() -> None:
    d1 = explain(_run("failures/d1-server-down.yaml"))[0]
    # foo's server is stopped at 2h and started at 5h (the story's events).
    down = _causes(d1, "server_down")[0]
    assert down.time("server_down") == 2 * H and down.time("server_back") == 5 * H
    agent = _causes(d1, "agent_cannot_sync")[0]
    assert 2 * H < agent.time("agent_down") <= 2 * H + 5  # the next 5 s sync fails
    assert agent.time("agent_back") >= 5 * H and d1.last < agent.time("agent_back")
    a2 = explain(_run("failures/a2-datastore-lost.yaml"))[0]
    lost = _causes(a2, "datastore_lost")[0]
    gone = _causes(a2, "no_entry")[0]
    assert lost.time("restarted") == gone.time("entry_gone")
    assert gone.spiffe_id == "spiffe://foo.example.com/http-server"
    assert a2.first >= gone.time("entry_gone") and a2.last <= gone.time("entry_back")
