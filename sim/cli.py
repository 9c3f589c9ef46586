"""The ``spire-sim`` command line: the only module that prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import sim
from sim import inspection
from sim.clock import ClockError, format_duration, parse_duration
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

    inspect = sub.add_parser(
        "inspect",
        help="print what SPIRE's CLIs would print at an instant of a scenario",
        description="Run SCENARIO up to --at, then print what the real tools would show then.",
    )
    inspect.add_argument("scenario", help="a scenario YAML file or a built-in name (seed)")
    inspect.add_argument("--at", required=True, help="the instant, as a duration from the start")
    inspect.add_argument("--seed", type=int, help="override the scenario's seed")
    what = inspect.add_subparsers(dest="what", metavar="WHAT", required=True)
    bundle = what.add_parser("bundle", help="spire-server bundle show|list")
    bundle_cmd = bundle.add_subparsers(dest="bundle_command", metavar="show|list", required=True)
    for name, text in (
        ("show", "the server's own bundle"),
        ("list", "the federated bundles the server stores"),
    ):
        cmd = bundle_cmd.add_parser(name, help=text)
        cmd.add_argument("--td", required=True, help="the server's trust domain")
        cmd.add_argument(
            "--format",
            choices=("pem", "spiffe"),
            help="pem or spiffe (default: pem; bundle list on 0.9: spiffe)",
        )
    entry = what.add_parser("entry", help="spire-server entry show")
    entry_cmd = entry.add_subparsers(dest="entry_command", metavar="show", required=True)
    entry_cmd.add_parser("show", help="the server's entries").add_argument(
        "--td", required=True, help="the server's trust domain"
    )
    svid = what.add_parser("x509", help="spire-agent api fetch x509, for a workload")
    svid_cmd = svid.add_subparsers(dest="x509_command", metavar="svid", required=True)
    svid_cmd.add_parser("svid", help="the workload's X509-SVIDs").add_argument(
        "workload", help="a workload name from the scenario"
    )
    what.add_parser("federation", help="federation status, per relationship").add_subparsers(
        dest="federation_command", metavar="status", required=True
    ).add_parser("status", help="last refresh, sequence held, next refresh, last error")
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


def _inspect(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(_scenario_path(args.scenario))
        at = parse_duration(args.at)
        if not 0 <= at <= scenario.duration:
            end = format_duration(scenario.duration)
            raise ValueError(f"--at {args.at} is outside the scenario (0 .. {end})")
        result = Simulation(scenario, seed=args.seed, until=at).run()
        if args.what == "bundle" and args.bundle_command == "show":
            text = inspection.bundle_show(result, args.td, fmt=args.format or "pem")
        elif args.what == "bundle":
            text = inspection.bundle_list(result, args.td, fmt=args.format)
        elif args.what == "entry":
            text = inspection.entry_show(result, args.td)
        elif args.what == "x509":
            text = inspection.x509_svid(result, args.workload)
        else:
            text = inspection.federation_status(result)
    except (ScenarioError, SimulationError, ClockError, ValueError) as exc:
        print(f"spire-sim: {exc}", file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(text)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "inspect":
        return _inspect(args)
    parser.print_help(sys.stdout)
    return EXIT_OK
