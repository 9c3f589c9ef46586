"""The scale run: a generated full mesh of 20 trust domains over 10 clusters (linked as a full
mesh, 5 ms per link) with 500 workloads, for one simulated day. Prints wall time (generation,
loading, building and running apart), peak RSS, log records, requests and certificates minted.

    python benchmarks/bench_scale.py [--days 1] [--repeat 1] [--every 5m] [--profile FILE]

Each client curls its server every ``--every`` (default 5 minutes: 360 clients make ~104k
requests a day). CPU time (user + system) is printed next to wall time.

The machine may be shared: report the median of several runs and say how loaded it was.
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import resource
import statistics
import sys
import time

from sim.clock import parse_duration
from sim.scenario import parse_scenario
from sim.simulation import Simulation
from sim.topology import TopologySpec, generate, render


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trust-domains", type=int, default=20)
    ap.add_argument("--clusters", type=int, default=10)
    ap.add_argument("--workloads", type=int, default=500)
    ap.add_argument("--federation", default="mesh")
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--every", default="5m", help="each client's curl interval")
    ap.add_argument("--progress", action="store_true", help="print progress to stderr")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--profile", help="write a cProfile of the (last) run to this file")
    args = ap.parse_args()
    spec = TopologySpec(
        trust_domains=args.trust_domains,
        clusters=args.clusters,
        workloads=args.workloads,
        federation=args.federation,
        duration=args.days * 86400,
        every=parse_duration(args.every),
    )
    rows = []
    result = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        c0 = time.process_time()
        text = render(generate(spec))
        t1 = time.perf_counter()
        scenario = parse_scenario(text, "scale.yaml")
        t2 = time.perf_counter()
        sim = Simulation(scenario)
        t3 = time.perf_counter()
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        result = sim.run(progress=_progress(time.perf_counter()) if args.progress else None)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        t4 = time.perf_counter()
        rows.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0, time.process_time() - c0))
    assert result is not None
    s = result.summary()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    med = [statistics.median(col) for col in zip(*rows, strict=True)]
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}; median of {args.repeat} run(s)"
    )
    print(
        f"scenario                {scenario.name}: {args.trust_domains} trust domains, "
        f"{args.clusters} clusters, {args.workloads} workloads, {s['simulated']}"
    )
    print(
        f"wall time               {med[4]:.1f} s (generate {med[0]:.1f}, load {med[1]:.1f}, "
        f"build {med[2]:.1f}, run {med[3]:.1f}); runs: "
        f"{', '.join(f'{r[4]:.1f}' for r in rows)}"
    )
    print(f"CPU time                {med[5]:.1f} s (user + system, whole run)")
    print(f"simulated s / wall s    {scenario.duration / med[3]:,.0f}")
    print(f"peak RSS                {rss:,.0f} MiB")
    print(f"log records             {s['log_records']:,}")
    print(f"requests                {s['requests']['total']:,} ({s['requests']['ok']:,} ok)")
    print(f"certificates minted     {s['certificates_minted']:,}")
    print(f"SimPy events            {result.events_scheduled:,}")
    print(
        f"chain verifications     {s['chain_verifications']:,} performed, "
        f"{s['verdicts_reused']:,} verdicts reused"
    )


def _progress(started: float):  # noqa: ANN202
    def report(now: float, until: float) -> None:
        wall = time.perf_counter() - started
        print(f"{now / until:6.1%} simulated after {wall:7.1f} s wall", file=sys.stderr, flush=True)

    return report


if __name__ == "__main__":
    main()
