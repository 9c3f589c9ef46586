"""Analysis series: a run's log, requests and state history as numpy tables a notebook can
filter, count and plot ("how long was foo's copy of bar's bundle stale after the rotation",
"how many handshakes failed during the partition").

Every series is derived from :class:`~sim.history.History` (what the model *was*),
``Result.requests`` and the structured fields of ``Result.log``, never from log message text.
Times are simulation seconds (``t``, floats) plus, where a row is an instant, ``time`` as
``datetime64[s]`` UTC. Where a step never happened the instant is NaN.

>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> from sim.simulation import Simulation
>>> result = Simulation(load_scenario(builtin_scenario_path("seed")), until=2 * 3600).run()
>>> ev = events(result, component="spire-server", msg="Bundle refreshed")
>>> [str(x) for x in ev["time"][:2]], sorted(set(ev["trust_domain"].tolist()))
(['2019-12-17T00:29:32', '2019-12-17T00:29:32'], ['bar.example.com', 'foo.example.com'])
>>> reqs = requests(result)
>>> int(reqs["ok"].sum()) == len(reqs), str(reqs["time"][0])
(True, '2019-12-17T01:21:00')

Before the 29m ``bundle set``, foo held no copy of bar's bundle while bar used its CA, so the
first stale window of foo <- bar runs from the servers' start (32 s) to the first "Bundle
refreshed" (29m32s), the instant foo also got bar's JWT key:

>>> w = stale_windows(result, "foo.example.com", "bar.example.com")
>>> [(float(s), float(e)) for s, e in zip(w["start"], w["end"])]
[(32.0, 1772.0)]
>>> longest_stale_window(result)
1740.0
>>> out = outcomes(result, bin="30m")
>>> [(str(b), str(r), int(n)) for b, r, n in zip(out["time"], out["reason"], out["count"]) if n]
[('2019-12-17T01:00:00', 'ok', 54), ('2019-12-17T01:30:00', 'ok', 181)]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.clock import parse_duration
from sim.history import AuthorityEvent, BundleChange, change_at
from sim.scenario import WorkloadRestartEvent

if TYPE_CHECKING:
    from sim.simulation import Result

__all__ = [
    "AUTHORITY_STEPS",
    "authorities",
    "events",
    "freshness",
    "longest_stale_window",
    "outcomes",
    "relationships",
    "requests",
    "stale_windows",
    "svid_intervals",
    "workload_instances",
]

AUTHORITY_STEPS = ("prepared", "activated", "retired", "pruned", "tainted", "revoked")
"""The steps of an authority's life :func:`authorities` reports, in life order."""

_NAN = float("nan")
# Kubernetes' generated pod names: <deployment>-<9-char template hash>-<5 chars> (see
# Simulation._start_workload); the sidecar and curl instances are <ns>/<pod>/<ghostunnel|curl>.
_POD_SUFFIX = r"-[a-z0-9]{9}-[a-z0-9]{5}"


# -- helpers -----------------------------------------------------------------------------------


def _table(rows: Sequence[tuple[Any, ...]], columns: Sequence[tuple[str, str]]) -> np.ndarray:
    """A structured array; ``U`` columns get the width of their longest value (at least 1)."""
    dtype = []
    for i, (name, kind) in enumerate(columns):
        if kind == "U":
            width = max((len(r[i]) for r in rows), default=1)
            dtype.append((name, f"U{max(1, width)}"))
        else:
            dtype.append((name, kind))
    return np.array([tuple(r) for r in rows], dtype=dtype)


def _datetime(result: Result, t: float) -> np.datetime64:
    """``t`` as a UTC ``datetime64[s]`` (truncated to the whole second, as RFC 3339 is)."""
    if math.isnan(t):
        return np.datetime64("NaT", "s")
    return np.datetime64(result.clock.epoch_us(t) // 1_000_000, "s")


def workload_instances(result: Result, workload: str) -> list[str]:
    """The event-log instances of ``workload``'s sidecar and curl, over all its pods."""
    try:
        spec = result.scenario.workload(workload)
    except KeyError:
        names = ", ".join(w.name for w in result.scenario.workloads)
        raise ValueError(f"unknown workload {workload!r} (the scenario has: {names})") from None
    ns = result.scenario.domain(spec.trust_domain).namespace
    pattern = re.compile(rf"{re.escape(ns)}/{re.escape(spec.name)}{_POD_SUFFIX}/(ghostunnel|curl)")
    return [name for name in result.log.instances() if pattern.fullmatch(name)]


# -- the event log and requests ----------------------------------------------------------------


def events(
    result: Result,
    *,
    component: str | None = None,
    trust_domain: str | None = None,
    workload: str | None = None,
    msg: str | None = None,
    level: str | None = None,
) -> np.ndarray:
    """The event log as a structured array (t, time, host, component, instance, trust_domain,
    level, msg, fields), in time order. ``fields`` is the record's fields as a JSON object
    (product order). ``workload`` keeps the records of that workload's sidecar and curl;
    ``trust_domain`` is the emitting instance's own trust domain."""
    instances = None if workload is None else set(workload_instances(result, workload))
    rows = []
    for rec in result.log.find(component=component, trust_domain=trust_domain, msg=msg,
                               level=level):  # fmt: skip
        if instances is not None and rec.instance not in instances:
            continue
        fields = json.dumps(dict(rec.fields), default=str, separators=(",", ":"))
        rows.append((rec.t, _datetime(result, rec.t), rec.host, rec.component, rec.instance,
                     rec.trust_domain, rec.level, rec.msg, fields))  # fmt: skip
    return _table(rows, [("t", "f8"), ("time", "M8[s]"), ("host", "U"), ("component", "U"),
                         ("instance", "U"), ("trust_domain", "U"), ("level", "U"), ("msg", "U"),
                         ("fields", "U")])  # fmt: skip


def requests(result: Result) -> np.ndarray:
    """Every curl request: t, time, workload, ok, reason ('ok' or the failure's kind), curl_exit."""
    rows = [
        (r.t, _datetime(result, r.t), r.workload, r.ok, r.reason, r.curl_exit)
        for r in result.requests
    ]
    return _table(rows, [("t", "f8"), ("time", "M8[s]"), ("workload", "U"), ("ok", "?"),
                         ("reason", "U"), ("curl_exit", "i4")])  # fmt: skip


def outcomes(result: Result, bin: str | float = "1h") -> np.ndarray:  # noqa: A002 - the brief's name
    """Requests per time bin and outcome: t (bin start), time, reason ('ok' or each failure
    reason seen in the run), count. Every (bin, reason) pair is present, zeros included, so the
    rows of one reason form a complete series. A request at the run's very end (``t ==
    until``) counts in the last bin."""
    width = parse_duration(bin)
    if width <= 0:
        raise ValueError(f"bin must be a positive duration, got {bin!r}")
    bins = max(1, math.ceil(result.until / width))
    reasons = ["ok"] + sorted({r.reason for r in result.requests if not r.ok})
    counts = np.zeros((bins, len(reasons)), dtype=np.int64)
    index = {reason: i for i, reason in enumerate(reasons)}
    for r in result.requests:
        b = min(int(r.t // width), bins - 1)
        counts[b, index["ok" if r.ok else r.reason]] += 1
    rows = [
        (b * width, _datetime(result, b * width), reason, int(counts[b, i]))
        for b in range(bins)
        for i, reason in enumerate(reasons)
    ]
    return _table(rows, [("t", "f8"), ("time", "M8[s]"), ("reason", "U"), ("count", "i8")])


# -- SVIDs and authorities ---------------------------------------------------------------------


def svid_intervals(result: Result, workload: str | None = None) -> np.ndarray:
    """Per workload, each X509-SVID it held (from the Workload API pushes): workload, spiffe_id,
    serial (decimal text: serials are 128-bit), issued, not_before, not_after, held_from,
    held_until. A hold ends at the next push of another SVID (or none), at a restart of the
    workload (its pod is replaced), or at the run's end."""
    names = [w.name for w in result.scenario.workloads]
    if workload is not None and workload not in names:
        raise ValueError(f"unknown workload {workload!r} (the scenario has: {', '.join(names)})")
    restarts: dict[str, list[float]] = {}
    for ev in result.scenario.events:
        if isinstance(ev, WorkloadRestartEvent):
            restarts.setdefault(ev.workload, []).append(ev.at)
    rows = []
    for name in names if workload is None else [workload]:
        # Restarts sort before pushes at the same instant: the new pod's first push follows.
        happenings = sorted(
            [(t, 0, None, None) for t in restarts.get(name, []) if t <= result.until]
            + [(d.t, 1, d.spiffe_id, d.serial) for d in result.history.deliveries
               if d.workload == name],
            key=lambda h: (h[0], h[1]),
        )  # fmt: skip
        current: tuple[str, int, float] | None = None  # spiffe_id, serial, held_from
        for t, _, spiffe_id, serial in [*happenings, (result.until, 0, None, None)]:
            if current is not None and (serial is None or serial != current[1]):
                issued = result.history.svid(current[1])
                rows.append((
                    name, current[0], str(current[1]),
                    _NAN if issued is None else issued.t,
                    _NAN if issued is None else issued.not_before,
                    _NAN if issued is None else issued.not_after,
                    current[2], t,
                ))  # fmt: skip
                current = None
            if serial is not None and current is None:
                current = (spiffe_id or "", serial, t)
    return _table(rows, [("workload", "U"), ("spiffe_id", "U"), ("serial", "U"), ("issued", "f8"),
                         ("not_before", "f8"), ("not_after", "f8"), ("held_from", "f8"),
                         ("held_until", "f8")])  # fmt: skip


def authorities(result: Result, trust_domain: str | None = None) -> np.ndarray:
    """Each X.509 CA and JWT signing key of each trust domain (or only ``trust_domain``):
    trust_domain, kind, authority_id, the instant of each step in :data:`AUTHORITY_STEPS`
    (NaN where it never happened), and not_after."""
    rows: dict[tuple[str, str, str], dict[str, float]] = {}
    for ev in result.history.authorities:
        if trust_domain is not None and ev.trust_domain != trust_domain:
            continue
        row = rows.setdefault((ev.trust_domain, ev.kind, ev.authority_id), {})
        row.setdefault(ev.step, ev.t)
        if ev.not_after is not None:
            row.setdefault("not_after", ev.not_after)
    table = [
        (td, kind, aid, *(steps.get(s, _NAN) for s in AUTHORITY_STEPS),
         steps.get("not_after", _NAN))
        for (td, kind, aid), steps in rows.items()
    ]  # fmt: skip
    return _table(table, [("trust_domain", "U"), ("kind", "U"), ("authority_id", "U")]
                  + [(s, "f8") for s in AUTHORITY_STEPS] + [("not_after", "f8")])  # fmt: skip


# -- bundle freshness --------------------------------------------------------------------------


def relationships(result: Result) -> list[tuple[str, str]]:
    """(holder, peer) for each bundle client and each federated copy a server held, sorted."""
    pairs = {
        (b.holder, b.trust_domain) for b in result.history.bundles if b.holder != b.trust_domain
    }
    pairs |= {
        (c.server.trust_domain.name, c.relationship.trust_domain.name)
        for c in result.bundle_clients
    }
    return sorted(pairs)


def _ids(change: BundleChange | None) -> set[str]:
    if change is None:
        return set()
    return {f"x509:{i}" for i in change.x509_ids} | {f"jwt:{i}" for i in change.jwt_ids}


def _active(
    authority_events: Iterable[AuthorityEvent], peer: str
) -> list[tuple[float, float, str, tuple[str, ...]]]:
    """The peer's authorities' active spans: (activated, end, kind:id, what a holder needs:
    for X.509 any one of the roots the CA chains to, for JWT the key itself)."""
    spans: dict[tuple[str, str], list[Any]] = {}
    for ev in authority_events:
        if ev.trust_domain != peer:
            continue
        key = (ev.kind, ev.authority_id)
        if ev.step == "activated" and key not in spans:
            if ev.kind == "x509":
                needs = tuple(f"x509:{r}" for r in ev.roots) or (f"x509:{ev.authority_id}",)
            else:
                needs = (f"jwt:{ev.authority_id}",)
            spans[key] = [ev.t, math.inf, f"{ev.kind}:{ev.authority_id}", needs]
        elif ev.step in ("retired", "pruned", "revoked") and key in spans:
            spans[key][1] = min(spans[key][1], ev.t)
    return [tuple(s) for s in spans.values()]  # type: ignore[misc]


def _check_pair(result: Result, holder: str, peer: str) -> None:
    known = {td.trust_domain.name for td in result.scenario.trust_domains}
    for role, name in (("holder", holder), ("peer", peer)):
        if name not in known:
            raise ValueError(f"unknown {role} trust domain {name!r} "
                             f"(the scenario has: {', '.join(sorted(known))})")  # fmt: skip


def _segments(
    result: Result, holder: str, peer: str, active_only: bool
) -> list[tuple[float, float, frozenset[str]]]:
    """Elementary intervals [a, b) of the run with what the holder's copy lacks: every
    published authority of the peer, or (``active_only``) only those the peer was using."""
    _check_pair(result, holder, peer)
    own = result.history.bundle_changes(peer, peer)
    copy = result.history.bundle_changes(holder, peer)
    spans = _active(result.history.authorities, peer) if active_only else []
    cuts = {c.t for c in own} | {c.t for c in copy}
    cuts |= {s[0] for s in spans} | {s[1] for s in spans if math.isfinite(s[1])}
    start = own[0].t if own else result.until
    points = sorted(t for t in cuts | {start} if start <= t < result.until) + [result.until]
    out = []
    for a, b in zip(points, points[1:], strict=False):
        if b <= a:
            continue
        held = _ids(change_at(copy, a))
        if active_only:
            lacking = frozenset(
                name for t0, t1, name, needs in spans
                if t0 <= a < t1 and not any(n in held for n in needs)
            )  # fmt: skip
        else:
            lacking = frozenset(_ids(change_at(own, a)) - held)
        out.append((a, b, lacking))
    return out


def _intervals(segments: list[tuple[float, float, frozenset[str]]], merge_any: bool) -> np.ndarray:
    merged: list[list[Any]] = []
    for a, b, lacking in segments:
        if not lacking:
            continue
        prev = merged[-1] if merged else None
        if prev is not None and prev[1] == a and (merge_any or prev[2] == lacking):
            prev[1], prev[2] = b, prev[2] | lacking
        else:
            merged.append([a, b, lacking])
    rows = [(a, b, b - a, len(ids), " ".join(sorted(ids))) for a, b, ids in merged]
    return _table(rows, [("start", "f8"), ("end", "f8"), ("duration", "f8"), ("missing", "i4"),
                         ("missing_ids", "U")])  # fmt: skip


def freshness(result: Result, holder: str, peer: str) -> np.ndarray:
    """When ``holder``'s copy of ``peer``'s bundle lacked authorities ``peer`` had published in
    its own bundle: start, end, duration, missing (count), missing_ids ("x509:<id>" / "jwt:<id>",
    space separated), one row per interval with the same missing set. Before its first copy the
    holder lacks everything; intervals end at the run's end at the latest."""
    return _intervals(_segments(result, holder, peer, active_only=False), merge_any=False)


def stale_windows(result: Result, holder: str, peer: str) -> np.ndarray:
    """When ``peer`` was *using* (activated, not yet retired) an authority ``holder``'s copy
    lacked, so the holder could not verify SVIDs or tokens the peer was issuing then; same
    columns as :func:`freshness`, contiguous intervals merged into one window. An X.509 CA
    counts as held when the copy has one of the roots it chains to. A window still open at the
    run's end ends at ``result.until``."""
    return _intervals(_segments(result, holder, peer, active_only=True), merge_any=True)


def longest_stale_window(
    result: Result, holder: str | None = None, peer: str | None = None
) -> float:
    """The longest stale window in seconds, over every relationship matching ``holder`` and
    ``peer`` (all of them when not given); 0.0 when there is none."""
    best = 0.0
    for h, p in relationships(result):
        if (holder is None or h == holder) and (peer is None or p == peer):
            w = stale_windows(result, h, p)
            if len(w):
                best = max(best, float(w["duration"].max()))
    return best
