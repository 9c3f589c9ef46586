"""The ``spire-sim`` command line: the only module that prints."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import sim
from sim import inspection
from sim.clock import ClockError, format_duration, parse_duration
from sim.expect import check
from sim.export import export
from sim.metrics import metrics_csv
from sim.scenario import (
    Scenario,
    ScenarioError,
    apply_overrides,
    builtin_scenario_path,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from sim.schema import render_reference, scenario_schema
from sim.simulation import Result, Simulation, SimulationError
from sim.validate import validate_file

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


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
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario value, e.g. trust_domains.bar.example.com.server.ca_ttl=12h "
        "(repeatable)",
    )
    run.add_argument("--format", choices=("text", "json"), default="text",
                     help="the console summary: text (default) or json")  # fmt: skip
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary")

    validate = sub.add_parser(
        "validate",
        help="check scenario files and report every mistake as file:line:col",
        description="Check scenario files: syntax, types, references, and what only the "
        "assembled world shows. Exit 0 if all are valid, 2 otherwise.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")

    export = sub.add_parser(
        "export",
        help="write the SVIDs, keys and bundles a deployment would have on disk at an instant",
        description="Run SCENARIO up to --at and write each workload's SVID, key and bundles "
        "(spiffe-helper's layout) and each server's bundle to --out, which must be empty or new.",
    )
    export.add_argument("scenario", help="a scenario YAML file or a built-in name (seed)")
    export.add_argument("--at", required=True, help="the instant, as a duration from the start")
    export.add_argument("--out", required=True, help="an empty or new folder")
    export.add_argument("--seed", type=int, help="override the scenario's seed")

    schema = sub.add_parser("schema", help="print the scenario language's JSON Schema")
    schema.add_argument(
        "--markdown",
        action="store_true",
        help="print the scenario reference (docs/scenario-reference.md) instead",
    )

    _add_generate(sub)

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


def _load(arg: str, overrides: Sequence[str] = ()) -> Scenario:
    path = _scenario_path(arg)
    builtin = not Path(arg).exists() and arg in builtin_scenarios()
    if not overrides and not builtin:
        return load_scenario(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read scenario: {exc.strerror}") from None
    name = f"{arg}.yaml (built-in)" if builtin else str(path)
    if overrides:
        text = apply_overrides(text, overrides, name)
        name += " (with --set)"
    return parse_scenario(text, name, base_dir=path.parent)


class _Progress:
    """A one-line progress bar on stderr, shown once a run has taken more than a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        # The wall clock is for the human watching, never for the model (ruff bans it in sim/
        # elsewhere; see pyproject.toml).
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, now: float, until: float) -> None:
        if not self.shown and time.monotonic() - self.started < 1.0:
            return
        self.shown = True
        done = now / until if until else 1.0
        bar = "=" * int(30 * done)
        self.stream.write(
            f"\r[{bar:<30}] {100 * done:5.1f}%  {format_duration(now)} of "
            f"{format_duration(until)} simulated"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")


def _run(args: argparse.Namespace) -> int:
    try:
        scenario = _load(args.scenario, args.set)
        until = None if args.until is None else parse_duration(args.until)
        if args.seed is not None and args.seed < 0:
            raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
        simulation = Simulation(scenario, seed=args.seed, until=until)
    except (ScenarioError, SimulationError, ClockError, ValueError) as exc:
        print(f"spire-sim: {exc}", file=sys.stderr)
        return EXIT_INVALID
    progress = None if args.quiet else _Progress(sys.stderr)
    result = simulation.run(progress=progress)
    if progress is not None:
        progress.close()
    out_dir = Path(args.out) if args.out else Path("runs") / scenario.name
    try:
        result.write(out_dir)
        (out_dir / "metrics.csv").write_text(metrics_csv(result), encoding="utf-8")
    except OSError as exc:
        print(f"spire-sim: cannot write {out_dir}: {exc.strerror}", file=sys.stderr)
        return EXIT_INVALID
    outcomes = check(result)
    failed = [o for o in outcomes if not o.passed]
    if args.format == "json":
        doc = {
            "summary": result.summary(),
            "expectations": [
                {
                    "passed": o.passed,
                    "source": o.source,
                    "expectation": o.description,
                    "detail": o.detail,
                }
                for o in outcomes
            ],  # fmt: skip
            "output": str(out_dir),
        }
        print(json.dumps(doc, indent=2))
    elif not args.quiet:
        _print_summary(result, out_dir, sys.stdout)
        if outcomes:
            skipped = sum(o.skipped for o in outcomes)
            passed = len(outcomes) - len(failed) - skipped
            line = f"expectations: {passed} passed, {len(failed)} failed"
            print(line + (f", {skipped} skipped (after --until)" if skipped else ""))
            for o in outcomes:
                print(f"  {o.render()}")
    else:
        for o in failed:
            print(o.render())
    return EXIT_FAILED if failed else EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    problems = []
    for name in args.files:
        problems += validate_file(name)
    for p in problems:
        print(p)
    if problems:
        many = "s" if len(problems) != 1 else ""
        files = "s" if len(args.files) != 1 else ""
        print(
            f"spire-sim: {len(problems)} problem{many} in {len(args.files)} file{files}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    print(f"{len(args.files)} scenario file{'s' if len(args.files) != 1 else ''} valid")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    try:
        written = export(_run_to_instant(args), args.out)
    except (ScenarioError, SimulationError, ClockError, ValueError) as exc:
        print(f"spire-sim: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"wrote {len(written)} files to {args.out} (see {args.out}/manifest.json)")
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    doc = scenario_schema()
    if args.markdown:
        sys.stdout.write(render_reference(doc))
    else:
        print(json.dumps(doc, indent=2))
    return EXIT_OK


def _run_to_instant(args: argparse.Namespace) -> Result:
    """Run ``args.scenario`` up to ``args.at`` (inspect and export look at that instant)."""
    scenario = _load(args.scenario)
    at = parse_duration(args.at)
    if not 0 <= at <= scenario.duration:
        end = format_duration(scenario.duration)
        raise ValueError(f"--at {args.at} is outside the scenario (0 .. {end})")
    return Simulation(scenario, seed=args.seed, until=at).run()


def _inspect(args: argparse.Namespace) -> int:
    try:
        result = _run_to_instant(args)
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


def _add_generate(sub: Any) -> None:
    from sim.topology import GRAPH_KINDS

    gen = sub.add_parser(
        "generate",
        help="write a generated scenario: N trust domains over M clusters",
        description="Generate a scenario: N trust domains (each a SPIRE server, agents and "
        "workloads) placed round robin over M clusters, federated as the --federation graph, "
        "the clusters linked as the --network graph. Clients target federated peers; the "
        "first client of a trust domain with non-federated peers targets one of those, and "
        "the expect: section says which requests succeed and which fail.",
    )
    gen.add_argument("--trust-domains", type=int, required=True, metavar="N")
    gen.add_argument("--clusters", type=int, required=True, metavar="M")
    gen.add_argument("--workloads", type=int, required=True, metavar="W")
    gen.add_argument("--federation", choices=GRAPH_KINDS, required=True)
    gen.add_argument("--network", choices=GRAPH_KINDS, default="mesh",
                     help="how clusters are linked (default: mesh)")  # fmt: skip
    gen.add_argument("--seed", type=int, default=1, help="seed of the run and of random graphs")
    gen.add_argument("--duration", default="1h", help="simulated time (default 1h)")
    gen.add_argument("--every", default="1m", help="each client's curl interval (default 1m)")
    gen.add_argument("--latency", default="5ms", help="one-way latency per link (default 5ms)")
    gen.add_argument("--loss", type=float, default=0.0, help="loss per link, 0 <= p < 1")
    gen.add_argument("--spire", default="1.x", help='SPIRE profile (default "1.x")')
    gen.add_argument("--ghostunnel", default="latest", choices=("1.5.2", "latest"))
    gen.add_argument("--out", required=True, metavar="FILE.yaml")


def _generate(args: argparse.Namespace) -> int:
    from sim.topology import TopologyError, TopologySpec, generate, render

    try:
        spec = TopologySpec(
            trust_domains=args.trust_domains,
            clusters=args.clusters,
            workloads=args.workloads,
            federation=args.federation,
            network=args.network,
            seed=args.seed,
            duration=parse_duration(args.duration),
            every=parse_duration(args.every),
            latency=parse_duration(args.latency),
            loss=args.loss,
            spire=args.spire,
            ghostunnel=args.ghostunnel,
        )
        text = render(generate(spec), header=f"spire-sim generate {_generate_argv(args)}")
    except (TopologyError, ClockError) as exc:
        print(f"spire-sim generate: {exc}", file=sys.stderr)
        return EXIT_INVALID
    Path(args.out).write_text(text, encoding="utf-8")
    problems = validate_file(args.out)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"wrote {args.out}")
    return EXIT_INVALID if problems else EXIT_OK


def _generate_argv(args: argparse.Namespace) -> str:
    parts = [
        f"--trust-domains {args.trust_domains}", f"--clusters {args.clusters}",
        f"--workloads {args.workloads}", f"--federation {args.federation}",
        f"--network {args.network}", f"--seed {args.seed}", f"--duration {args.duration}",
        f"--every {args.every}", f"--latency {args.latency}",
    ]  # fmt: skip
    if args.loss:
        parts.append(f"--loss {args.loss}")
    if args.spire != "1.x" or args.ghostunnel != "latest":
        parts.append(f"--spire {args.spire} --ghostunnel {args.ghostunnel}")
    return " ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "inspect":
        return _inspect(args)
    if args.command == "validate":
        return _validate(args)
    if args.command == "export":
        return _export(args)
    if args.command == "schema":
        return _schema(args)
    if args.command == "generate":
        return _generate(args)
    parser.print_help(sys.stdout)
    return EXIT_OK
