"""The seed scenario stretched to a long horizon (default 30 simulated days, curl every 10 s):
wall time, simulated seconds per wall second, log records per second, certificates minted and
chain verifications performed versus verdicts reused.

    python benchmarks/bench_seed.py [--days 30] [--repeat 3] [--federated]
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import time

from sim.scenario import builtin_scenario_path, parse_scenario
from sim.simulation import Simulation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--federated",
        action="store_true",
        help="drop the seed's step 14 (re-registration without federatesWith), so requests "
        "keep succeeding and every handshake verifies both chains",
    )
    args = ap.parse_args()
    text = builtin_scenario_path("seed").read_text(encoding="utf-8")
    text = re.sub(r"^duration: .*$", f"duration: {args.days * 86400:.0f}s", text, flags=re.M)
    if args.federated:
        text = text[: text.index("  # [step 14]")]
    scenario = parse_scenario(text, "seed-long.yaml")
    walls = []
    result = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = Simulation(scenario).run()
        walls.append(time.perf_counter() - t0)
    assert result is not None
    s = result.summary()
    wall = statistics.median(walls)
    sim_seconds = scenario.duration
    print(f"# {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}; median of {args.repeat} runs")
    print(f"simulated               {s['simulated']} ({args.days:g} days)")
    print(f"wall time               {wall:.2f} s  (runs: {', '.join(f'{w:.2f}' for w in walls)})")
    print(f"simulated s / wall s    {sim_seconds / wall:,.0f}")
    print(f"log records             {s['log_records']:,} ({s['log_records'] / wall:,.0f}/s)")
    print(f"SimPy events            {result.events_scheduled:,} "
          f"({result.events_scheduled / wall:,.0f}/s)")
    print(f"requests                {s['requests']['total']:,} ({s['requests']['ok']:,} ok)")
    print(f"certificates minted     {s['certificates_minted']:,}")
    print(f"CA rotations            {s['ca_rotations']}")
    print(f"chain verifications     {s['chain_verifications']:,} performed, "
          f"{s['verdicts_reused']:,} verdicts reused")


if __name__ == "__main__":
    main()
