"""A 24-run parameter sweep (4 refresh hints x 3 peer CA TTLs x 2 seeds, one simulated week
each) of scenarios/rotation/stale-bundle-refresh-hint.yaml, timed with 1 and 2 local workers:
prints the table (which hint keeps foo's copy of bar's bundle fresh for which ca_ttl) and the
wall times, and checks both tables are identical.

    python benchmarks/bench_sweep.py [--days 7] [--workers 1,2] [--repeat 1]

The CLI form of the same sweep (the scenario's duration raised with a one-value grid key):

    spire-sim sweep scenarios/rotation/stale-bundle-refresh-hint.yaml --grid duration=168h \\
      --grid trust_domains.bar.example.com.server.bundle_endpoint.refresh_hint=10m,1h,6h,24h \\
      --grid trust_domains.bar.example.com.server.ca_ttl=12h,24h,48h --seeds 2 --out sweep.csv
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

from sim.sweep import sweep

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios/rotation/stale-bundle-refresh-hint.yaml"
HINT = "trust_domains.bar.example.com.server.bundle_endpoint.refresh_hint"
CA_TTL = "trust_domains.bar.example.com.server.ca_ttl"
GRID = {HINT: ["10m", "1h", "6h", "24h"], CA_TTL: ["12h", "24h", "48h"]}
METRICS = [
    "requests",
    "failed_fraction",
    "failed_cross_domain_fraction",
    "longest_failure_window",
    "ca_rotations",
    "bundle_refreshes",
    "log_records",
    "longest_stale_window",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts to time")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    text = SCENARIO.read_text(encoding="utf-8")
    # The scenario's own expectations are about its 30 h story; a sweep does not check them.
    text = text[: text.index("\nexpect:")] + "\n"
    text = re.sub(r"^duration: .*$", f"duration: {args.days * 86400:.0f}s", text, flags=re.M)

    def progress(done: int, total: int) -> None:
        sys.stderr.write(f"\r  {done}/{total} runs")
        sys.stderr.flush()

    tables = {}
    walls: dict[int, list[float]] = {}
    for workers in (int(w) for w in args.workers.split(",")):
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            tables[workers] = sweep(
                text, grid=GRID, seeds=range(2), metrics=METRICS, workers=workers,
                progress=progress,
            )  # fmt: skip
            walls.setdefault(workers, []).append(time.perf_counter() - t0)
            sys.stderr.write("\n")

    first = next(iter(tables.values()))
    print(f"{SCENARIO.name}, {args.days:g} simulated days per run, {len(first)} runs")
    names = ["hint", "ca_ttl", "seed", *METRICS]
    print(" ".join(f"{n[:14]:>14}" for n in names))
    for row in first.tolist():
        print(" ".join(f"{v:>14.4g}" if isinstance(v, float) else f"{v!s:>14}" for v in row))
    same = all(t.tolist() == first.tolist() for t in tables.values())
    print(f"tables identical across worker counts: {same}")
    cpus = os.cpu_count()
    print(f"{platform.python_implementation()} {platform.python_version()}, {cpus} CPUs")
    for workers, times in walls.items():
        med = statistics.median(times)
        runs = ", ".join(f"{t:.1f}" for t in times)
        print(f"workers={workers}: median wall {med:.1f} s over {len(times)} sweep(s) [{runs}]")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
