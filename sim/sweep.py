"""A parameter sweep: one scenario run for every point of a grid of ``--set`` overrides and every
seed, reduced to a few numbers per run, as one numpy table.

Each run is a pure function of the scenario text, its overrides and its seed, so the table is the
same whether the runs went to this process, a local process pool or a Dask cluster.

>>> ttl = "trust_domains.foo.example.com.server.upstream_authority.disk.ttl"
>>> table = sweep(
...     "seed",
...     grid={ttl: ["1h", "12h"]},
...     seeds=[1],
...     metrics=["bundle_refreshes", "ca_rotations"],
...     until="65m",
...     workers=1,
... )
>>> table.dtype.names[1:]
('seed', 'bundle_refreshes', 'ca_rotations')
>>> table[ttl].tolist(), table["ca_rotations"].tolist()
(['1h', '12h'], [1, 0])
"""

from __future__ import annotations

import difflib
import functools
import itertools
import json
import math
import os
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from sim import analysis
from sim.clock import ClockError, parse_duration
from sim.scenario import (
    Scenario,
    ScenarioError,
    apply_overrides,
    builtin_scenario_path,
    builtin_scenarios,
    parse_scenario,
)
from sim.simulation import Result, Simulation, SimulationError

__all__ = ["METRICS", "DEFAULT_METRICS", "Metric", "SweepError", "sweep"]


class SweepError(ValueError):
    """A sweep that cannot start (bad scenario, grid key or value, metric) or a run that failed."""


# --- metrics ---------------------------------------------------------------------------------
# Each metric reads a finished Result (its requests, its log, its final state) and returns one
# number. Adding one is one entry in METRICS below.


@dataclass(frozen=True, slots=True)
class Metric:
    """A named number computed from a finished run; ``dtype`` is its column's type (int or
    float); ``doc`` says what it counts, in one line."""

    name: str
    compute: Callable[[Result], float | int]
    dtype: type
    doc: str


def _requests(result: Result) -> int:
    return len(result.requests)


def _failed(result: Result) -> int:
    return sum(not r.ok for r in result.requests)


def _fraction(failed: int, total: int) -> float:
    # No requests: the fraction is undefined, not 0 (a run that never talked is not healthy).
    return failed / total if total else math.nan


def _failed_fraction(result: Result) -> float:
    return _fraction(_failed(result), len(result.requests))


def _cross_domain_workloads(scenario: Scenario) -> set[str]:
    """Workloads whose sidecar target is a Service of a workload in another trust domain.

    The target host is matched the way a pod's resolver finds a Service (kubelet's search path,
    as ``sim.network.Network.resolve`` does it): ``<svc>.<ns>.svc.cluster.local``,
    ``<svc>.<ns>.svc``, ``<svc>.<ns>``, and the bare ``<svc>`` from the Service's own namespace.
    """
    namespace = {spec.trust_domain: spec.namespace for spec in scenario.trust_domains}
    cross = set()
    for client in scenario.workloads:
        if client.sidecar is None:
            continue
        host = client.sidecar.target.host.lower()
        full = host.endswith(".")
        host = host.rstrip(".")
        from_ns = namespace.get(client.trust_domain)
        for server in scenario.workloads:
            if server.service is None or server.trust_domain == client.trust_domain:
                continue
            ns, svc = namespace.get(server.trust_domain), server.service.name
            names = {f"{svc}.{ns}.svc.cluster.local"}
            if not full:
                names |= {f"{svc}.{ns}.svc", f"{svc}.{ns}"} | ({svc} if ns == from_ns else set())
            if host in names:
                cross.add(client.name)
    return cross


def _failed_cross_domain_fraction(result: Result) -> float:
    cross = _cross_domain_workloads(result.scenario)
    mine = [r for r in result.requests if r.workload in cross]
    return _fraction(sum(not r.ok for r in mine), len(mine))


def _longest_failure_window(result: Result) -> float:
    """Per workload: from the first failure of a run of failures to the first later success
    (or the end of the run); the longest such span over all workloads, in seconds."""
    longest = 0.0
    first_failure: dict[str, float] = {}
    for r in sorted(result.requests, key=lambda r: (r.workload, r.t)):
        if not r.ok:
            first_failure.setdefault(r.workload, r.t)
        elif r.workload in first_failure:
            longest = max(longest, r.t - first_failure.pop(r.workload))
    for t in first_failure.values():
        longest = max(longest, result.until - t)
    return longest


def _ca_rotations(result: Result) -> int:
    return int(result.summary()["ca_rotations"])


def _bundle_refreshes(result: Result) -> int:
    return sum(int(c["refreshed"]) for c in result.summary()["bundle_refreshes"].values())


def _log_records(result: Result) -> int:
    return len(result.log)


def _longest_stale_window(result: Result) -> float:
    return float(analysis.longest_stale_window(result))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("requests", _requests, int, "curl requests made by all workloads"),
        Metric("failed", _failed, int, "requests that did not succeed"),
        Metric("failed_fraction", _failed_fraction, float, "failed / requests (nan if none)"),
        Metric(
            "failed_cross_domain_fraction",
            _failed_cross_domain_fraction,
            float,
            "failed / requests, counting only workloads whose sidecar target is a Service in "
            "another trust domain (nan if none)",
        ),
        Metric(
            "longest_failure_window",
            _longest_failure_window,
            float,
            "seconds, the longest run of failed requests of one workload: its first failure to "
            "the next success or the end",
        ),
        Metric("ca_rotations", _ca_rotations, int, "X.509 CA activations after each first one"),
        Metric(
            "bundle_refreshes",
            _bundle_refreshes,
            int,
            '"Bundle refreshed" lines, summed over federation relationships',
        ),
        Metric("log_records", _log_records, int, "records in the event log"),
        Metric(
            "longest_stale_window",
            _longest_stale_window,
            float,
            "seconds, over every federation relationship: the longest time a peer signed with "
            "an authority the holder's copy of its bundle lacked (sim.analysis)",
        ),
    )
}

DEFAULT_METRICS: tuple[str, ...] = (
    "requests",
    "failed_fraction",
    "failed_cross_domain_fraction",
    "longest_failure_window",
    "ca_rotations",
    "bundle_refreshes",
)

MetricSpec = str | Callable[[Result], Any]


# --- one run (what a worker executes) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Task:
    """Everything one run needs, small and picklable: the scenario text (not a parsed tree),
    its overrides, the seed, the horizon and the metrics by name (or module-level callables)."""

    text: str
    name: str
    base_dir: str
    overrides: tuple[str, ...]
    seed: int | None
    until: float | None
    metrics: tuple[MetricSpec, ...]


@functools.lru_cache(maxsize=32)
def _parse_point(text: str, name: str, base_dir: str, overrides: tuple[str, ...]) -> Scenario:
    """The scenario with ``overrides`` applied. Cached: a point's seeds, and the validation
    before a sweep, parse it once per process (a Scenario is immutable, so sharing is safe)."""
    if overrides:
        text = apply_overrides(text, overrides, name)
    return parse_scenario(text, name, base_dir=base_dir)


def _scenario_of(task: _Task) -> Scenario:
    return _parse_point(task.text, task.name, task.base_dir, task.overrides)


def _run(task: _Task) -> tuple[int, tuple[float | int, ...]]:
    """Run one grid point with one seed; returns the seed used and the metric values."""
    try:
        simulation = Simulation(_scenario_of(task), seed=task.seed, until=task.until)
        result = simulation.run()
        values = []
        for spec in task.metrics:
            value = (METRICS[spec].compute if isinstance(spec, str) else spec)(result)
            values.append(_number(value, spec))
    except Exception as exc:
        where = " ".join(task.overrides) or "(no overrides)"
        raise SweepError(f"sweep: run {where} seed {task.seed}: {exc}") from exc
    return simulation.seed, tuple(values)


def _number(value: Any, spec: MetricSpec) -> float | int:
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    raise SweepError(
        f"metric {_q(_metric_name(spec))} returned {type(value).__name__}, not a number"
    )


def _q(value: Any) -> str:
    """A value in double quotes, like Go's %q (strings) or as Python shows it (anything else)."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _metric_name(spec: MetricSpec) -> str:
    return spec if isinstance(spec, str) else getattr(spec, "__name__", repr(spec))


# --- the sweep -------------------------------------------------------------------------------


def _read_scenario(scenario: str | PathLike[str]) -> tuple[str, str, str]:
    """(text, name for messages, folder relative files resolve against)."""
    if isinstance(scenario, str) and "\n" in scenario:
        return scenario, "<sweep scenario>", str(Path.cwd())
    path = Path(scenario)
    if not path.exists() and isinstance(scenario, str) and scenario in builtin_scenarios():
        path = builtin_scenario_path(scenario)
        name = f"{scenario}.yaml (built-in)"
    elif not path.exists():
        raise SweepError(
            f"sweep: no scenario {_q(str(scenario))}: not a file, a built-in name "
            f"({', '.join(builtin_scenarios())}) or YAML text"
        )
    else:
        name = str(path)
    try:
        return path.read_text(encoding="utf-8"), name, str(path.parent.resolve())
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"sweep: {name}: cannot read scenario: {exc}") from None


def _value_text(value: Any) -> str:
    """A grid value as ``--set`` takes it: strings as they are, anything else as JSON (a subset
    of YAML), so ``5``, ``true`` and ``["a", "b"]`` keep their types."""
    return value if isinstance(value, str) else json.dumps(value)


def _check_grid(
    grid: Mapping[str, Iterable[Any]], metric_names: Sequence[str]
) -> dict[str, list[Any]]:
    checked: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise SweepError(f"sweep: grid key {_q(key)}: expected a dotted path like --set takes")
        if key == "seed":
            raise SweepError('sweep: grid key "seed": pass seeds=... instead')
        if key in metric_names:
            raise SweepError(f"sweep: grid key {_q(key)} has the name of a metric column")
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise SweepError(
                f"sweep: grid key {_q(key)}: expected a list of values, got {values!r}"
            )
        checked[key] = list(values)
        if not checked[key]:
            raise SweepError(f"sweep: grid key {_q(key)}: expected at least one value")
    return checked


def _check_point(text: str, name: str, base_dir: str, overrides: Sequence[str]) -> Scenario:
    try:
        scenario = _parse_point(text, name, base_dir, tuple(overrides))
        Simulation(scenario)  # building the world catches what parsing cannot (files, CAs)
    except (ScenarioError, SimulationError, ClockError) as exc:
        # Line numbers would point into the re-written YAML, not the user's file: say which
        # key and value instead.
        if isinstance(exc, ScenarioError):
            reason = "; ".join(p.message for p in exc.problems)
        else:
            reason = str(exc)
        if len(overrides) == 1:
            key, _, value = overrides[0].partition("=")
            where = f"grid key {_q(key)} value {_q(value)}"
        else:
            where = f"grid point {', '.join(overrides)}"
        raise SweepError(f"sweep: {name}: {where}: {reason}") from None
    return scenario


def _resolve_metrics(
    metrics: Sequence[MetricSpec], *, local: bool, dask: bool
) -> tuple[tuple[MetricSpec, ...], list[str]]:
    specs: list[MetricSpec] = []
    names: list[str] = []
    for spec in metrics:
        if isinstance(spec, str):
            if spec not in METRICS:
                close = difflib.get_close_matches(spec, list(METRICS), n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                raise SweepError(
                    f"sweep: unknown metric {_q(spec)}{hint}; known: {', '.join(METRICS)}"
                )
        elif not callable(spec):
            raise SweepError(f"sweep: metric {_q(spec)}: expected a name or a callable(Result)")
        elif not local and not dask:
            try:
                pickle.dumps(spec)
            except Exception:
                raise SweepError(
                    f"sweep: metric {_q(_metric_name(spec))} cannot be sent to worker processes "
                    "(a lambda or local function?): define it at module level, or use workers=1"
                ) from None
        name = _metric_name(spec)
        if name in names or name == "seed":
            raise SweepError(f"sweep: metric column {_q(name)} appears twice")
        specs.append(spec)
        names.append(name)
    return tuple(specs), names


def sweep(
    scenario: str | PathLike[str],
    grid: Mapping[str, Iterable[Any]] | None = None,
    seeds: Iterable[int] | None = None,
    metrics: Sequence[MetricSpec] = DEFAULT_METRICS,
    until: str | float | None = None,
    *,
    workers: int | None = None,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Run ``scenario`` once per grid point and seed and return one row per run.

    ``scenario`` is a file, a built-in name (``seed``) or YAML text (a string with a line
    break; files it names resolve against the current folder). ``grid`` maps ``--set``
    paths (``trust_domains.bar.example.com.server.ca_ttl``; trust domain names keep their dots)
    to the values to try; rows follow the cartesian product in the grid's key order, then
    ``seeds`` (default: the scenario's own seed). ``metrics`` are names from :data:`METRICS`
    or callables taking a :class:`~sim.simulation.Result` (column name: their ``__name__``).
    ``until`` cuts every run short (a duration or seconds).

    Every grid point is validated before anything runs; a bad key or value raises
    :class:`SweepError` naming it. Runs go to ``client`` (a ``dask.distributed.Client`` or a
    scheduler address) if given, else to a pool of ``workers`` processes (default: one per
    CPU; ``workers=1`` runs here). Workers receive the scenario text, the overrides, the seed
    and the metric names, and send back numbers only; Dask workers need spire-sim installed
    (and any upstream CA files the scenario names, at the same paths). ``progress(done,
    total)`` is called after every run.

    Columns: one string column per grid key, ``seed``, then one per metric (int or float).
    """
    seed_list: list[int | None] = [None] if seeds is None else list(seeds)
    for s in seed_list:
        if s is not None and (not isinstance(s, int | np.integer) or s < 0):
            raise SweepError(f"sweep: seeds: expected non-negative integers, got {s!r}")
    if not seed_list:
        raise SweepError("sweep: seeds: expected at least one seed")
    if isinstance(metrics, str):
        metrics = [metrics]
    if workers is not None and workers < 1:
        raise SweepError(f"sweep: workers must be at least 1, got {workers}")
    local = client is None and (workers == 1)
    specs, metric_names = _resolve_metrics(metrics, local=local, dask=client is not None)
    grid = _check_grid(grid or {}, metric_names)
    horizon = None
    if until is not None:
        try:
            horizon = parse_duration(until)
        except ClockError as exc:
            raise SweepError(f"sweep: until: {exc}") from None
        if horizon <= 0:
            raise SweepError(f"sweep: until: expected a positive duration, got {_q(until)}")

    text, name, base_dir = _read_scenario(scenario)
    try:
        _parse_point(text, name, base_dir, ())
    except ScenarioError as exc:
        raise SweepError(f"sweep: {exc}") from None
    keys = list(grid)
    values = {k: [_value_text(v) for v in grid[k]] for k in keys}
    # Each key on its own first, so a mistake is blamed on the key, not on a whole point.
    for key in keys:
        for value in values[key]:
            _check_point(text, name, base_dir, [f"{key}={value}"])
    points = list(itertools.product(*(values[k] for k in keys)))
    default_seeds: list[int] = []
    for point in points:
        overrides = [f"{k}={v}" for k, v in zip(keys, point, strict=True)]
        default_seeds.append(_check_point(text, name, base_dir, overrides).seed)

    tasks: list[_Task] = []
    rows_grid: list[tuple[str, ...]] = []
    for point, own_seed in zip(points, default_seeds, strict=True):
        overrides = tuple(f"{k}={v}" for k, v in zip(keys, point, strict=True))
        for s in seed_list:
            seed = own_seed if s is None else int(s)
            tasks.append(_Task(text, name, base_dir, overrides, seed, horizon, specs))
            rows_grid.append(point)

    outcomes = _execute(tasks, workers=workers, client=client, progress=progress)

    dtypes: list[tuple[str, Any]] = []
    for key in keys:
        width = max(1, *(len(v) for v in values[key]))
        dtypes.append((key, f"U{width}"))
    dtypes.append(("seed", np.int64))
    for i, (spec, metric) in enumerate(zip(specs, metric_names, strict=True)):
        if isinstance(spec, str):
            kind = METRICS[spec].dtype
        else:
            whole = all(isinstance(values_[i], int) for _, values_ in outcomes)
            kind = int if whole else float
        dtypes.append((metric, np.int64 if kind is int else np.float64))
    rows = [
        (*point, seed, *numbers) for point, (seed, numbers) in zip(rows_grid, outcomes, strict=True)
    ]
    return np.array(rows, dtype=dtypes)


def _execute(
    tasks: list[_Task],
    *,
    workers: int | None,
    client: Any,
    progress: Callable[[int, int], None] | None,
) -> list[tuple[int, tuple[float | int, ...]]]:
    """Run ``tasks``; results in task order, wherever each one ran."""
    total = len(tasks)
    results: list[Any] = [None] * total

    def done(n: int) -> None:
        if progress is not None:
            progress(n, total)

    if client is not None:
        return _execute_dask(tasks, client, done)
    n = (os.cpu_count() or 1) if workers is None else workers
    n = min(n, total)
    if n <= 1:
        for i, task in enumerate(tasks):
            results[i] = _run(task)
            done(i + 1)
        return results
    with ProcessPoolExecutor(max_workers=n) as pool:
        futures = {pool.submit(_run, task): i for i, task in enumerate(tasks)}
        try:
            for count, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()
                done(count)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def _execute_dask(
    tasks: list[_Task], client: Any, done: Callable[[int], None]
) -> list[tuple[int, tuple[float | int, ...]]]:
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise SweepError(
            "sweep: a Dask client needs dask.distributed: pip install 'spire-sim[dask]'"
        ) from None
    own = isinstance(client, str)
    if own:
        try:
            client = Client(client, timeout="10s")
        except OSError as exc:
            raise SweepError(f"sweep: cannot reach the Dask scheduler: {exc}") from None
    try:
        futures = client.map(_run, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(tasks)
        for count, future in enumerate(dask_completed(futures), start=1):
            results[index[future.key]] = future.result()
            done(count)
        return results
    finally:
        if own:
            client.close()
