"""The ``spire-sim`` command line: the only module that prints."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import sim
from sim import explain as explanations
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
from sim.sweep import DEFAULT_METRICS, METRICS, SweepError, sweep
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

    sweep = sub.add_parser(
        "sweep",
        help="run a scenario over a grid of --set values and seeds; write one CSV row per run",
        description="Run SCENARIO once per combination of --grid values and seed and write a "
        "CSV table: one column per grid key, seed, then one per metric. Metrics: "
        + "; ".join(f"{m.name}: {m.doc}" for m in METRICS.values()),
    )
    sweep.add_argument("scenario", help="a scenario YAML file or a built-in name (seed)")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a --set path and the values to try, e.g. "
        "trust_domains.bar.example.com.server.ca_ttl=12h,24h (repeatable; rows follow the "
        "keys' order)",
    )
    sweep.add_argument(
        "--seeds", type=int, metavar="N", help="run seeds 0..N-1 (default: the scenario's seed)"
    )
    sweep.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help=f"a metric column (repeatable; default: {', '.join(DEFAULT_METRICS)})",
    )
    sweep.add_argument("--until", help="stop every run earlier, e.g. 2h")
    sweep.add_argument(
        "--workers", type=int, help="local worker processes (default: one per CPU; 1: in-process)"
    )
    sweep.add_argument(
        "--scheduler", metavar="ADDR", help="run on this Dask scheduler (tcp://host:8786) instead"
    )
    sweep.add_argument("--out", help="the CSV file to write (default: standard output)")
    sweep.add_argument("--quiet", action="store_true", help="no progress on stderr")

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
    _add_plot_parser(sub)

    explain = sub.add_parser(
        "explain",
        help="run a scenario and explain each failed request from the model's state",
        description="Run SCENARIO to its end and list its failed requests (a run of identical "
        "failures of one workload as one item) with the chain of causes the model knows. "
        "--since/--until only choose which failures to explain.",
    )
    explain.add_argument("scenario", help="a scenario YAML file or a built-in name (seed)")
    explain.add_argument("--since", help="explain failures from this instant (a duration)")
    explain.add_argument("--until", help="explain failures up to this instant (a duration)")
    explain.add_argument("--seed", type=int, help="override the scenario's seed")
    explain.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="override a scenario value (repeatable), as for run")  # fmt: skip
    explain.add_argument("--format", choices=("text", "json"), default="text",
                         help="text (default) or json")  # fmt: skip
    return parser


PLOT_KINDS = ("timeline", "outcomes", "staleness", "topology")
# What `run --out` records so `plot RUN_DIR` can replay the very run: the scenario text as run
# (after --set) and how it was run.
RUN_SCENARIO, RUN_RECORD = "scenario.yaml", "run.json"


def _add_plot_parser(sub: Any) -> None:
    plot = sub.add_parser(
        "plot",
        help="draw a figure of a run: timeline, outcomes, staleness or topology",
        description="Run SCENARIO (a file or a built-in name), or replay the run recorded in "
        "RUN_DIR by `spire-sim run --out RUN_DIR`, and draw one figure to --out (.png or .svg).",
    )
    plot.add_argument("target", metavar="RUN_DIR_OR_SCENARIO",
                      help="a folder written by `spire-sim run --out`, a scenario YAML file or "
                      f"a built-in name ({', '.join(builtin_scenarios())})")  # fmt: skip
    plot.add_argument("--kind", required=True, choices=PLOT_KINDS, help="which figure")
    plot.add_argument("--out", required=True, help="the image file: FILE.png or FILE.svg")
    plot.add_argument("--holder", help="staleness: the trust domain holding the copy")
    plot.add_argument("--peer", help="staleness: the trust domain whose bundle it copies")
    plot.add_argument("--bin", help="outcomes: the bin width, e.g. 10m (default: ~60 bins)")
    plot.add_argument("--until", help="stop the run earlier, e.g. 2h (scenarios only)")
    plot.add_argument("--seed", type=int, help="override the scenario's seed (scenarios only)")
    plot.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override a scenario value, as for run (scenarios only)")  # fmt: skip


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
    w(
        f"wrote {out_dir}/: events.jsonl, logs/, summary.json, metrics.csv, {RUN_SCENARIO}, "
        f"{RUN_RECORD}\n"
    )


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
        _record_run(out_dir, args, result)
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


def _sweep_grid(items: Sequence[str]) -> dict[str, list[str]]:
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ValueError(f'--grid "{item}": expected KEY=V1,V2,...')
        if key in grid:
            raise ValueError(f'--grid "{key}" is given twice: list all its values in one --grid')
        grid[key] = values.split(",")
    return grid


class _SweepProgress:
    """``sweep: done/total runs`` on stderr, once the sweep has taken more than a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()  # for the human watching, never for the model
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.shown and time.monotonic() - self.started < 1.0:
            return
        self.shown = True
        self.stream.write(f"\rsweep: {done}/{total} runs done")
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")


def _sweep(args: argparse.Namespace) -> int:
    progress = None if args.quiet else _SweepProgress(sys.stderr)
    try:
        if args.seeds is not None and args.seeds < 1:
            raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
        table = sweep(
            args.scenario,
            grid=_sweep_grid(args.grid),
            seeds=None if args.seeds is None else range(args.seeds),
            metrics=args.metric or DEFAULT_METRICS,
            until=args.until,
            workers=args.workers,
            client=args.scheduler,
            progress=progress,
        )
    except (SweepError, ValueError) as exc:
        if progress is not None:
            progress.close()
        message = str(exc).removeprefix("sweep: ")
        print(f"spire-sim: {message}", file=sys.stderr)
        return EXIT_INVALID
    if progress is not None:
        progress.close()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.dtype.names)
    writer.writerows(table.tolist())
    if args.out is None:
        sys.stdout.write(out.getvalue())
        return EXIT_OK
    try:
        Path(args.out).write_text(out.getvalue(), encoding="utf-8")
    except OSError as exc:
        print(f"spire-sim: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return EXIT_INVALID
    print(f"wrote {args.out} ({len(table)} runs)", file=sys.stderr)
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


def _record_run(out_dir: Path, args: argparse.Namespace, result: Result) -> None:
    """Write the scenario as run and how, so `plot RUN_DIR` can replay this very run."""
    path = _scenario_path(args.scenario)
    text = path.read_text(encoding="utf-8")
    if args.set:
        text = apply_overrides(text, args.set, str(path))
    (out_dir / RUN_SCENARIO).write_text(text, encoding="utf-8")
    record = {
        "scenario": str(path),
        "base_dir": str(path.resolve().parent),  # relative files in the scenario resolve here
        "set": list(args.set),
        "seed": result.seed,
        "until": result.until,
    }
    (out_dir / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _replay(run_dir: Path, args: argparse.Namespace) -> Result:
    """Re-run the run recorded in ``run_dir`` and check it reproduces the recorded event log
    (runs are deterministic: same scenario and seed, byte-identical log)."""
    if args.seed is not None or args.set or args.until is not None:
        raise ValueError(f"{run_dir} is a recorded run: --seed, --set and --until apply to "
                         "scenarios only (plot the scenario file to change them)")  # fmt: skip
    scenario_file, record_file = run_dir / RUN_SCENARIO, run_dir / RUN_RECORD
    if not scenario_file.exists() or not record_file.exists():
        raise ValueError(
            f"{run_dir} does not record a run ({RUN_SCENARIO} and {RUN_RECORD} are missing): "
            "pass a folder written by `spire-sim run --out` (this version or later), or plot "
            "the scenario itself"
        )
    record = json.loads(record_file.read_text(encoding="utf-8"))
    scenario = parse_scenario(scenario_file.read_text(encoding="utf-8"),
                              f"{scenario_file} (recorded from {record['scenario']})",
                              base_dir=record["base_dir"])  # fmt: skip
    result = Simulation(scenario, seed=record["seed"], until=record["until"]).run()
    events = run_dir / "events.jsonl"
    if events.exists() and events.read_text(encoding="utf-8") != result.log.to_jsonl(result.clock):
        raise ValueError(
            f"replaying {run_dir} does not reproduce its events.jsonl (the simulator or a file "
            "the scenario reads changed since); plot the scenario instead"
        )
    return result


def _plot(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        if out.suffix.lower() not in (".png", ".svg"):
            raise ValueError(f"--out {args.out}: the file name must end in .png or .svg")
        if (args.holder or args.peer) and args.kind != "staleness":
            raise ValueError("--holder and --peer apply to --kind staleness only")
        if args.bin and args.kind != "outcomes":
            raise ValueError("--bin applies to --kind outcomes only")
        target = Path(args.target)
        if target.is_dir():
            result = _replay(target, args)
        else:
            if args.seed is not None and args.seed < 0:
                raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
            until = None if args.until is None else parse_duration(args.until)
            result = Simulation(_load(args.target, args.set), seed=args.seed, until=until).run()
        from sim import plots  # matplotlib is slow to import: only when plotting

        if args.kind == "timeline":
            fig = plots.timeline(result)
        elif args.kind == "outcomes":
            fig = plots.outcomes(result, bin=args.bin)
        elif args.kind == "staleness":
            fig = plots.staleness(result, holder=args.holder, peer=args.peer)
        else:
            fig = plots.topology(result)
    except (ScenarioError, SimulationError, ClockError, ValueError) as exc:
        print(f"spire-sim: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    except OSError as exc:
        print(f"spire-sim: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return EXIT_INVALID
    print(f"wrote {out} ({args.kind} of {result.scenario.name}, seed {result.seed})")
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    try:
        scenario = _load(args.scenario, args.set)
        if args.seed is not None and args.seed < 0:
            raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
        since = None if args.since is None else parse_duration(args.since)
        until = None if args.until is None else parse_duration(args.until)
        result = Simulation(scenario, seed=args.seed).run()
    except (ScenarioError, SimulationError, ClockError, ValueError) as exc:
        print(f"spire-sim: {exc}", file=sys.stderr)
        return EXIT_INVALID
    found = explanations.explain(result, since=since, until=until)
    if args.format == "json":
        doc = {
            "scenario": scenario.name,
            "seed": result.seed,
            "explanations": [e.to_dict(result.clock) for e in found],
        }
        print(json.dumps(doc, indent=2))
    else:
        sys.stdout.write(explanations.render(found, result.clock))
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
    if args.command == "plot":
        return _plot(args)
    if args.command == "explain":
        return _explain(args)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "generate":
        return _generate(args)
    parser.print_help(sys.stdout)
    return EXIT_OK
