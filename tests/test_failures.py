"""The failure library under scenarios/failures/: each story's symptom, at instants computed from
its configuration, and a fixed copy in which the symptom disappears."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.expect import check
from sim.scenario import load_scenario, parse_scenario
from sim.simulation import Result, Simulation

DIR = Path(__file__).resolve().parents[1] / "scenarios" / "failures"
H = 3600


def _run(path: Path, text: str | None = None) -> Result:
    scenario = load_scenario(path) if text is None else parse_scenario(text, path.name)
    return Simulation(scenario).run()


def test_r4_partition_during_a_peer_rotation() -> None:
    path = DIR / "r4-partition-during-rotation.yaml"
    r = _run(path)
    assert [o.render() for o in check(r) if not o.passed] == []
    # bar: ca_ttl 24h from 0 -> next CA prepared at 12h10s, activated at 20h10s (10 s ticks).
    activated = [x.t for x in r.log.find(instance="bar/spire-server-0", msg="X509 CA activated")]
    assert activated[1] == 20 * H + 10
    # The first use of the new authority: bar's http-server SVID renewed after the activation.
    first_use = min(
        rec.t for rec in r.log.find(component="spire-agent", msg="Renewing X509-SVID",
                                    since=20 * H + 10)
        if rec.field("spiffe_id") == "spiffe://bar.example.com/http-server"
    )  # fmt: skip
    # foo polls bar every 5m / 4 = 75 s from 0; the first success after the heal at 22h.
    refresh = min(
        rec.t for rec in r.log.find(instance="foo/spire-server-0", msg="Bundle refreshed",
                                    since=22 * H)
        if rec.field("trust_domain") == "bar.example.com"
    )  # fmt: skip
    assert refresh % 75 == 0 and 22 * H <= refresh < 22 * H + 75
    polls_failed = r.log.find(instance="foo/spire-server-0", msg="Error updating bundle",
                              since=11 * H, until=22 * H)  # fmt: skip
    assert all("i/o timeout" in rec.field("error") for rec in polls_failed)
    # Failures exactly from the first use until the refresh (+ the agent's 5 s sync).
    failed = [q.t for q in r.requests if not q.ok]
    assert failed and min(failed) > first_use and max(failed) <= refresh + 5
    assert all(not q.ok for q in r.requests if first_use < q.t <= refresh)
    assert all(q.ok for q in r.requests if q.t <= first_use or q.t > refresh + 5)


def test_r4_without_the_partition_nothing_fails() -> None:
    path = DIR / "r4-partition-during-rotation.yaml"
    text = path.read_text()
    for line in (
        "  - {at: 11h, do: partition, between: [foo/spire-server, bar/spire-server]}\n",
        "  - {at: 22h, do: heal, between: [foo/spire-server, bar/spire-server]}\n",
    ):
        assert line in text
        text = text.replace(line, "")
    r = _run(path, text)
    assert r.requests and all(q.ok for q in r.requests)


def test_network_events_name_real_places() -> None:
    from sim.scenario import ScenarioError

    text = (DIR / "r4-partition-during-rotation.yaml").read_text()
    bad = text.replace(
        "between: [foo/spire-server, bar/spire-server]}\n  - {at: 22h",
        "between: [foo/spire-servr, bar/spire-server]}\n  - {at: 22h",
    )
    with pytest.raises(ScenarioError) as err:
        parse_scenario(bad, "bad.yaml")
    assert 'unknown place "foo/spire-servr" (did you mean "foo/spire-server"?)' in str(err.value)
    same = text.replace(
        "between: [foo/spire-server, bar/spire-server]}\n  - {at: 22h",
        "between: [kind-worker, kind-worker]}\n  - {at: 22h",
    )
    with pytest.raises(ScenarioError, match='cannot partition "kind-worker" from itself'):
        parse_scenario(same, "same.yaml")


# Stories in which every request fails; the others fail in windows, tested on their own.
WINDOWED = ("r1-", "r2-", "r3-", "r4-", "d1-", "d2-", "d3-", "a1-", "a2-", "a3-", "e4-", "pau")
STORIES = sorted(p.name for p in DIR.glob("*.yaml") if p.name[:3] not in WINDOWED)
SEED_BUNDLE_SET = (
    "  - {at: 29m, do: bundle_set, trust_domain: foo.example.com, peer: bar.example.com}\n"
    "  - {at: 29m, do: bundle_set, trust_domain: bar.example.com, peer: foo.example.com}\n"
)
# The fix of each story, as an edit of its file: the symptom must disappear.
FIXES = {
    "b1-no-bootstrap.yaml": ("  - at: 1h5m\n", SEED_BUNDLE_SET + "  - at: 1h5m\n"),
    "b2-wrong-bundle-set.yaml": (
        ",\n     ca_of: foo.example.com}   # the wrong file: foo's own CA",
        "}",
    ),
    "b3-one-sided-federation.yaml": (
        "      dns_names: [http-server, http-server.foo.svc.cluster.local]\n",
        "      dns_names: [http-server, http-server.foo.svc.cluster.local]\n"
        "      federates_with: [spiffe://bar.example.com]\n",
    ),
    "e2-federates-with-unknown-domain.yaml": (", spiffe://baz.example.com]", "]"),
}


def test_every_story_is_in_the_list() -> None:
    assert STORIES == [
        "b1-no-bootstrap.yaml", "b2-wrong-bundle-set.yaml", "b3-one-sided-federation.yaml",
        "e1-no-federates-with.yaml", "e2-federates-with-unknown-domain.yaml",
    ]  # fmt: skip


@pytest.mark.parametrize("name", STORIES)
def test_story_shows_its_symptom(name: str) -> None:
    r = _run(DIR / name)
    assert [o.render() for o in check(r) if not o.passed] == []
    assert r.requests and not any(q.ok for q in r.requests)  # every request fails


@pytest.mark.parametrize("name", sorted(FIXES))
def test_fixing_the_story_removes_the_symptom(name: str) -> None:
    old, new = FIXES[name]
    text = (DIR / name).read_text()
    assert old in text
    r = _run(DIR / name, text.replace(old, new, 1))
    assert r.requests and all(q.ok for q in r.requests)
    assert not all(o.passed for o in check(r))  # the story's own expectations now fail


def test_d3_clock_skew_fails_for_110_seconds_after_each_server_renewal() -> None:
    path = DIR / "d3-clock-skew.yaml"
    r = _run(path)
    assert [o.render() for o in check(r) if not o.passed] == []
    skew_at, behind, backdate = 90 * 60, 120, 10
    # Every time foo's http-server receives a new SVID (notBefore = mint - 10 s), bar's client,
    # 2 minutes behind, sees it as not yet valid until mint + 110 s.
    mints = [
        rec.t for rec in r.log.find(component="spire-agent")
        if rec.msg in ("Creating X509-SVID", "Renewing X509-SVID")
        and rec.field("spiffe_id") == "spiffe://foo.example.com/http-server"
    ]  # fmt: skip

    def in_window(t: float) -> bool:
        # (a request at the very instant of a renewal still gets the previous SVID)
        return t >= skew_at and any(m < t < m + behind - backdate for m in mints)

    assert [q.t for q in r.requests if not q.ok] == [q.t for q in r.requests if in_window(q.t)]
    assert all(q.reason == "expired" for q in r.requests if not q.ok)


def test_d3_without_the_skew_nothing_fails() -> None:
    path = DIR / "d3-clock-skew.yaml"
    line = "  - {at: 1h30m, do: clock_skew, node: spire-federation-worker2, by: -2m}\n"
    text = path.read_text()
    assert line in text
    r = _run(path, text.replace(line, ""))
    assert r.requests and all(q.ok for q in r.requests)


def test_a3_ca_ttl_too_short_caps_svids_at_the_ca() -> None:
    r = _run(DIR / "a3-ca-ttl-too-short.yaml")
    assert [o.render() for o in check(r) if not o.passed] == []
    warning = r.log.first(instance="foo/spire-server-0", level="warn")
    assert (
        warning is not None
        and "set default_x509_svid_ttl to 30m or less, or the ca_ttl to 6h or more" in warning.msg
    )
    # SVIDs minted in the last hour of a CA end with it: shorter than the configured hour.
    agent = next(a for a in r.agents if a.server.trust_domain.name == "foo.example.com")
    renewals = [
        rec for rec in r.log.find(instance=agent.log.instance.instance, msg="Renewing X509-SVID")
    ]
    lifetimes = []
    for prev, cur in zip(renewals, renewals[1:], strict=False):
        if prev.field("spiffe_id") == cur.field("spiffe_id"):
            lifetimes.append(r.clock.to_sim(cur.field("expires_at")) - prev.t)
    assert lifetimes and min(lifetimes) < 3600 - 60 and max(lifetimes) == 3600
    # With ca_ttl 6h (the warning's advice) no SVID is cut short and nothing is warned.
    text = (DIR / "a3-ca-ttl-too-short.yaml").read_text().replace("ca_ttl: 3h ", "ca_ttl: 6h ")
    fixed = _run(DIR / "a3-ca-ttl-too-short.yaml", text)
    assert fixed.log.first(instance="foo/spire-server-0", level="warn") is None


R3 = DIR / "r3-refresh-hint-ignores-jwt-keys.yaml"


def test_r3_jwt_fails_from_the_peers_key_rotation_until_the_next_refresh() -> None:
    r = _run(R3)
    assert [o.render() for o in check(r) if not o.passed] == []
    bar = r.scenario.domain("bar.example.com")
    # bar's JWT key lives ca_ttl (24h): the next one signs from 5/6 of it, on the 10 s tick.
    activate = bar.server.ca_ttl * 5 / 6 + 10
    activated = r.log.find(instance="bar/spire-server-0", msg="JWT key activated")
    assert [x.t for x in activated][1] == activate
    new_kid = activated[1].field("local_authority_id")
    # <= 1.7 serves root lifetime / 10 (960h -> 96h); foo polls every hint / 4 = 24h.
    root_ttl = bar.server.upstream_authority.generate.ttl
    refreshes = [x.t for x in r.log.find(instance="foo/spire-server-0", msg="Bundle refreshed")
                 if x.field("trust_domain") == "bar.example.com"]  # fmt: skip
    assert refreshes[1] - refreshes[0] == root_ttl / 10 / 4 == 24 * H
    refresh = refreshes[1]
    # The client's first token signed with the new key: its 5 m token renewed at half-life.
    failed = [q for q in r.requests if not q.ok]
    assert failed and all(q.reason == "jwt_unknown_authority" for q in failed)
    text = (f'Invalid token: jwtsvid: no JWT authority "{new_kid}" found for trust domain '
            '"bar.example.com"')  # fmt: skip
    assert all(q.errors == (text, "HTTP/1.0 401 Unauthorized") for q in failed)
    first, last = failed[0].t, failed[-1].t
    assert activate < first <= activate + 300 / 2 + 60  # half-life + one request interval
    assert refresh - 60 < last <= refresh + 5  # foo's agent syncs within 5 s of the refresh
    assert all(not q.ok for q in r.requests if first <= q.t <= last)
    # X.509 never fails: every request got through both ghostunnels.
    assert r.log.count(component="ghostunnel", contains="error") == 0


def test_r3_the_spire_agent_validator_says_public_key_not_found() -> None:
    text = R3.read_text()
    old = "jwt: {audience: spiffe://foo.example.com/http-server}   # go-spiffe ParseAndValidate"
    assert old in text
    r = _run(R3, text.replace(old, "jwt: {audience: spiffe://foo.example.com/http-server, "
                                   "validator: workload_api}"))  # fmt: skip
    failed = [q for q in r.requests if not q.ok]
    kid = r.log.find(instance="bar/spire-server-0", msg="JWT key activated")[1].field(
        "local_authority_id"
    )
    error = f'public key "{kid}" not found in trust domain "bar.example.com"'
    assert failed and all(
        q.errors[0] == f"Invalid token: rpc error: code = InvalidArgument desc = {error}"
        for q in failed
    )
    warned = r.log.find(component="spire-agent", msg="Failed to validate JWT")
    assert len(warned) == len(failed) and warned[0].field("error") == error


def test_r3_fixed_by_spire_19s_five_minute_hint() -> None:
    text = R3.read_text()
    old = 'profile: {spire: "1.7", ghostunnel: "latest"}'
    assert old in text
    r = _run(R3, text.replace(old, 'profile: {spire: "1.9", ghostunnel: "latest"}'))
    assert r.requests and all(q.ok for q in r.requests)
    assert not all(o.passed for o in check(r))


E4 = DIR / "e4-pooled-roots.yaml"
E4_POOLED = ",\n              trust: pooled}   # UNSAFE: one pool of foo's, bar's and evil's roots"


def test_e4_pooled_roots_let_a_stolen_ca_impersonate_another_domain() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from sim.bundle import Bundle
    from sim.spiffeid import TrustDomain
    from sim.x509svid import X509SVIDError, verify

    r = _run(E4)
    assert [o.render() for o in check(r) if not o.passed] == []
    assert {q.workload for q in r.requests} == {"client", "intruder"}
    assert all(q.ok for q in r.requests)
    # What the intruder presents claims bar's client and is signed by evil's CA, not bar's.
    forged = r.workloads["intruder"].sidecar.svid
    assert str(forged.spiffe_id) == "spiffe://bar.example.com/client"
    evil_ca = r.servers["evil.example.com"].x509_ca
    evil_ca.certificate.public_key().verify(
        forged.leaf.signature, forged.leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256())
    )
    bar = r.servers["bar.example.com"].bundle
    at = r.clock.to_datetime(r.until)
    with pytest.raises(X509SVIDError, match="certificate signed by unknown authority"):
        verify(forged.certificates, bar, at=at)
    pooled = Bundle(
        TrustDomain("bar.example.com"),
        bar.x509_authorities + r.servers["evil.example.com"].bundle.x509_authorities,
    )
    assert str(verify(forged.certificates, pooled, at=at).spiffe_id) == str(forged.spiffe_id)


def test_e4_fixed_by_per_trust_domain_verification() -> None:
    text = E4.read_text()
    assert E4_POOLED in text
    r = _run(E4, text.replace(E4_POOLED, "}"))
    assert all(q.ok for q in r.requests if q.workload == "client")
    intruder = [q for q in r.requests if q.workload == "intruder"]
    assert intruder and not any(q.ok for q in intruder)
    assert all(
        q.errors[0].endswith(": x509svid: could not verify leaf certificate: x509: certificate "
                             "signed by unknown authority")
        and q.errors[0].startswith("error on TLS handshake from ")
        for q in intruder
    )  # fmt: skip
    assert not all(o.passed for o in check(r))


def test_sidecar_trust_is_validated() -> None:
    from sim.scenario import ScenarioError

    text = E4.read_text().replace("trust: pooled}", "trust: pooled_roots}")
    with pytest.raises(ScenarioError, match='did you mean "pooled"'):
        parse_scenario(text, "e4.yaml")


def test_r3_on_spire_09_the_agent_says_public_key_not_found_in_spiffe_td() -> None:
    # 0.9 also derives the hint from the roots only; its apps validated through the agent.
    text = R3.read_text()
    old = 'profile: {spire: "1.7", ghostunnel: "latest"}'
    r = _run(R3, text.replace(old, 'profile: {spire: "0.9", ghostunnel: "1.5.2"}'))
    # 0.9 logs no key ID: the second key of bar's bundle is the one prepared at 12h.
    kid = r.servers["bar.example.com"].bundle.jwt_authorities[1].key_id
    error = f'public key "{kid}" not found in trust domain "spiffe://bar.example.com"'
    failed = [q for q in r.requests if not q.ok]
    assert failed and all(
        q.errors[0] == f"Invalid token: rpc error: code = InvalidArgument desc = {error}"
        for q in failed
    )
    warned = r.log.find(component="spire-agent", msg="Failed to validate JWT")
    assert [w.field("error") for w in warned] == [error] * len(failed)
    assert warned[0].field("svid").count(".") == 2  # 0.9 logged the token itself


# --- operator actions: A1, R2, R1 ----------------------------------------------------------

BAR_HTTP = "spiffe://bar.example.com/http-server"
UNKNOWN_AUTHORITY = (
    "error on dial: x509svid: could not verify leaf certificate: x509: certificate signed by "
    "unknown authority"
)


def _first_signing(r: Result, since: float) -> float:
    """When bar's agent first hands http-server an SVID minted at or after ``since``."""
    return min(
        rec.t for rec in r.log.find(component="spire-agent", trust_domain="bar.example.com",
                                    since=since)
        if rec.msg in ("Creating X509-SVID", "Renewing X509-SVID")
        and rec.field("spiffe_id") == BAR_HTTP
    )  # fmt: skip


def _ski(cert) -> str:  # noqa: ANN001
    from cryptography import x509

    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()


def test_a1_hurried_rotation_fails_until_the_peer_polls() -> None:
    path = DIR / "a1-hurried-taint-and-revoke.yaml"
    r = _run(path)
    assert [o.render() for o in check(r) if not o.passed] == []
    taint, revoke = 2 * H + 3 * 60, 2 * H + 4 * 60
    # bar serves refresh_hint 1h: foo polls every 15 min from 0, so next after the taint: 2h15m.
    poll = (taint // 900 + 1) * 900
    assert poll == 2 * H + 15 * 60
    assert r.log.first(instance="foo/spire-server-0", msg="Bundle refreshed", since=taint).t == poll
    # bar's agent (sync grid from 1m) sees the taint at its next tick and re-signs one tick later.
    agent_ticks = [60 + 5 * k for k in range(3000)]
    seen = min(t for t in agent_ticks if t > taint)
    assert r.log.first(component="spire-agent", msg="New tainted X.509 authorities found").t == seen
    first_use = _first_signing(r, taint)
    assert first_use == seen + 5
    failed = [q.t for q in r.requests if not q.ok]
    assert failed == [q.t for q in r.requests if first_use < q.t <= poll + 5]
    assert all(q.errors[0] == UNKNOWN_AUTHORITY for q in r.requests if not q.ok)
    # Until that poll foo holds the revoked root (and only it) as bar's bundle.
    mid = Simulation(load_scenario(path), until=revoke + 5 * 60).run()
    bar, foo = mid.servers["bar.example.com"], mid.servers["foo.example.com"]
    revoked = mid.log.first(
        instance="bar/spire-server-0", msg="X.509 authority revoked successfully"
    ).field("local_authority_id")
    assert [_ski(c) for c in foo.federated[bar.trust_domain].x509_authorities] == [revoked]
    assert revoked not in [_ski(c) for c in bar.bundle.x509_authorities]


def test_a1_waiting_one_refresh_before_activating_fixes_it() -> None:
    path = DIR / "a1-hurried-taint-and-revoke.yaml"
    text = path.read_text()
    moves = {"at: 2h2m, do: localauthority": "at: 2h16m, do: localauthority",
             "at: 2h3m, do: localauthority": "at: 2h17m, do: localauthority",
             "at: 2h4m, do: localauthority": "at: 2h18m, do: localauthority"}  # fmt: skip
    for old, new in moves.items():
        assert old in text
        text = text.replace(old, new)
    fixed = parse_scenario(text, path.name)
    r = Simulation(fixed).run()
    assert r.requests and all(q.ok for q in r.requests)
    assert not all(o.passed for o in check(r))
    # Now foo held both roots from its 2h15m poll; it drops the revoked one at 2h30m.
    mid = Simulation(fixed, until=2 * H + 25 * 60).run()
    assert len(mid.servers["foo.example.com"].federated[
        mid.servers["bar.example.com"].trust_domain].x509_authorities) == 2  # fmt: skip
    late = r.servers["foo.example.com"].federated[r.servers["bar.example.com"].trust_domain]
    assert len(late.x509_authorities) == 1


def test_r2_hint_from_a_five_year_root_delays_the_new_root_by_weeks() -> None:
    path = DIR / "r2-hint-from-long-lived-root.yaml"
    r = _run(path)
    assert [o.render() for o in check(r) if not o.passed] == []
    bar = r.servers["bar.example.com"]
    lifetime = 43800 * H  # cfssl's default root expiry
    assert bar.served_refresh_hint() == lifetime // 10
    polls = [rec for rec in r.log.find(instance="foo/spire-server-0",
                                       msg="Scheduling next bundle refresh")
             if rec.field("trust_domain") == "bar.example.com"]  # fmt: skip
    assert len(polls) == 1
    assert r.clock.to_sim(polls[0].field("at")) - polls[0].t == lifetime / 10 / 4  # 45d15h
    # The new root enters bar's bundle at the preparation (12h10s), SVIDs use it from 20h10s.
    prepared = r.log.find(instance="bar/spire-server-0", msg="X509 CA prepared")
    assert [p.t for p in prepared[:2]] == [0.0, 12 * H + 10]
    assert prepared[1].field("upstream_authority_id") == _ski(bar.config.upstream.certificate)
    first_use = _first_signing(r, 20 * H + 10)
    failed = [q.t for q in r.requests if not q.ok]
    assert failed == [q.t for q in r.requests if q.t > first_use]


def test_r2_fixed_by_spire_1_9s_five_minute_hint() -> None:
    path = DIR / "r2-hint-from-long-lived-root.yaml"
    text = path.read_text().replace('profile: {spire: "1.7"', 'profile: {spire: "1.9"')
    r = _run(path, text)
    assert r.requests and all(q.ok for q in r.requests)
    assert not all(o.passed for o in check(r))
    # foo fetches bar's bundle with the new root within one 75 s poll of the preparation.
    refreshed = r.log.find(instance="foo/spire-server-0", msg="Bundle refreshed",
                           since=12 * H + 10, until=12 * H + 10 + 75)  # fmt: skip
    assert [rec.field("trust_domain") for rec in refreshed] == ["bar.example.com"]
    bar = r.servers["bar.example.com"]
    held = r.servers["foo.example.com"].federated[bar.trust_domain].x509_authorities
    assert _ski(bar.config.upstream.certificate) in [_ski(c) for c in held]


def test_r1_manual_refresh_ends_the_failures() -> None:
    path = DIR / "r1-refresh-hint-too-long.yaml"
    r = _run(path)
    assert [o.render() for o in check(r) if not o.passed] == []
    first_use = _first_signing(r, 20 * H + 10)
    refresh = 22 * H
    failed = [q.t for q in r.requests if not q.ok]
    # foo's agent hands the new root over at its next sync (within 5 s of the refresh).
    assert failed == [q.t for q in r.requests if first_use < q.t <= refresh + 5]
    assert all(q.errors[0] == UNKNOWN_AUTHORITY for q in r.requests if not q.ok)


def test_r1_without_the_refresh_fails_until_the_next_poll() -> None:
    path = DIR / "r1-refresh-hint-too-long.yaml"
    line = ("  - {at: 22h, do: federation_refresh, trust_domain: foo.example.com, "
            "peer: bar.example.com}\n")  # fmt: skip
    text = path.read_text()
    assert line in text
    r = _run(path, text.replace(line, ""))
    # hint 48h -> polls every 12 h from 0: the next after the activation is at 24h.
    first_use = _first_signing(r, 20 * H + 10)
    failed = [q.t for q in r.requests if not q.ok]
    assert failed == [q.t for q in r.requests if first_use < q.t <= 24 * H + 5]


def test_r1_fixed_by_a_short_hint() -> None:
    path = DIR / "r1-refresh-hint-too-long.yaml"
    text = path.read_text().replace("refresh_hint: 48h ", "refresh_hint: 1h ")
    r = _run(path, text)
    assert r.requests and all(q.ok for q in r.requests)
    assert not all(o.passed for o in check(r))


R4_CUT = (
    "  - {at: 11h, do: partition, between: [foo/spire-server, bar/spire-server]}\n"
    "  - {at: 22h, do: heal, between: [foo/spire-server, bar/spire-server]}\n"
)


def test_r4_with_a_dns_failure_also_cuts_bars_agents_off() -> None:
    """A DNS failure of bar's server name fails foo's polls with Go's lookup text, but bar's
    agents resolve the same Service name: they cannot sync either, so bar's http-server keeps
    its SVID until it expires, and that (not the rotation) is what foo's client meets first."""
    from sim.explain import explain

    path = DIR / "r4-partition-during-rotation.yaml"
    fault = "  - {at: 11h, do: dns_failure, name: spire-server.bar.svc.cluster.local, for: 11h}\n"
    r = _run(path, path.read_text().replace(R4_CUT, fault))
    polls_failed = r.log.find(instance="foo/spire-server-0", msg="Error updating bundle")
    assert [rec.t for rec in polls_failed][:1] == [11.0 * H]
    assert all(rec.field("error").endswith(
        "dial tcp: lookup spire-server.bar.svc.cluster.local on 10.96.0.10:53: no such host"
    ) for rec in polls_failed if rec.t < 22 * H)  # fmt: skip
    # The SVID bar's http-server held at 11h is its last until the agent syncs again.
    held = r.history.delivery_at("http-server", 11 * H)
    expiry = r.history.svid(held.serial).not_after
    first = next(q.t for q in r.requests if not q.ok)
    assert expiry <= first < expiry + 60
    found = explain(r)
    assert found[0].kind == "agent_cannot_sync"


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (
            "  - {at: 11h, do: bundle_endpoint_down, trust_domain: bar.example.com}\n"
            "  - {at: 22h, do: bundle_endpoint_up, trust_domain: bar.example.com}\n",
            ":8443: connect: connection refused",
        ),
    ],
    ids=["endpoint-down"],
)
def test_r4_other_ways_to_lose_the_endpoint(fault: str, cause: str) -> None:
    """Catalog R4 names a down endpoint besides the partition: the same window of failures,
    with the fault's own error line in foo's server log."""
    path = DIR / "r4-partition-during-rotation.yaml"
    text = path.read_text()
    assert R4_CUT in text
    r = _run(path, text.replace(R4_CUT, fault))
    polls_failed = r.log.find(instance="foo/spire-server-0", msg="Error updating bundle")
    # every 75 s poll from 11h (a multiple of 75 s) to before 22h fails, with the fault's text
    assert [rec.t for rec in polls_failed] == [float(t) for t in range(11 * H, 22 * H, 75)]
    assert all(rec.field("error").endswith(cause) for rec in polls_failed)
    first_use = _first_signing(r, 20 * H + 10)
    refresh = 22 * H  # the first poll after the fault ends
    failed = [q.t for q in r.requests if not q.ok]
    assert failed == [q.t for q in r.requests if first_use < q.t <= refresh + 5]


# --- lifecycle faults: D1, D2, A2 ------------------------------------------------------------

M = 60


def _mints(r: Result, spiffe_id: str) -> list[float]:
    return [
        rec.t for rec in r.log.find(component="spire-agent")
        if rec.msg in ("Creating X509-SVID", "Renewing X509-SVID")
        and rec.field("spiffe_id") == spiffe_id
    ]  # fmt: skip


def test_d1_server_down_fails_from_the_first_expiry_until_the_agent_attests_again() -> None:
    r = _run(DIR / "d1-server-down.yaml")
    assert [o.render() for o in check(r) if not o.passed] == []
    stop, start, ttl = 2 * H, 5 * H, 1 * H  # the events and foo's svid_ttl
    # The http-server's last SVID before the stop is its last: nothing is signed while down.
    mints = _mints(r, "spiffe://foo.example.com/http-server")
    last = max(m for m in mints if m <= stop)
    assert not [m for m in mints if stop < m < start]
    expiry = last + ttl
    # 1.x renews when 45-55 % of the lifetime is left: 27..33 minutes before expiry.
    assert stop + 27 * M - 5 <= expiry <= stop + 33 * M + ttl / 2
    # The agent attests again at its first crash-loop restart after the server is back.
    attested = r.log.first(component="spire-agent", msg="Node attestation was successful",
                           since=start)  # fmt: skip
    assert attested is not None and start < attested.t <= start + 5 * M
    failed = [q.t for q in r.requests if not q.ok]
    assert failed == [q.t for q in r.requests if expiry < q.t <= attested.t + 5]
    assert all("certificate has expired" in q.errors[0] for q in r.requests if not q.ok)
    # Kubernetes' CrashLoopBackOff between the agent's restarts: 10 s doubling up to 5 min.
    crashes = [rec.t for rec in r.log.find(component="spire-agent", msg="Agent crashed")]
    gaps = [round(b - a) for a, b in zip(crashes, crashes[1:], strict=False)]
    assert gaps[:6] == [10, 20, 40, 80, 160, 300] and set(gaps[6:]) == {300}
    # bar keeps polling foo's refused endpoint every 5m / 4, and keeps its last copy.
    refused = r.log.find(instance="bar/spire-server-0", msg="Error updating bundle",
                         since=stop, until=start)  # fmt: skip
    times = [rec.t for rec in refused]
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {75}
    assert all("connect: connection refused" in rec.field("error") for rec in refused)


def _topology(r: Result) -> dict[str, str]:
    return {name: wl.pod.node for name, wl in r.workloads.items() if wl.pod is not None}


D2_PARTITION = (
    "  - {at: 1h40m, do: partition, between: [spire-federation-worker3, foo/spire-server]}\n"
    "  - {at: 3h, do: heal, between: [spire-federation-worker3, foo/spire-server]}\n"
)


def test_d2_agent_disconnected_longer_than_its_svid_needs_a_restart() -> None:
    path = DIR / "d2-agent-disconnected.yaml"
    r = _run(path)
    assert [o.render() for o in check(r) if not o.passed] == []
    assert _topology(r)["http-server"] == "spire-federation-worker3"
    assert r.servers["foo.example.com"].log.instance.host == "spire-federation-worker"
    # SPIRE 0.9: renew at exactly half the lifetime (1h TTL + 10 s backdating), on the 5 s grid
    # from the agent's start at 1h. The http-server entry is created at 1h5m; the agent mints at
    # its next tick.
    ttl, backdate, created, cut, heal, restart = H, 10, 65 * M, 100 * M, 3 * H, 210 * M
    minted = created + 5
    renewed = minted + ttl - (ttl + backdate) / 2
    expiry = renewed + ttl
    assert (renewed, expiry) == (95 * M, 155 * M)  # 1h35m, 2h35m
    assert renewed in _mints(r, "spiffe://foo.example.com/http-server")
    # (a request at the instant of expiry fails: its handshake comes a little later)
    failed = [q.t for q in r.requests if not q.ok]
    assert failed and failed == [q.t for q in r.requests if expiry <= q.t < restart]
    # The agent SVID (minted at 1h, renewed at 1h29m55s) is due at 1h59m50s, past the cut.
    agent_due = 3600 + ttl - (ttl + backdate) / 2 + ttl - (ttl + backdate) / 2
    assert agent_due == 7190
    worker3 = next(a for a in r.agents if a.log.instance.host == "spire-federation-worker3")
    inst = worker3.log.instance.instance
    rotations = [rec.t for rec in r.log.find(instance=inst, msg="Could not rotate agent SVID")]
    assert rotations and agent_due < rotations[0] < agent_due + 120
    # Linked again but broken until the restart: no SVID is issued in between.
    issued = [rec.t for rec in r.log.find(instance=inst, msg="Renewing X509-SVID", since=cut)]
    assert issued and min(issued) == restart
    after_heal = r.log.find(instance=inst, msg="Failure fetching X509 SVID. unable to get a stream",
                            since=heal, until=restart - 1)  # fmt: skip
    assert after_heal and all("tls: bad certificate" in rec.field("error") for rec in after_heal)


def test_d2_without_the_partition_nothing_fails() -> None:
    path = DIR / "d2-agent-disconnected.yaml"
    text = path.read_text()
    assert D2_PARTITION in text
    r = _run(path, text.replace(D2_PARTITION, ""))
    assert r.requests and all(q.ok for q in r.requests)
    assert not all(o.passed for o in check(r))


def test_a2_datastore_lost_new_ca_under_the_same_root_and_no_entries() -> None:
    r = _run(DIR / "a2-datastore-lost.yaml")
    assert [o.render() for o in check(r) if not o.passed] == []
    stop, start, fix, ttl = 2 * H, 125 * M, 210 * M, H
    prepared = r.log.find(instance="foo/spire-server-0", msg="X509 CA prepared")
    before, after = prepared[0], next(p for p in prepared if p.t == start)
    assert after.field("local_authority_id") != before.field("local_authority_id")
    assert after.field("upstream_authority_id") == before.field("upstream_authority_id")
    # Workloads keep their last SVID (renewals stop at the loss), and fail from its expiry
    # until the operator's fix reaches them (the agent's next sync, 5 s later).
    mints = _mints(r, "spiffe://foo.example.com/http-server")
    expiry = max(m for m in mints if m <= stop) + ttl
    assert not [m for m in mints if stop < m < fix]
    failed = [q.t for q in r.requests if not q.ok]
    assert failed and failed == [q.t for q in r.requests if expiry < q.t <= fix]
    # The entries now are the two the operator re-created.
    assert len(r.servers["foo.example.com"].entries.list()) == 2


def test_a2_with_the_datastore_kept_nothing_fails() -> None:
    path = DIR / "a2-datastore-lost.yaml"
    old = "  - {at: 2h5m, do: server_start, trust_domain: foo.example.com, datastore: lost}\n"
    text = path.read_text()
    assert old in text
    r = _run(path, text.replace(old, old.replace("lost", "kept")))
    assert r.requests and all(q.ok for q in r.requests)
    assert not all(o.passed for o in check(r))


def test_pause_laptop_asleep_fails_once_on_resume() -> None:
    path = DIR / "pause-laptop-asleep.yaml"
    r = _run(path)
    assert [o.render() for o in check(r) if not o.passed] == []
    pause, length = 2 * H, 8 * H
    resume = pause + length
    assert not [q for q in r.requests if pause < q.t < resume]
    # Every SVID expired during the night; the agent renews at its next 5 s tick, so only the
    # request due at the resume (the one the pause held back) meets the expired SVID.
    renewed = r.log.first(component="spire-agent", msg="Renewing X509-SVID", since=resume)
    assert renewed is not None and resume < renewed.t <= resume + 5
    assert [q.t for q in r.requests if not q.ok] == [resume]
    line = "  - {at: 2h, do: pause, for: 8h}\n"
    text = path.read_text()
    assert line in text
    awake = _run(path, text.replace(line, ""))
    assert awake.requests and all(q.ok for q in awake.requests)
