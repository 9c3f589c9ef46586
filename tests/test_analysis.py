"""Analysis series on known runs, with the expected instants computed from the scenarios'
configuration (rotation formulas, event times, polling intervals), not read back from output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sim import analysis
from sim.clock import parse_duration
from sim.scenario import builtin_scenario_path, load_scenario
from sim.simulation import Result, Simulation

ROOT = Path(__file__).resolve().parents[1]
R4 = ROOT / "scenarios" / "failures" / "r4-partition-during-rotation.yaml"
ROTATION = ROOT / "scenarios" / "rotation"
FOO, BAR = "foo.example.com", "bar.example.com"


@pytest.fixture(scope="module")
def seed() -> Result:
    return Simulation(load_scenario(builtin_scenario_path("seed"))).run()


@pytest.fixture(scope="module")
def r4() -> Result:
    return Simulation(load_scenario(R4)).run()


# -- events and requests -----------------------------------------------------------------------


def test_events_table_matches_the_log(seed: Result) -> None:
    ev = analysis.events(seed)
    assert len(ev) == len(seed.log)
    assert np.all(np.diff(ev["t"]) >= 0)
    first = next(iter(seed.log))
    assert ev["instance"][0] == first.instance
    assert json.loads(ev["fields"][0]) == json.loads(json.dumps(dict(first.fields), default=str))
    # time is the scenario's start plus t, in whole UTC seconds
    start = np.datetime64("2019-12-17T00:00:00", "s")
    assert np.all(ev["time"] == start + ev["t"].astype("i8").astype("m8[s]"))


def test_events_filters(seed: Result) -> None:
    errors = analysis.events(seed, level="error")
    assert len(errors) and set(errors["level"].tolist()) == {"error"}
    bar_server = analysis.events(seed, component="spire-server", trust_domain=BAR)
    assert set(bar_server["instance"].tolist()) == {"bar/spire-server-0"}
    refreshed = analysis.events(seed, msg="Bundle refreshed")
    assert len(refreshed) == seed.log.count(msg="Bundle refreshed")


def test_events_of_a_workload_are_its_sidecar_and_curl_over_both_pods(seed: Result) -> None:
    ev = analysis.events(seed, workload="client")
    instances = sorted(set(ev["instance"].tolist()))
    # 5h22m redeploys the client: two pods, each with a ghostunnel and a curl instance.
    assert len(instances) == 4
    assert {i.rsplit("/", 1)[1] for i in instances} == {"ghostunnel", "curl"}
    assert all(i.startswith("bar/client-") for i in instances)
    assert set(ev["component"].tolist()) == {"ghostunnel", "curl"}
    assert not set(analysis.events(seed, workload="http-server")["instance"].tolist()) & set(
        instances
    )
    with pytest.raises(ValueError, match="unknown workload 'nope'"):
        analysis.events(seed, workload="nope")


def test_requests_table(seed: Result) -> None:
    req = analysis.requests(seed)
    assert len(req) == len(seed.requests)
    assert int(req["ok"].sum()) == sum(r.ok for r in seed.requests)
    # traffic starts at 1h21m and runs every 10 s
    assert str(req["time"][0]) == "2019-12-17T01:21:00"
    assert set(req["reason"][~req["ok"]].tolist()) == {"no_bundle"}
    assert set(req["curl_exit"][~req["ok"]].tolist()) == {56}


# -- outcomes ----------------------------------------------------------------------------------


def test_seed_outcomes_flip_at_the_re_registration(seed: Result) -> None:
    out = analysis.outcomes(seed, bin="10s")
    ok = out[out["reason"] == "ok"]
    failed = out[out["reason"] == "no_bundle"]
    assert len(ok) == len(failed) == math.ceil(seed.until / 10)
    # The entries are re-created without federatesWith at 5h21m; the client's next Workload
    # API push carries no bundle for foo, and from then on every request fails.
    recreated = parse_duration("5h21m")
    push = min(
        d.t for d in seed.history.deliveries
        if d.workload == "client" and d.t >= recreated and FOO not in d.bundles
    )  # fmt: skip
    assert recreated <= push < recreated + 10  # the agent's 5 s sync
    traffic = parse_duration("1h21m")  # curl every 10 s from 1h21m: one request per bin
    before = (ok["t"] >= traffic) & (ok["t"] <= push)
    assert np.all(ok["count"][before] == 1) and np.all(failed["count"][before] == 0)
    after = failed["t"] > push
    assert np.all(failed["count"][after] >= 1) and np.all(ok["count"][after] == 0)
    assert out["count"].sum() == len(seed.requests)
    hourly = analysis.outcomes(seed)  # default 1h bins
    assert hourly["t"].tolist()[::2] == [h * 3600.0 for h in range(6)]


def test_r4_outcomes_fail_only_inside_the_stale_window(r4: Result) -> None:
    out = analysis.outcomes(r4, bin="1h")
    bad = out[(out["reason"] != "ok") & (out["count"] > 0)]
    assert set(bad["reason"].tolist()) == {"unknown_authority"}
    # bar activates its second CA at 20h10s; the window closes at 22h (plus one poll)
    assert bad["t"].min() == parse_duration("20h") and bad["t"].max() == parse_duration("22h")
    with pytest.raises(ValueError, match="positive duration"):
        analysis.outcomes(r4, bin="0s")


# -- SVIDs and authorities ---------------------------------------------------------------------


def test_svid_intervals_follow_the_deliveries(seed: Result) -> None:
    iv = analysis.svid_intervals(seed)
    assert set(iv["workload"].tolist()) == {"client", "http-server"}
    for name in ("client", "http-server"):
        rows = iv[iv["workload"] == name]
        assert np.all(rows["held_from"] < rows["held_until"])
        assert np.all(rows["held_until"][:-1] <= rows["held_from"][1:])  # no overlap
        # each SVID was issued before it was held and valid while held
        assert np.all(rows["issued"] <= rows["held_from"])
        assert np.all(rows["not_before"] <= rows["held_from"])
        assert np.all(rows["held_until"] <= rows["not_after"])
        assert rows["held_until"][-1] == seed.until
    # the redeployment at 5h22m ends a hold (the new pod gets a push)
    redeploy = parse_duration("5h22m")
    client = iv[iv["workload"] == "client"]
    assert redeploy in client["held_until"].tolist()
    assert redeploy in client["held_from"].tolist()
    # svid_ttl 1h: SVIDs live an hour (minus the 10 s backdating)
    assert np.all(client["not_after"] - client["not_before"] == 3600 + 10)
    only = analysis.svid_intervals(seed, workload="client")
    assert len(only) == len(client)
    with pytest.raises(ValueError, match="unknown workload"):
        analysis.svid_intervals(seed, workload="nope")


def test_svids_renew_at_half_life_under_1x(r4: Result) -> None:
    rows = analysis.svid_intervals(r4, workload="client")
    life = rows["not_after"] - rows["not_before"]
    held = rows["held_until"] - rows["held_from"]
    # SPIRE 1.x agents rotate an SVID once half its lifetime has passed (checked at the 5 s
    # sync): every hold but the last is shorter than the lifetime.
    assert np.all(held[:-1] < life[:-1])
    assert len(rows) > parse_duration("30h") / parse_duration("1h")


def test_r4_authorities_follow_the_ca_ttl(r4: Result) -> None:
    table = analysis.authorities(r4, trust_domain=BAR)
    x509 = table[table["kind"] == "x509"]
    assert len(x509) == 3
    first, second, third = x509
    day = parse_duration("24h")
    # ca_ttl 24h: the next CA is prepared at half-life and activated at 5/6 of the current
    # CA's lifetime (SPIRE's ca manager thresholds), each at the 10 s rotation ticker.
    assert first["activated"] == 0 and first["not_after"] == day
    assert second["prepared"] == day / 2 + 10
    assert second["activated"] == first["retired"] == day * 5 / 6 + 10
    assert second["not_after"] == second["prepared"] + day
    assert math.isnan(third["activated"]) and math.isnan(first["pruned"])
    assert set(table["kind"].tolist()) == {"x509", "jwt"}
    assert len(analysis.authorities(r4)) == len(table) + 2  # foo: one CA, one JWT key


# -- freshness and stale windows ---------------------------------------------------------------


def test_relationships(seed: Result, r4: Result) -> None:
    assert analysis.relationships(seed) == [(BAR, FOO), (FOO, BAR)]
    assert analysis.relationships(r4) == [(BAR, FOO), (FOO, BAR)]


def test_r4_stale_window_spans_activation_to_first_refresh_after_heal(r4: Result) -> None:
    day = parse_duration("24h")
    activated = day * 5 / 6 + 10  # 20h10s
    heal = parse_duration("22h")
    first_ok = min(f.t for f in r4.history.fetches_of(FOO, BAR) if f.ok and f.t >= heal)
    # hint 5m -> polls every 75 s, so the first poll after the heal is within 75 s of it
    assert heal <= first_ok <= heal + 75
    windows = analysis.stale_windows(r4, FOO, BAR)
    assert len(windows) == 1
    w = windows[0]
    assert w["start"] == activated and w["end"] == first_ok
    assert w["duration"] == first_ok - activated
    # what bar used and foo lacked: the CA and the JWT key both activated at 20h10s
    table = analysis.authorities(r4, trust_domain=BAR)
    used = table[table["activated"] == activated]
    assert sorted(w["missing_ids"].split()) == sorted(
        f"{k}:{a}" for k, a in zip(used["kind"], used["authority_id"], strict=True)
    )
    assert analysis.longest_stale_window(r4) == first_ok - activated
    assert analysis.longest_stale_window(r4, holder=BAR) == 0.0
    assert len(analysis.stale_windows(r4, BAR, FOO)) == 0


def test_r4_freshness_starts_at_the_preparation_inside_the_partition(r4: Result) -> None:
    day = parse_duration("24h")
    prepared = day / 2 + 10  # 12h10s: after the 11h cut, so foo never sees it until the heal
    fresh = analysis.freshness(r4, FOO, BAR)
    first = fresh[0]
    assert first["start"] == prepared
    assert first["end"] == analysis.stale_windows(r4, FOO, BAR)[0]["end"]
    ids = set(first["missing_ids"].split())
    x509_new = analysis.authorities(r4, trust_domain=BAR)
    new_ca = x509_new[(x509_new["kind"] == "x509") & (x509_new["prepared"] == prepared)]
    assert f"x509:{new_ca['authority_id'][0]}" in ids
    # the next preparation (at 24h20s, after the heal) is fetched within one 75 s poll
    later = fresh[1:]
    assert len(later) == 1 and later[0]["start"] == 2 * prepared and later[0]["duration"] <= 75


def test_seed_stale_until_the_bootstrap_refresh(seed: Result) -> None:
    servers_start = parse_duration("32s")
    refreshed = parse_duration("29m32s")
    bundle_set = parse_duration("29m")
    for holder, peer in analysis.relationships(seed):
        w = analysis.stale_windows(seed, holder, peer)
        assert [(s, e) for s, e in zip(w["start"], w["end"], strict=True)] == [
            (servers_start, refreshed)
        ]
        fresh = analysis.freshness(seed, holder, peer)
        # bundle set (29m) brings the peer's root; only the JWT key waits for the refresh
        assert fresh["end"].tolist() == [bundle_set, refreshed]
        assert fresh["missing"].tolist() == [2, 1]
    assert analysis.longest_stale_window(seed) == refreshed - servers_start


@pytest.mark.parametrize(
    "name", sorted(p.name for p in ROTATION.glob("*.yaml") if p.name != "default-1x-3days.yaml")
)
def test_rotation_scenarios_windows_are_consistent(name: str) -> None:
    result = Simulation(load_scenario(ROTATION / name)).run()
    for holder, peer in analysis.relationships(result):
        fresh = analysis.freshness(result, holder, peer)
        stale = analysis.stale_windows(result, holder, peer)
        # a stale window is always inside a freshness gap: using what was not held implies
        # lacking something published
        for s, e in zip(stale["start"], stale["end"], strict=True):
            assert any(
                fs <= s and e <= fe for fs, fe in zip(fresh["start"], fresh["end"], strict=True)
            ) or _covered(fresh, s, e)
        # recomputed independently at sampled instants from the history
        for t in np.linspace(0, result.until, 97)[:-1]:
            copy = result.history.bundle_at(holder, peer, float(t))
            held = set() if copy is None else set(copy.x509_ids)
            using = [
                ev
                for ev in result.history.authorities
                if ev.trust_domain == peer and ev.kind == "x509" and ev.step == "activated"
                and ev.t <= t and not _retired(result, ev.authority_id, float(t))
            ]  # fmt: skip
            lacking_x509 = any(not set(ev.roots) & held for ev in using)
            inside = np.any((stale["start"] <= t) & (t < stale["end"]))
            if lacking_x509:
                assert inside, (name, holder, peer, t)
    assert result.longest_stale_window() == analysis.longest_stale_window(result)


def _covered(fresh: np.ndarray, s: float, e: float) -> bool:
    """[s, e) is covered by contiguous freshness gaps."""
    t = s
    for fs, fe in zip(fresh["start"], fresh["end"], strict=True):
        if fs <= t < fe:
            t = fe
    return t >= e


def _retired(result: Result, authority_id: str, t: float) -> bool:
    return any(
        ev.authority_id == authority_id and ev.step in ("retired", "pruned", "revoked")
        and ev.t <= t
        for ev in result.history.authorities
    )  # fmt: skip


def test_stale_bundle_refresh_hint_window(tmp_path: Path) -> None:
    """The scenario's own story: foo polls bar every refresh hint; bar's new CA is prepared
    just after a poll and activated before the next, so foo is stale from the activation to
    the next poll."""
    result = Simulation(load_scenario(ROTATION / "stale-bundle-refresh-hint.yaml")).run()
    w = analysis.stale_windows(result, FOO, BAR)
    assert len(w) >= 1
    activated = parse_duration("20h10s")
    assert w["start"][0] == activated
    polls_ok = [f.t for f in result.history.fetches_of(FOO, BAR) if f.ok and f.t > activated]
    assert w["end"][0] == (polls_ok[0] if polls_ok else result.until)


def test_unknown_trust_domain_is_refused(seed: Result) -> None:
    with pytest.raises(ValueError, match="unknown peer trust domain 'baz.example.com'"):
        analysis.stale_windows(seed, FOO, "baz.example.com")


def test_result_methods_delegate(seed: Result) -> None:
    assert len(seed.events(level="error")) == len(analysis.events(seed, level="error"))
    assert len(seed.request_table()) == len(seed.requests)
    assert seed.outcomes("1h")["count"].sum() == len(seed.requests)
    assert len(seed.svid_intervals("client")) == len(analysis.svid_intervals(seed, "client"))
    assert len(seed.authorities(FOO)) == 2
    assert np.array_equal(seed.freshness(FOO, BAR), analysis.freshness(seed, FOO, BAR))
    assert np.array_equal(seed.stale_windows(FOO, BAR), analysis.stale_windows(seed, FOO, BAR))
    assert seed.longest_stale_window(FOO, BAR) == analysis.longest_stale_window(seed, FOO, BAR)
