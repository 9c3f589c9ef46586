"""The expect: section: what the loader refuses, and verdicts that can fail."""

from __future__ import annotations

import pytest

from sim.expect import check
from sim.scenario import ScenarioError, builtin_scenario_path, parse_scenario
from sim.simulation import Simulation

SEED = builtin_scenario_path("seed").read_text(encoding="utf-8")
HEAD = SEED[: SEED.index("expect:")]


def _with(expect_yaml: str) -> str:
    return HEAD + "expect:\n" + expect_yaml


@pytest.mark.parametrize(
    ("expect_yaml", "message"),
    [
        ("  - {requests: {from: client}}\n", 'missing required key "result"'),
        (
            "  - {requests: {from: clinet}, result: ok}\n",
            'unknown workload "clinet" (did you mean "client"?)',
        ),
        ("  - {result: ok}\n", "an expectation checks exactly one of: requests, log, bundle"),
        (
            "  - {log: {msg: x}, requests: {from: client}, result: ok}\n",
            "an expectation checks exactly one of: requests, log, bundle",
        ),
        ("  - {log: {msg: x}, result: ok}\n", "result does not go with log"),
        ("  - {bundle: {of: foo.example.com}}\n", 'a bundle expectation needs "at"'),
        ("  - {at: 1h, during: [1h, 2h], log: {msg: x}}\n", "give either at, or during"),
        ("  - {during: [2h, 1h], log: {msg: x}}\n", "during [from, to] ends before it starts"),
        ("  - {after: 9h, log: {msg: x}}\n", "9h is after the end of the run"),
        ("  - {log: {msg: x}, count: {min: 3, max: 1}}\n", "count: max is below min"),
        ("  - {log: {msg: x}, absent: true, count: 1}\n", "give either absent or count"),
        ("  - {log: {mgs: x}}\n", 'unknown key "mgs" (did you mean "msg"?)'),
    ],
)
def test_loader_refuses(expect_yaml: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(_with(expect_yaml), "e.yaml")
    assert message in str(err.value)


def test_verdicts_that_fail_say_why() -> None:
    text = _with(
        "  - {during: [1h21m, 5h30m], requests: {from: client}, result: ok}\n"
        "  - {log: {component: ghostunnel, contains: no roots}, absent: true}\n"
        "  - {at: 30m, bundle: {of: bar.example.com, held_by: foo.example.com,"
        " x509_authorities: 2}}\n"
        "  - {at: 10m, requests: {from: client}, result: ok}\n"
    )
    result = Simulation(parse_scenario(text, "e.yaml")).run()
    outcomes = check(result)
    assert [o.passed for o in outcomes] == [False, False, False, True]
    assert outcomes[0].detail.startswith("54 of 1495 differ; the first at 2019-12-17T05:21:10Z:")
    assert outcomes[1].detail.startswith("54 found; the first at 2019-12-17T05:21:10Z")
    assert outcomes[2].detail == "1 X.509 authorities, expected 2"
    # "at" picks the first request at or after the instant: the first curl, at 1h21m.
    assert outcomes[3].detail == "1 request"
