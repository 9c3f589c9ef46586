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
WINDOWED = ("r4-", "d3-", "a3-", "d1-", "d2-", "a2-", "pau")
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
