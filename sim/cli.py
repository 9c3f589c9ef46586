"""The ``spire-sim`` command line: the only module that prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import sim
from sim.clock import ClockError, parse_duration
from sim.scenario import ScenarioError, builtin_scenario_path, builtin_scenarios, load_scenario
from sim.simulation import Result, Simulation, SimulationError

__all__ = ["main"]

EXIT_OK, EXIT_INVALID = 0, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spire-sim",
        description="Discrete-event simulator of multi-trust-domain SPIRE federation.",
    )
    parser.add_argument("--version", action="version", version=f"spire-sim {sim.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run a scenario and write its logs",
        description="Run a scenario (default: the built-in seed, the blog's federation "
        "walk-through) and write events.jsonl, one native log per component instance under "
        "logs/, and summary.json to the output folder.",
    )
    run.add_argument(
        "scenario",
        nargs="?",
        default="seed",
        help=f"a scenario YAML file, or a built-in name ({', '.join(builtin_scenarios())}); "
        "default: seed",
    )
    run.add_argument("--seed", type=int, help="override the scenario's seed")
    run.add_argument("--until", help="stop earlier, e.g. 2h (a duration from the start)")
    run.add_argument("--out", help="output folder (default: runs/<scenario name>)")
    return parser


def _scenario_path(arg: str) -> Path:
    path = Path(arg)
    if not path.exists() and arg in builtin_scenarios():
        return builtin_scenario_path(arg)
    return path


def _print_summary(result: Result, out_dir: Path, stream: TextIO) -> None:
    s: dict[str, Any] = result.summary()
    w = stream.write
    w(
        f"scenario {s['scenario']} (seed {s['seed']}): {s['start']} .. {s['end']} "
        f"({s['simulated']} simulated)\n"
    )
    req = s["requests"]
    w(f"requests: {req['total']} total, {req['ok']} ok, {req['total'] - req['ok']} failed\n")
    for reason, n in req["failed"].items():
        w(f"  failed ({reason}): {n}\n")
    w(
        f"certificates minted: {s['certificates_minted']} "
        f"(SVIDs issued to agents and workloads: {s['svids_issued_by_agents']})\n"
    )
    w(f"CA rotations: {s['ca_rotations']}\n")
    w("bundle refreshes:\n")
    for rel, counts in s["bundle_refreshes"].items():
        w(f"  {rel}: {counts['refreshed']} refreshed, {counts['errors']} errors\n")
    w(
        f"chain verifications: {s['chain_verifications']} "
        f"(verdicts reused: {s['verdicts_reused']})\n"
    )
    w(f"wrote {out_dir}/events.jsonl, {out_dir}/logs/, {out_dir}/summary.json\n")


def _run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(_scenario_path(args.scenario))
        until = None if args.until is None else parse_duration(args.until)
        if args.seed is not None and args.seed < 0:
            raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
        simulation = Simulation(scenario, seed=args.seed, until=until)
    except (ScenarioError, SimulationError, ClockError, ValueError) as exc:
        print(f"spire-sim: {exc}", file=sys.stderr)
        return EXIT_INVALID
    result = simulation.run()
    out_dir = Path(args.out) if args.out else Path("runs") / scenario.name
    try:
        result.write(out_dir)
    except OSError as exc:
        print(f"spire-sim: cannot write {out_dir}: {exc.strerror}", file=sys.stderr)
        return EXIT_INVALID
    _print_summary(result, out_dir, sys.stdout)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    parser.print_help(sys.stdout)
    return EXIT_OK
