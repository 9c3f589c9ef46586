"""Lifecycle faults in the timeline: `server_stop` / `server_start` (datastore kept or lost),
`agent_stop` / `agent_start` and `pause`: how the loader checks them (with line numbers), and
what a paused world does on resume. The failure stories D1, D2 and A2 (tests/test_failures.py)
show the stops and starts at work."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenario import PauseEvent, ScenarioError, ServerLifecycleEvent, parse_scenario
from sim.simulation import Simulation

D1 = Path(__file__).resolve().parents[1] / "scenarios" / "failures" / "d1-server-down.yaml"
OUTAGE = (
    "  - {at: 2h, do: server_stop, trust_domain: foo.example.com}\n"
    "  - {at: 5h, do: server_start, trust_domain: foo.example.com}\n"
)
H, M = 3600, 60


def _text(events: str, *, duration: str = "6h") -> str:
    text = D1.read_text()
    assert OUTAGE in text and "duration: 6h\n" in text
    text = text.replace(OUTAGE, events).replace("duration: 6h\n", f"duration: {duration}\n")
    return text[: text.index("\nexpect:")] + "\n"


def _problems(events: str) -> list[str]:
    text = _text(events)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.yaml")
    first = text.count("\n", 0, text.index(events)) + 1  # line of the first event given
    return [f"+{p.line - first}: {p.message}" for p in info.value.problems]


def test_the_loader_reads_lifecycle_events() -> None:
    s = parse_scenario(_text(
        "  - {at: 2h, do: server_stop, trust_domain: foo.example.com, datastore: lost}\n"
        "  - {at: 3h, do: server_start, trust_domain: foo.example.com}\n"
        "  - {at: 3h, do: pause, for: 90m}\n"
    ), "t.yaml")  # fmt: skip
    stop, start, pause = s.events[-3:]
    assert isinstance(stop, ServerLifecycleEvent) and (stop.do, stop.datastore) == (
        "server_stop", "lost",
    )  # fmt: skip
    assert isinstance(start, ServerLifecycleEvent) and start.datastore == "kept"
    assert isinstance(pause, PauseEvent) and (pause.at, pause.duration) == (3 * H, 90 * M)


@pytest.mark.parametrize(
    ("events", "wanted"),
    [
        (
            "  - {at: 5h, do: server_start, trust_domain: foo.example.com}\n",
            "+0: server_start: the server is not stopped (no server_stop of the same trust "
            "domain before it)",
        ),
        (
            "  - {at: 2h, do: server_stop, trust_domain: foo.example.com}\n"
            "  - {at: 3h, do: server_stop, trust_domain: foo.example.com}\n",
            "+1: server_stop: the server is already stopped",
        ),
        (
            "  - {at: 10s, do: server_stop, trust_domain: foo.example.com}\n",
            "+0: server_stop at 10s comes before the server starts (at 32s)",
        ),
        (
            "  - {at: 2h, do: server_stop, trust_domain: foo.example.com, datastore: lots}\n",
            '+0: unknown datastore "lots" (did you mean "lost"?)',
        ),
        (
            "  - {at: 2h, do: agent_stop, trust_domain: foo.example.com,"
            " node: spire-federation-workr}\n",
            '+0: unknown node "spire-federation-workr" (did you mean "spire-federation-worker"?)',
        ),
        (
            "  - {at: 2h, do: agent_stop, trust_domain: foo.example.com}\n"
            "  - {at: 3h, do: agent_start, trust_domain: foo.example.com,"
            " node: spire-federation-worker}\n",
            "+1: agent_start: the agent is not stopped (no agent_stop of the same trust domain "
            "and node before it)",
        ),
        (
            "  - {at: 2h, do: pause, for: 2h}\n"
            "  - {at: 3h, do: server_stop, trust_domain: foo.example.com}\n",
            "+1: server_stop at 3h falls inside the pause from 2h to 4h (line "
            "{line}): nothing runs during a pause",
        ),
        ("  - {at: 2h, do: pause, for: 0s}\n", '+0: expected a positive duration, got "0s"'),
        ("  - {at: 2h, do: pause}\n", '+0: missing required key "for"'),
    ],
)
def test_lifecycle_mistakes_are_reported_at_their_line(events: str, wanted: str) -> None:
    got = _problems(events)
    if "{line}" in wanted:
        text = _text(events)
        wanted = wanted.replace("{line}", str(text.count("\n", 0, text.index(events)) + 1))
    assert wanted in got


def test_a_pause_stops_every_process_and_resumes_on_the_moved_grids() -> None:
    pause, length = 2 * H, 8 * H
    resume = pause + length
    r = Simulation(parse_scenario(_text("  - {at: 2h, do: pause, for: 8h}\n", duration="11h"),
                                  "t.yaml")).run()  # fmt: skip
    # Nothing at all happens while the world is suspended.
    assert not [rec for rec in r.log if pause < rec.t < resume]
    assert not [q for q in r.requests if pause < q.t < resume]
    # The CA rotator's 10 s grid (from the server's start at 32 s) moved on by the pause. foo's
    # CA (12h from 32 s) was due for preparation at 6h32s, during the pause: it is prepared at
    # the first tick after the resume, and activated at the first tick strictly after 10h0m32s.
    grid = 32 + length
    prepared = r.log.find(instance="foo/spire-server-0", msg="X509 CA prepared", since=resume)
    activated = r.log.find(instance="foo/spire-server-0", msg="X509 CA activated", since=resume)
    assert prepared[0].t == resume + 10 - (resume - grid) % 10
    threshold = 12 * H + 32 - 12 * H / 6  # notAfter - lifetime/6 (strictly after it)
    assert activated[0].t == grid + ((threshold - grid) // 10 + 1) * 10 == 10 * H + 42
    # Certificates that expired meanwhile are found late: the first request after the resume
    # meets an expired SVID, and the agent renews it at its next 5 s tick.
    first = next(q for q in r.requests if q.t >= resume)
    assert not first.ok and first.reason == "expired"
    agent = next(a for a in r.agents if a.server.trust_domain.name == "foo.example.com")
    renewed = r.log.first(instance=agent.log.instance.instance, msg="Renewing X509-SVID",
                          since=resume)  # fmt: skip
    assert renewed is not None and resume < renewed.t <= resume + 5
    assert all(q.ok for q in r.requests if q.t > renewed.t)
    # Timers keep their remaining time: bar's poll of foo comes 75 s after the one before the
    # pause, counted in time awake.
    polls = [rec.t for rec in r.log.find(instance="bar/spire-server-0",
                                         msg="Polling for bundle update")]  # fmt: skip
    before = max(t for t in polls if t <= pause)
    after = min(t for t in polls if t >= resume)
    assert after - length - before == 75


def test_a_pause_and_a_stop_replay_byte_identically() -> None:
    text = _text(
        "  - {at: 2h, do: pause, for: 3h}\n"
        "  - {at: 5h30m, do: server_stop, trust_domain: bar.example.com, datastore: lost}\n"
        "  - {at: 5h40m, do: server_start, trust_domain: bar.example.com}\n",
        duration="7h",
    )
    one = Simulation(parse_scenario(text, "t.yaml")).run()
    two = Simulation(parse_scenario(text, "t.yaml")).run()
    assert list(one.log) == list(two.log)
    assert one.log.first(instance="bar/spire-server-0", msg="Server stopped gracefully")


def test_validate_names_the_nodes_an_agent_runs_on() -> None:
    from sim.validate import validate_scenario

    text = _text(
        "  - {at: 2h, do: agent_stop, trust_domain: foo.example.com,"
        " node: spire-federation-worker2}\n"
        "  - {at: 3h, do: agent_start, trust_domain: foo.example.com,"
        " node: spire-federation-worker2}\n"
    )
    found = [p.message for p in validate_scenario(parse_scenario(text, "t.yaml"))]
    assert found == [
        f"{do}: no agent of foo.example.com runs on spire-federation-worker2 (it runs on "
        "spire-federation-worker)"
        for do in ("agent_stop", "agent_start")
    ]


def test_an_event_without_an_instant_is_reported_not_ordered() -> None:
    # (hypothesis found the ordering of lifecycle checks crashing on an instant that failed)
    got = _problems(
        "  - {at: , do: server_stop, trust_domain: foo.example.com}\n"
        "  - {at: 3h, do: server_start, trust_domain: foo.example.com}\n"
    )
    assert got[0].startswith("+0: expected a duration")
    assert got[1:] == [
        "+1: server_start: the server is not stopped (no server_stop of the same trust domain "
        "before it)"
    ]


def test_inspect_says_when_the_agent_is_down() -> None:
    from sim.inspection import InspectError, x509_svid
    from sim.scenario import load_scenario

    scenario = load_scenario(D1)
    # At 2h10m the server is down but the agent still serves its cached SVID; at 3h the agent
    # has crashed (its SVID expired) and is waiting to be restarted.
    assert "spiffe://foo.example.com/http-server" in x509_svid(
        Simulation(scenario, until=130 * M).run(), "http-server"
    )
    with pytest.raises(InspectError, match="is not running at this instant"):
        x509_svid(Simulation(scenario, until=3 * H).run(), "http-server")


def test_a_restart_with_the_datastore_kept_reloads_the_ca_or_replaces_an_expired_one() -> None:
    # Back at 5h: the CA of 32 s (12h) is still current and is activated again, unchanged.
    short = Simulation(parse_scenario(_text(OUTAGE), "t.yaml")).run()
    first, again = short.log.find(instance="foo/spire-server-0", msg="X509 CA activated")[:2]
    assert again.t == 5 * H
    assert again.field("local_authority_id") == first.field("local_authority_id")
    assert short.summary()["ca_rotations"] == 0
    # Back at 14h: that CA expired at 12h0m32s; its journal slot is unusable, a new CA is
    # prepared and activated at once, and the entries are still there (no re-registration).
    long = Simulation(parse_scenario(_text(
        "  - {at: 2h, do: server_stop, trust_domain: foo.example.com}\n"
        "  - {at: 14h, do: server_start, trust_domain: foo.example.com}\n",
        duration="15h",
    ), "t.yaml")).run()  # fmt: skip
    at = {rec.msg: rec for rec in long.log.find(instance="foo/spire-server-0", since=14 * H,
                                                 until=14 * H + 1)}  # fmt: skip
    assert at["X509CA slot unusable"].field("error") == "slot expired"
    assert at["X509 CA prepared"].field("issued_at").hour == 14
    assert "X509 CA activated" in at
    assert len(long.servers["foo.example.com"].entries.list()) == 2
    late = [q for q in long.requests if q.t > 14 * H + 10 * M]
    assert late and all(q.ok for q in late)
