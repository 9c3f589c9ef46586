"""Operator actions and network faults on the timeline: `localauthority`, `upstreamauthority`,
`upstream_ca_replace`, `federation_refresh`, `entry_update`, `bundle_endpoint_down|up`,
`dns_failure` and `latency`, each replaying what SPIRE (v1.11+ for the authority commands) and
Go log, with SPIRE's preconditions; and the loader's refusals for profiles that lack them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from sim.network import NODE_LINK_LATENCY
from sim.scenario import ScenarioError, parse_scenario
from sim.server import signed_by
from sim.simulation import Result, Simulation

BASE = (
    Path(__file__).resolve().parents[1]
    / "scenarios"
    / "failures"
    / "r4-partition-during-rotation.yaml"
)
BAR = "bar/spire-server-0"
FOO = "foo/spire-server-0"
M = 60


def _text(events: str, *, duration: str = "3h", upstream: bool = False) -> str:
    text = BASE.read_text().split("\nexpect:")[0]
    text = text.replace("duration: 30h", f"duration: {duration}")
    for line in (
        "  - {at: 11h, do: partition, between: [foo/spire-server, bar/spire-server]}\n",
        "  - {at: 22h, do: heal, between: [foo/spire-server, bar/spire-server]}\n",
    ):
        assert line in text
        text = text.replace(line, "")
    if upstream:
        old = "      ca_ttl: 24h\n      bundle_endpoint:\n"
        assert old in text
        disk = "{disk: {generate: {common_name: bar root}}}"
        text = text.replace(
            old, f"      ca_ttl: 24h\n      upstream_authority: {disk}\n      bundle_endpoint:\n"
        )
    return text + events


def _la(at: str, action: str, extra: str = "", kind: str = "x509") -> str:
    """One `localauthority` event line on bar's server."""
    return (
        f"  - {{at: {at}, do: localauthority, trust_domain: bar.example.com, kind: {kind}, "
        f"action: {action}{extra}}}\n"
    )


def _ev(at: str, do: str, rest: str) -> str:
    return f"  - {{at: {at}, do: {do}, {rest}}}\n"


FOO_REFRESH = "trust_domain: foo.example.com, peer: bar.example.com"


def _run(events: str, **kw) -> Result:  # noqa: ANN003
    return Simulation(parse_scenario(_text(events, **kw), "ops.yaml")).run()


def _operator(r: Result, since: float, until: float | None = None) -> list[tuple[str, str]]:
    return [(rec.level, rec.msg) for rec in r.log.find(component="operator", since=since,
                                                        until=until)]  # fmt: skip


def _ski(cert: x509.Certificate) -> str:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()


LIFECYCLE = """\
  - {at: 1h, do: localauthority, trust_domain: bar.example.com, kind: x509, action: prepare}
  - {at: 1h1m, do: localauthority, trust_domain: bar.example.com, kind: x509, action: activate}
  - {at: 1h2m, do: localauthority, trust_domain: bar.example.com, kind: x509, action: taint}
  - {at: 1h3m, do: localauthority, trust_domain: bar.example.com, kind: x509, action: revoke}
"""


def test_x509_prepare_activate_taint_revoke_replays_spire() -> None:
    r = _run(LIFECYCLE)
    bar = r.servers["bar.example.com"]
    prepared = r.log.first(instance=BAR, msg="X509 CA prepared", since=60 * M)
    assert prepared is not None and prepared.t == 60 * M and prepared.field("slot") == "B"
    new_id = prepared.field("local_authority_id")
    old = r.log.first(instance=BAR, msg="X509 CA prepared")
    assert old is not None and old.t == 0
    old_id = old.field("local_authority_id")
    ops = _operator(r, 60 * M)
    assert ("info", "bar$ spire-server localauthority x509 prepare") in ops
    assert ("info", f"bar$ spire-server localauthority x509 activate -authorityID {new_id}") in ops
    assert ("info", f"bar$ spire-server localauthority x509 taint -authorityID {old_id}") in ops
    assert ("info", f"bar$ spire-server localauthority x509 revoke -authorityID {old_id}") in ops
    out = [m for lv, m in ops if m.startswith(("Prepared", "Activated", "Tainted", "Revoked"))]
    assert out[0].startswith(
        f"Prepared X.509 authority:\n  Authority ID: {new_id}\n  Expires at: "
        "2024-06-02 01:00:00 +0000 UTC\n  Upstream authority ID: No upstream"
    )
    assert out[3] == (
        f"Revoked X.509 authority:\n  Authority ID: {old_id}\n  Expires at: "
        "1970-01-01 00:00:00 +0000 UTC\n  Upstream authority ID: No upstream authority"
    )
    activated = r.log.first(instance=BAR, msg="X509 CA activated", since=60 * M)
    assert activated is not None and activated.t == 61 * M
    tainted = r.log.first(instance=BAR, msg="X.509 authority tainted successfully")
    assert tainted is not None and tainted.t == 62 * M
    assert tainted.field("local_authority_id") == old_id
    # The server SVID was signed by the tainted CA: forced rotation at its next 5 s check.
    forced = r.log.first(instance=BAR, msg="Server SVID signed using a tainted authority, "
                         "forcing rotation of the Server SVID")  # fmt: skip
    assert forced is not None and forced.t == 62 * M
    revoked = r.log.first(instance=BAR, msg="X.509 authority revoked successfully")
    assert revoked is not None and revoked.t == 63 * M
    # Agents learn of the taint at their next sync, drop what the old CA signed and get new
    # SVIDs one sync later.
    agent = next(a for a in r.agents if a.server is bar)
    inst = agent.log.instance.instance
    found = r.log.first(instance=inst, msg="New tainted X.509 authorities found")
    assert found is not None and 62 * M < found.t <= 62 * M + 5
    assert found.field("subject_key_ids") == old_id
    assert r.log.first(instance=inst, msg="Tainted X.509 SVIDs").field("tainted_x509_svids") == 1
    assert r.log.first(instance=inst, msg="Agent SVID is tainted by a root authority, "
                       "forcing rotation").t == found.t  # fmt: skip
    recreated = r.log.first(instance=inst, msg="Creating X509-SVID", since=found.t)
    assert recreated is not None and recreated.t == found.t + 5
    # At the end: bar's bundle holds only the new root, and every SVID chains to it.
    assert [_ski(c) for c in bar.bundle.x509_authorities] == [new_id]
    root = bar.bundle.x509_authorities[0]
    assert all(signed_by(s.certificates, root) for s in agent.svids.values())
    assert signed_by(agent.svid.certificates, root) and signed_by(bar.svid.certificates, root)
    # Nothing failed: foo polls bar every 75 s and bar's endpoint is https_web.
    assert r.requests and all(q.ok for q in r.requests)


def test_bundle_sequence_grows_at_prepare_taint_and_revoke() -> None:
    seqs = {}
    for upto, events in (
        ("prepare", LIFECYCLE.splitlines()[0]),
        ("activate", "\n".join(LIFECYCLE.splitlines()[:2])),
        ("taint", "\n".join(LIFECYCLE.splitlines()[:3])),
        ("revoke", LIFECYCLE.rstrip()),
    ):
        r = _run(events + "\n", duration="1h5m")
        b = r.servers["bar.example.com"].bundle
        seqs[upto] = (b.sequence_number, len(b.x509_authorities))
    # sqlstore taintX509CA and revokeX509CA each add one; activation changes nothing.
    assert seqs["activate"] == seqs["prepare"]
    assert seqs["taint"] == (seqs["prepare"][0] + 1, 2)
    assert seqs["revoke"] == (seqs["prepare"][0] + 2, 1)


@pytest.mark.parametrize(
    ("events", "error"),
    [
        (  # nothing has been prepared: the other slot holds no authority yet
            _la("1h", "taint"),
            "Error: an authority ID is required",
        ),
        (
            _la("1h", "prepare") + _la("1h1m", "taint"),
            "Error: could not taint X.509 authority: rpc error: code = InvalidArgument desc = "
            "only Old local authorities can be tainted: unsupported local authority status: "
            "PREPARED",
        ),
        (
            _la("1h", "taint", ", authority: current"),
            "Error: could not taint X.509 authority: rpc error: code = InvalidArgument desc = "
            "unable to taint current local authority",
        ),
        (
            LIFECYCLE.splitlines()[0]
            + "\n"
            + LIFECYCLE.splitlines()[1]
            + "\n"
            + _la("1h2m", "revoke"),
            "Error: could not revoke X.509 authority: rpc error: code = Internal desc = failed to "
            "revoke X.509 authority: rpc error: code = InvalidArgument desc = it is not possible "
            "to revoke an untainted root CA",
        ),
        (
            LIFECYCLE.splitlines()[0]
            + "\n"
            + LIFECYCLE.splitlines()[1]
            + "\n"
            + _la("1h2m", "activate", ", authority: old"),
            "Error: could not activate X.509 authority: rpc error: code = Internal desc = only "
            "Prepared authorities can be activated: unsupported local authority status: OLD",
        ),
        (
            "\n".join(LIFECYCLE.splitlines()[:3]) + "\n" + _la("1h3m", "taint"),
            "Error: could not taint X.509 authority: rpc error: code = Internal desc = failed to "
            "taint X.509 authority: rpc error: code = InvalidArgument desc = root CA is already "
            "tainted",
        ),
        (
            _la("1h", "activate", ", authority: 00ff"),
            "Error: could not activate X.509 authority: rpc error: code = InvalidArgument desc = "
            "unexpected authority ID",
        ),
    ],
    ids=[
        "no-old",
        "taint-prepared",
        "taint-current",
        "revoke-untainted",
        "activate-old",
        "taint-twice",
        "unknown-id",
    ],
)
def test_preconditions_fail_with_spires_errors(events: str, error: str) -> None:
    r = _run(events, duration="1h5m")
    errors = [m for lv, m in _operator(r, 0) if lv == "error"]
    assert errors == [error]


def test_a_refused_command_logs_on_the_server() -> None:
    r = _run("  - {at: 1h, do: localauthority, trust_domain: bar.example.com, kind: x509, "
             "action: taint, authority: current}\n", duration="1h5m")  # fmt: skip
    rec = r.log.first(instance=BAR, level="error", since=60 * M)
    assert (
        rec is not None and rec.msg == "Invalid argument: unable to taint current local authority"
    )
    assert rec.field("local_authority_id") == r.servers["bar.example.com"].authority_id(
        "x509", "current"
    )


def test_jwt_authority_lifecycle() -> None:
    r = _run(LIFECYCLE.replace("kind: x509", "kind: jwt"), duration="1h5m")
    bar = r.servers["bar.example.com"]
    msgs = [rec.msg for rec in r.log.find(instance=BAR, since=60 * M, level="info")
            if "JWT" in rec.msg]  # fmt: skip
    assert msgs == ["JWT key prepared", "JWT key activated", "JWT authority tainted successfully",
                    "JWT authority revoked successfully"]  # fmt: skip
    assert len(bar.bundle.jwt_authorities) == 1
    assert r.log.first(msg="New tainted JWT authorities found") is not None


def test_upstream_replace_then_taint_and_revoke_the_old_root() -> None:
    events = """\
  - at: 1h
    do: upstream_ca_replace
    trust_domain: bar.example.com
    generate: {common_name: bar root 2}
  - {at: 1h1m, do: localauthority, trust_domain: bar.example.com, kind: x509, action: prepare}
  - {at: 1h2m, do: localauthority, trust_domain: bar.example.com, kind: x509, action: activate}
  - {at: 1h3m, do: localauthority, trust_domain: bar.example.com, kind: x509, action: taint}
  - {at: 1h4m, do: upstreamauthority, trust_domain: bar.example.com, action: taint}
  - {at: 1h5m, do: upstreamauthority, trust_domain: bar.example.com, action: revoke}
"""
    r = _run(events, upstream=True)
    bar = r.servers["bar.example.com"]
    new_root = bar.config.upstream.certificate
    assert new_root.subject.rfc4514_string().startswith("CN=bar root 2,")
    prepared = r.log.first(instance=BAR, msg="X509 CA prepared", since=61 * M)
    assert prepared.field("upstream_authority_id") == _ski(new_root)
    errors = [m for lv, m in _operator(r, 0) if lv == "error"]
    assert errors == [
        "Error: could not taint X.509 authority: rpc error: code = FailedPrecondition desc = "
        "local authority can't be tainted if there is an upstream authority"
    ]
    assert (
        r.log.first(instance=BAR, msg="X.509 upstream authority tainted successfully").t == 64 * M
    )
    assert (
        r.log.first(instance=BAR, msg="X.509 upstream authority successfully revoked").t == 65 * M
    )
    assert [_ski(c) for c in bar.bundle.x509_authorities] == [_ski(new_root)]
    agent = next(a for a in r.agents if a.server is bar)
    assert all(signed_by(s.certificates[1:], new_root) for s in agent.svids.values())
    assert r.requests and all(q.ok for q in r.requests)


def test_federation_refresh_fetches_now_without_moving_the_schedule() -> None:
    events = _ev("1h", "federation_refresh", FOO_REFRESH)
    r = _run(events, duration="1h5m")
    assert _operator(r, 60 * M) == [
        ("info", "foo$ spire-server federation refresh -id spiffe://bar.example.com"),
        ("info", "Bundle refreshed"),
    ]
    # foo polls bar every 75 s from 0: 3600 is a poll instant too (48 x 75), so look at 1h30s.
    events = events.replace("at: 1h,", "at: 1h30s,")
    r = _run(events, duration="1h5m")
    polls = [rec.t for rec in r.log.find(instance=FOO, msg="Polling for bundle update",
                                          since=59 * M, until=62 * M)]  # fmt: skip
    assert polls == [3600.0, 3675.0]  # the schedule did not move
    at_refresh = [rec.msg for rec in r.log.find(instance=FOO, since=3630, until=3630)]
    assert at_refresh == []  # RefreshBundleFor logs nothing on success
    assert _operator(r, 3630)[1] == ("info", "Bundle refreshed")


def test_federation_refresh_errors() -> None:
    events = (
        "  - {at: 1h, do: bundle_endpoint_down, trust_domain: bar.example.com}\n"
        + _ev("1h1m", "federation_refresh", FOO_REFRESH)
        + _ev("1h2m", "federation_refresh", "trust_domain: bar.example.com, peer: bar.example.com")
    )
    r = _run(events, duration="1h5m")
    errors = [m for lv, m in _operator(r, 0) if lv == "error"]
    assert errors[0].startswith(
        "Error: failed to refresh bundle: rpc error: code = Internal desc = failed to refresh "
        "bundle: failed to fetch federated bundle from endpoint: failed to fetch bundle: Get "
        '"https://spire-server.bar.svc.cluster.local:8443": dial tcp 10.96.0.'
    )
    assert errors[0].endswith(":8443: connect: connection refused")
    assert errors[1] == ('Error: there is no federation relationship with trust domain '
                         '"spiffe://bar.example.com"')  # fmt: skip
    assert r.log.first(instance=FOO, msg="Failed to refresh bundle").t == 61 * M
    assert r.log.first(instance=BAR, msg='No relationship with trust domain "bar.example.com"')


def test_bundle_endpoint_down_and_up() -> None:
    events = (
        "  - {at: 1h, do: bundle_endpoint_down, trust_domain: bar.example.com}\n"
        "  - {at: 1h30m, do: bundle_endpoint_up, trust_domain: bar.example.com}\n"
    )
    r = _run(events, duration="2h")
    failed = r.log.find(instance=FOO, msg="Error updating bundle")
    assert failed and all(60 * M <= rec.t < 90 * M for rec in failed)
    assert all(rec.field("error").endswith(":8443: connect: connection refused") for rec in failed)
    # every 75 s poll in the window fails (the timeline acts before a poll at the same instant)
    assert [rec.t for rec in failed] == [float(t) for t in range(3600, 5400, 75)]
    assert r.log.first(instance=FOO, msg="Bundle refreshed", since=90 * M).t == 5400


def test_dns_failure_for_a_window() -> None:
    events = ("  - {at: 1h, do: dns_failure, name: spire-server.bar.svc.cluster.local, "
              "for: 10m}\n")  # fmt: skip
    r = _run(events, duration="1h30m")
    failed = r.log.find(instance=FOO, msg="Error updating bundle")
    assert [rec.t for rec in failed] == [float(t) for t in range(3600, 4200, 75)]
    assert (
        failed[0]
        .field("error")
        .endswith(
            'Get "https://spire-server.bar.svc.cluster.local:8443": dial tcp: lookup '
            "spire-server.bar.svc.cluster.local on 10.96.0.10:53: no such host"
        )
    )
    network = [rec.msg for rec in r.log.find(component="network")]
    assert network == [
        "DNS lookups of spire-server.bar.svc.cluster.local fail (nxdomain) for 10m0s",
        "DNS lookups of spire-server.bar.svc.cluster.local answer again",
    ]
    servfail = _run(events.replace("for: 10m}", "for: 10m, mode: servfail}"), duration="1h30m")
    assert (
        servfail.log.first(instance=FOO, msg="Error updating bundle")
        .field("error")
        .endswith("on 10.96.0.10:53: server misbehaving")
    )


def test_latency_delays_what_crosses_the_link() -> None:
    r0 = _run("", duration="1h10m")
    r1 = _run("  - {at: 1h, do: latency, place: kind-worker2, latency: 200ms}\n", duration="1h10m")

    def replies(r: Result) -> list[float]:
        return [rec.t for rec in r.log.find(component="curl", msg="HTTP/1.0 200 OK", since=61 * M)]

    before, after = replies(r0), replies(r1)
    assert len(before) == len(after) > 0
    # client (kind-worker) -> http-server (kind-worker2): kind-worker2's link now costs 200 ms
    # instead of 50 us each way.
    extra = 2 * (0.2 - NODE_LINK_LATENCY)
    assert all(abs((a - b) - extra) < 1e-9 for a, b in zip(after, before, strict=True))
    assert r1.log.first(component="network").msg == (
        "one-way latency of the link from kind-worker2 is now 200 ms"
    )


def test_entry_update_reaches_agents_at_their_next_sync() -> None:
    events = (
        "  - {at: 1h, do: entry_update, trust_domain: foo.example.com,\n"
        "     spiffe_id: spiffe://foo.example.com/client, federates_with: [], ttl: 30m}\n"
    )
    r = _run(events, duration="1h10m")
    upd = r.log.first(component="spire-agent", msg="Entry updated")
    assert upd is not None and 60 * M < upd.t <= 60 * M + 5
    renewed = r.log.first(component="spire-agent", msg="Renewing X509-SVID", since=60 * M)
    assert renewed is not None and renewed.t == upd.t
    shown = _operator(r, 60 * M)[1][1]
    assert "Revision                : 1" in shown and "X509-SVID TTL           : 1800" in shown
    assert "FederatesWith" not in shown
    # Without federatesWith the client no longer gets bar's bundle.
    assert all(q.ok for q in r.requests if q.t <= upd.t)
    assert all(not q.ok for q in r.requests if q.t > upd.t)
    agent = next(a for a in r.agents if a.server.trust_domain.name == "foo.example.com")
    svid = next(iter(agent.svids.values()))
    assert (svid.not_after - svid.not_before).total_seconds() == 1800 + 10


def test_entry_update_of_unknown_bundle_fails_like_spire() -> None:
    events = (
        "  - {at: 1h, do: entry_update, trust_domain: foo.example.com,\n"
        "     spiffe_id: spiffe://foo.example.com/client, federates_with: [spiffe://baz.example.com]}\n"
    )
    r = _run(events, duration="1h5m")
    err = [m for lv, m in _operator(r, 0) if lv == "error"]
    assert len(err) == 1 and err[0].startswith("Failed to update the following entry (code: ")
    assert err[0].endswith("Error: failed to update one or more entries")
    assert 'unable to find federated bundle \\"spiffe://baz.example.com\\"' in err[0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: (
                t.replace('spire: "1.x"', 'spire: "1.9"') + "  - {at: 1h, do: localauthority, "
                "trust_domain: bar.example.com, kind: x509, action: prepare}\n"
            ),
            'localauthority needs profile spire "1.x" (`spire-server localauthority` arrived in '
            'SPIRE v1.11.0; profile spire is "1.9")',
        ),
        (
            lambda t: (
                t + "  - {at: 1h, do: upstreamauthority, trust_domain: bar.example.com, "
                "action: taint}\n"
            ),
            'trust domain "bar.example.com" has no upstream_authority',
        ),
        (
            lambda t: (
                t + "  - {at: 1h, do: upstream_ca_replace, trust_domain: bar.example.com, "
                "generate: {common_name: x}}\n"
            ),
            'trust domain "bar.example.com" has no upstream_authority (upstream_ca_replace',
        ),
        (
            lambda t: t + _la("1h", "prepare", ", authority: old"),
            "prepare takes no authority",
        ),
        (
            lambda t: (
                t + "  - {at: 1h, do: entry_update, trust_domain: foo.example.com, "
                "spiffe_id: spiffe://foo.example.com/client}\n"
            ),
            "entry_update changes nothing",
        ),
        (
            lambda t: t + "  - {at: 1h, do: latency, place: kind-wrker2, latency: 1s}\n",
            'unknown place "kind-wrker2" (did you mean "kind-worker2"?)',
        ),
        (
            lambda t: (
                t + "  - {at: 1h, do: localauthority, trust_domain: bar.example.com, "
                "kind: x509, action: rotate}\n"
            ),
            "action",
        ),
    ],
    ids=[
        "localauthority-1.9",
        "upstreamauthority-no-upstream",
        "replace-no-upstream",
        "prepare-with-id",
        "update-nothing",
        "latency-place",
        "bad-action",
    ],
)
def test_the_loader_refuses(edit, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ScenarioError) as err:
        parse_scenario(edit(_text("")), "bad.yaml")
    assert message in str(err.value)
    assert "bad.yaml:" in str(err.value)


def test_federation_refresh_needs_1_1() -> None:
    seed = Path(__file__).resolve().parents[1] / "scenarios" / "seed.yaml"
    text = seed.read_text()
    assert "events:\n" in text
    text = text.replace("events:\n", "events:\n  - {at: 1h, do: federation_refresh, trust_domain: "
                        "foo.example.com, peer: bar.example.com}\n", 1)  # fmt: skip
    with pytest.raises(ScenarioError, match="federation_refresh needs profile spire"):
        parse_scenario(text, "seed.yaml")


def test_bundle_endpoint_events_that_change_nothing_say_so() -> None:
    events = (
        "  - {at: 1h, do: bundle_endpoint_up, trust_domain: bar.example.com}\n"
        "  - {at: 1h1m, do: bundle_endpoint_down, trust_domain: bar.example.com}\n"
        "  - {at: 1h2m, do: bundle_endpoint_down, trust_domain: bar.example.com}\n"
    )
    r = _run(events, duration="1h5m")
    assert [(rec.level, rec.msg.split(":")[0]) for rec in r.log.find(component="network")] == [
        ("warn", "bundle_endpoint_up bar.example.com"),
        ("info", "bundle endpoint of bar.example.com down"),
        ("warn", "bundle_endpoint_down bar.example.com"),
    ]
