"""Per-minute metrics of a run, derived from its event log and requests (not kept in parallel):
requests ok and failed by reason, SVIDs issued, and the age of each stored federated bundle.

>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> from sim.simulation import Simulation
>>> result = Simulation(load_scenario(builtin_scenario_path("seed")), until=1860).run()
>>> print(metrics_csv(result).splitlines()[0])
minute,requests_ok,svids_issued,bundle_age_s:bar.example.com<-foo.example.com,bundle_age_s:foo.example.com<-bar.example.com
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter

from sim.simulation import Result

__all__ = ["metrics_csv"]

_MINTS = ("Creating X509-SVID", "Renewing X509-SVID", "Successfully rotated agent SVID")


def metrics_csv(result: Result) -> str:
    """One row per simulated minute (its start, RFC 3339): counts within the minute, and each
    stored federated bundle's age in seconds at the minute's end (empty before the first)."""
    minutes = max(1, math.ceil(result.until / 60))
    ok = Counter(int(r.t // 60) for r in result.requests if r.ok)
    failed: dict[str, Counter[int]] = {}
    for r in result.requests:
        if not r.ok:
            failed.setdefault(r.reason, Counter())[int(r.t // 60)] += 1
    issued = Counter(
        int(rec.t // 60) for rec in result.log.find(component="spire-agent") if rec.msg in _MINTS
    )
    refreshes: dict[str, list[float]] = {}
    for rec in result.log.find(component="spire-server", msg="Bundle refreshed"):
        key = f"{rec.trust_domain}<-{rec.field('trust_domain')}"
        refreshes.setdefault(key, []).append(rec.t)
    for client in result.bundle_clients:  # relationships that never refreshed get a column too
        refreshes.setdefault(
            f"{client.server.trust_domain.name}<-{client.relationship.trust_domain.name}", []
        )
    reasons = sorted(failed)
    relationships = sorted(refreshes)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["minute", "requests_ok"]
        + [f"requests_failed:{r}" for r in reasons]
        + ["svids_issued"]
        + [f"bundle_age_s:{k}" for k in relationships]
    )
    cursor = dict.fromkeys(relationships, 0)
    for m in range(minutes):
        end = min((m + 1) * 60, result.until)
        ages = []
        for key in relationships:
            times = refreshes[key]
            i = cursor[key]
            while i < len(times) and times[i] <= end:
                i += 1
            cursor[key] = i
            ages.append("" if i == 0 else f"{end - times[i - 1]:g}")
        writer.writerow(
            [result.clock.rfc3339(m * 60), ok[m]]
            + [failed[r][m] for r in reasons]
            + [issued[m]]
            + ages
        )
    return out.getvalue()
