"""Expectations are a scenario's own checks of a run (its ``expect:`` section): request
results over a window, log lines present, absent or counted, and a bundle's content at an
instant. Each yields a pass/fail verdict with the evidence.

>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> from sim.simulation import Simulation
>>> result = Simulation(load_scenario(builtin_scenario_path("seed"))).run()
>>> all(outcome.passed for outcome in check(result))
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sim.scenario import BundleExpectation, Expectation, LogExpectation, RequestsExpectation
from sim.simulation import Result

__all__ = ["Outcome", "check"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One expectation's verdict: where it is written, what it says, and what was seen."""

    passed: bool
    source: str  # file:line
    description: str
    detail: str
    skipped: bool = False  # the run stopped before the expectation's window (--until)

    def render(self) -> str:
        mark = "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")
        return f"{mark}  {self.source}  {self.description}: {self.detail}"


def _requests(result: Result, e: RequestsExpectation) -> tuple[bool, str, str]:
    mine = [r for r in result.requests if r.workload == e.workload]
    if e.window.at is not None:
        mine = [r for r in mine if r.t >= e.window.at][:1]
    else:
        mine = [r for r in mine if e.window.contains(r.t)]
    what = f"requests from {e.workload} {e.window.describe()} are {e.result!r}"
    if not mine:
        return False, what, "no request in that window"

    def matches(r) -> bool:  # noqa: ANN001 - a RequestRecord
        if e.result == "ok":
            return r.ok
        if e.result == "failed":
            return not r.ok
        if r.ok:
            return False
        if e.exact:
            return e.result in r.errors
        return any(e.result in text for text in r.errors)

    bad = [r for r in mine if not matches(r)]
    if not bad:
        return True, what, f"{len(mine)} request{'s' if len(mine) != 1 else ''}"
    first = bad[0]
    seen = "ok" if first.ok else " | ".join(first.errors)
    return (
        False,
        what,
        f"{len(bad)} of {len(mine)} differ; the first at {result.clock.rfc3339(first.t)}: {seen}",
    )


def _workload_pattern(name: str) -> re.Pattern[str]:
    # Deployment pods: <name>-<template hash>-<5 chars>, as the simulation names them.
    return re.compile(rf"^[^/]+/{re.escape(name)}-[a-z0-9]{{9}}-[a-z0-9]{{5}}(/|$)")


def _log(result: Result, e: LogExpectation) -> tuple[bool, str, str]:
    pattern = None if e.workload is None else _workload_pattern(e.workload)
    start = e.window.at if e.window.at is not None else e.window.start
    # EventLog.find does the filtering; what it cannot say is added here: the window's end is
    # included, a workload means any of its pods, and fields compare as the text a YAML author
    # wrote (a field may hold a bool or a time).
    found = [
        rec
        for rec in result.log.find(
            component=e.component,
            instance=e.instance,
            trust_domain=e.trust_domain,
            level=e.level,
            msg=e.msg,
            contains=e.contains,
            since=start,
        )
        if e.window.contains(rec.t)
        and (pattern is None or pattern.match(rec.instance))
        and all(str(rec.field(k)) == v for k, v in e.fields)
    ]
    parts = [f"{k}={v!r}" for k, v in (
        ("component", e.component), ("instance", e.instance), ("workload", e.workload),
        ("trust_domain", e.trust_domain), ("level", e.level), ("msg", e.msg),
        ("contains", e.contains),
    ) if v is not None] + [f"{k}={v!r}" for k, v in e.fields]  # fmt: skip
    if e.count_max == 0:
        wanted = "absent"
    elif e.count_min == e.count_max:
        wanted = f"exactly {e.count_min}"
    elif e.count_max is None:
        wanted = f"at least {e.count_min}"
    else:
        wanted = f"{e.count_min}..{e.count_max}"
    what = f"log {', '.join(parts)} {e.window.describe()}: {wanted}"
    n = len(found)
    ok = n >= e.count_min and (e.count_max is None or n <= e.count_max)
    detail = f"{n} found"
    if found and not ok:
        detail += f"; the first at {result.clock.rfc3339(found[0].t)}: {found[0].msg}"
    return ok, what, detail


def _bundle(result: Result, e: BundleExpectation, index: int) -> tuple[bool, str, str]:
    holder = "its own" if e.of == e.held_by else f"{e.held_by.name}'s copy of"
    what = f"at {result.clock.rfc3339(e.at)} {holder} bundle of {e.of.name}"
    seen = result.bundle_snapshots.get(index)
    if seen is None:
        return False, what, "no such bundle at that instant"
    n_x509, n_jwt = seen
    problems = []
    if e.x509_authorities is not None and n_x509 != e.x509_authorities:
        problems.append(f"{n_x509} X.509 authorities, expected {e.x509_authorities}")
    if e.jwt_authorities is not None and n_jwt != e.jwt_authorities:
        problems.append(f"{n_jwt} JWT authorities, expected {e.jwt_authorities}")
    if problems:
        return False, what, "; ".join(problems)
    return True, what, f"{n_x509} X.509 and {n_jwt} JWT authorities"


def check(result: Result) -> list[Outcome]:
    """Every expectation of the scenario, judged against ``result``, in file order."""
    outcomes = []
    for index, e in enumerate(result.scenario.expect):
        if isinstance(e, RequestsExpectation):
            ok, what, detail = _requests(result, e)
        elif isinstance(e, LogExpectation):
            ok, what, detail = _log(result, e)
        else:
            ok, what, detail = _bundle(result, e, index)
        source = f"{result.scenario.source}:{e.line}"
        if _beyond(result, e):
            outcomes.append(Outcome(True, source, what, "the run stopped before it", True))
            continue
        outcomes.append(Outcome(ok, source, what, detail))
    return outcomes


def _beyond(result: Result, e: Expectation) -> bool:
    start = e.at if isinstance(e, BundleExpectation) else (e.window.at or e.window.start)
    return start is not None and start > result.until
