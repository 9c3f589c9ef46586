"""Parameter sweeps (sim.sweep and ``spire-sim sweep``): row order, overrides really applied,
the same table wherever the runs execute (in-process, a process pool, a Dask cluster), the
metrics' definitions, and clear errors before anything runs."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.clock import parse_duration
from sim.scenario import load_scenario, parse_scenario
from sim.simulation import RequestRecord, Simulation
from sim.sweep import METRICS, SweepError, _cross_domain_workloads, sweep

ROOT = Path(__file__).resolve().parents[1]
STALE = ROOT / "scenarios" / "rotation" / "stale-bundle-refresh-hint.yaml"
CA_TTL = "trust_domains.bar.example.com.server.ca_ttl"
HINT = "trust_domains.bar.example.com.server.bundle_endpoint.refresh_hint"
# bar's CA at 2h rotates (activates at 5/6 of its life) within a 2h20m run; at 24h it does not.
GRID = {CA_TTL: ["2h", "24h"], HINT: ["5m", "48h"]}
ALL = list(METRICS)
UNTIL = "2h20m"


def _rows(table: np.ndarray) -> list[tuple]:
    return table.tolist()


@pytest.fixture(scope="module")
def table() -> np.ndarray:
    return sweep(STALE, grid=GRID, seeds=[0, 1], metrics=ALL, until=UNTIL, workers=1)


def test_rows_follow_the_grid_key_order_then_seeds(table: np.ndarray) -> None:
    assert table.dtype.names == (CA_TTL, HINT, "seed", *ALL)
    assert [(r[0], r[1], r[2]) for r in _rows(table)] == [
        ("2h", "5m", 0),
        ("2h", "5m", 1),
        ("2h", "48h", 0),
        ("2h", "48h", 1),
        ("24h", "5m", 0),
        ("24h", "5m", 1),
        ("24h", "48h", 0),
        ("24h", "48h", 1),
    ]
    assert table["requests"].dtype == np.int64
    assert table["failed_fraction"].dtype == np.float64


def test_overrides_are_really_applied(table: np.ndarray) -> None:
    short = table[table[CA_TTL] == "2h"]
    long = table[table[CA_TTL] == "24h"]
    assert (short["ca_rotations"] > 0).all() and (long["ca_rotations"] == 0).all()
    # A 48h hint makes foo poll every 12 h: after bar's early rotation foo lacks the new root
    # and its requests fail; a 5m hint keeps foo fresh.
    assert (table[(table[CA_TTL] == "2h") & (table[HINT] == "48h")]["failed"] > 0).all()
    assert (table[table[HINT] == "5m"]["failed"] == 0).all()
    fast, slow = table[table[HINT] == "5m"], table[table[HINT] == "48h"]
    assert (fast["bundle_refreshes"] > slow["bundle_refreshes"]).all()


def test_each_row_equals_a_direct_run_of_the_edited_file(table: np.ndarray, tmp_path) -> None:
    # The row for (2h, 48h, seed 1) is what a plain Simulation of the hand-edited file gives.
    text = STALE.read_text()
    assert "ca_ttl: 24h" in text and "refresh_hint: 48h" in text
    path = tmp_path / "edited.yaml"
    path.write_text(text.replace("ca_ttl: 24h", "ca_ttl: 2h"))
    result = Simulation(load_scenario(path), seed=1, until=parse_duration(UNTIL)).run()
    row = table[(table[CA_TTL] == "2h") & (table[HINT] == "48h") & (table["seed"] == 1)][0]
    assert row["requests"] == len(result.requests)
    assert row["failed"] == sum(not r.ok for r in result.requests)
    assert row["log_records"] == len(result.log)
    assert row["ca_rotations"] == result.summary()["ca_rotations"]


def _seed(table: np.ndarray, seed: int) -> np.ndarray:
    return table[table["seed"] == seed]


def test_a_process_pool_gives_the_same_table(table: np.ndarray) -> None:
    seen: list[tuple[int, int]] = []
    pooled = sweep(
        STALE,
        grid=GRID,
        seeds=[1],
        metrics=ALL,
        until=UNTIL,
        workers=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert pooled.dtype == table.dtype
    assert _rows(pooled) == _rows(_seed(table, 1))
    assert seen == [(i, 4) for i in range(1, 5)]


def test_a_dask_cluster_gives_the_same_table(table: np.ndarray) -> None:
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            processes=True,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = sweep(STALE, grid=GRID, seeds=[0], metrics=ALL, until=UNTIL, client=client)
        # A scheduler address works too (the sweep opens and closes its own client).
        by_address = sweep(
            STALE,
            grid={CA_TTL: ["2h"], HINT: ["48h"]},
            seeds=[1],
            metrics=ALL,
            until=UNTIL,
            client=cluster.scheduler_address,
        )
    assert _rows(on_dask) == _rows(_seed(table, 0))
    assert _rows(by_address) == [_rows(table)[3]]


def test_scenario_as_builtin_name_and_as_yaml_text() -> None:
    ttl = "trust_domains.foo.example.com.server.upstream_authority.disk.ttl"
    kwargs = dict(grid={ttl: ["1h"]}, metrics=["ca_rotations", "log_records"], until="1h")
    by_name = sweep("seed", workers=1, **kwargs)
    text = (ROOT / "sim" / "data" / "scenarios" / "seed.yaml").read_text()
    by_text = sweep(text, workers=1, **kwargs)
    assert _rows(by_name) == _rows(by_text)
    assert by_name["seed"].tolist() == [1]  # no seeds: the scenario's own
    assert by_name["ca_rotations"].tolist() == [1]


def test_callable_metrics_are_named_after_the_function() -> None:
    def client_requests(result) -> int:
        return sum(r.workload == "client" for r in result.requests)

    table = sweep(STALE, metrics=[client_requests, "requests"], until="1h", workers=1)
    assert table.dtype.names == ("seed", "client_requests", "requests")
    assert table["client_requests"].dtype == np.int64
    assert table["client_requests"][0] == table["requests"][0] > 0


def _with_requests(outcomes: list[tuple[float, str, bool]], until: float):
    result = Simulation(load_scenario(STALE), until=60).run()
    records = [RequestRecord(t, w, ok, "" if ok else "x", 0 if ok else 56) for t, w, ok in outcomes]
    return dataclasses.replace(result, requests=records, until=until)


@pytest.mark.parametrize(
    ("outcomes", "until", "window"),
    [
        ([], 100, 0.0),
        ([(10, "client", True), (20, "client", True)], 100, 0.0),
        # first failure at 20 to the next success at 50
        (
            [
                (10, "client", True),
                (20, "client", False),
                (30, "client", False),
                (50, "client", True),
            ],
            100,
            30.0,
        ),  # fmt: skip
        # still failing at the end: up to the end of the run
        ([(10, "client", False), (20, "client", True), (70, "client", False)], 100, 30.0),
        # per workload: another workload's success does not end this one's window
        ([(10, "a", False), (20, "b", True), (40, "a", True), (90, "b", False)], 100, 30.0),
    ],
)
def test_longest_failure_window(outcomes, until, window) -> None:
    result = _with_requests(outcomes, until)
    assert METRICS["longest_failure_window"].compute(result) == window


def test_failed_fractions_count_cross_domain_requests_only() -> None:
    # client (foo) targets http-server.bar.svc.cluster.local: a Service of bar, cross-domain.
    outcomes = [(10, "client", False), (20, "client", True), (30, "local", False)]
    result = _with_requests(outcomes, 100)
    assert METRICS["failed_fraction"].compute(result) == pytest.approx(2 / 3)
    assert METRICS["failed_cross_domain_fraction"].compute(result) == 0.5
    assert math.isnan(METRICS["failed_cross_domain_fraction"].compute(_with_requests([], 100)))


@pytest.mark.parametrize(
    ("target", "cross"),
    [
        ("http-server.bar.svc.cluster.local", {"client"}),
        ("HTTP-SERVER.bar.svc.cluster.local.", {"client"}),
        ("http-server.bar.svc", {"client"}),
        ("http-server.bar", {"client"}),
        # from namespace foo a bare name searches foo's Services only
        ("http-server", set()),
        ("spire-server.bar.svc.cluster.local", set()),  # not a workload's Service
    ],
)
def test_cross_domain_means_the_sidecar_target_is_another_domains_service(target, cross) -> None:
    text = STALE.read_text().replace("http-server.bar.svc.cluster.local:18443", f"{target}:18443")
    assert f"{target}:18443" in text
    assert _cross_domain_workloads(parse_scenario(text)) == cross


def test_no_cross_domain_requests_give_nan() -> None:
    text = STALE.read_text().replace("http-server.bar.svc.cluster.local:18443", "http-server:18443")
    table = sweep(
        text, metrics=["failed_cross_domain_fraction", "requests"], until="10m", workers=1
    )
    assert table["requests"][0] > 0
    assert math.isnan(table["failed_cross_domain_fraction"][0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"grid": {CA_TTL: ["12h", "1x"]}},
            f'grid key "{CA_TTL}" value "1x": invalid duration "1x": unknown unit "x"',
        ),
        (
            {"grid": {"trust_domains.bar.example.com.server.ca_tll": ["12h"]}},
            'unknown key "ca_tll" (did you mean "ca_ttl"?)',
        ),
        (
            {"grid": {"trust_domains.baz.example.com.server.ca_ttl": ["12h"]}},
            'no key "baz" here (expected one of: bar.example.com, foo.example.com)',
        ),
        ({"grid": {CA_TTL: "12h"}}, f'grid key "{CA_TTL}": expected a list of values'),
        ({"grid": {CA_TTL: []}}, f'grid key "{CA_TTL}": expected at least one value'),
        ({"grid": {"seed": [1, 2]}}, 'grid key "seed": pass seeds=... instead'),
        ({"metrics": ["faild"]}, 'unknown metric "faild" (did you mean "failed"?)'),
        ({"seeds": [-1]}, "seeds: expected non-negative integers, got -1"),
        ({"until": "0s"}, "until: expected a positive duration"),
        ({"workers": 0}, "workers must be at least 1, got 0"),
        ({"workers": 2, "metrics": [lambda r: 1]}, 'metric "<lambda>" cannot be sent'),
    ],
)
def test_bad_input_is_refused_before_any_run(kwargs, message) -> None:
    started: list[int] = []
    kwargs = {"until": "1h", "workers": 1, **kwargs}
    with pytest.raises(SweepError) as err:
        sweep(STALE, progress=lambda done, total: started.append(done), **kwargs)
    assert message in str(err.value)
    assert started == []


def test_no_such_scenario() -> None:
    with pytest.raises(SweepError, match='no scenario "nope": not a file, a built-in name'):
        sweep("nope")


def test_cli_writes_the_csv(table: np.ndarray, tmp_path: Path, capsys) -> None:
    out = tmp_path / "table.csv"
    argv = ["sweep", str(STALE), "--grid", f"{CA_TTL}=2h,24h", "--grid", f"{HINT}=48h"]
    argv += ["--seeds", "2", "--until", UNTIL, "--metric", "ca_rotations", "--metric", "failed"]
    assert main([*argv, "--workers", "1", "--out", str(out)]) == 0
    with out.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == [CA_TTL, HINT, "seed", "ca_rotations", "failed"]
    expected = table[table[HINT] == "48h"][[CA_TTL, HINT, "seed", "ca_rotations", "failed"]]
    assert rows[1:] == [[str(v) for v in row] for row in expected.tolist()]
    assert f"wrote {out} (4 runs)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--grid", "nonsense"], 'spire-sim: --grid "nonsense": expected KEY=V1,V2,...'),
        (["--grid", f"{CA_TTL}=1h", "--grid", f"{CA_TTL}=2h"], "is given twice"),
        (["--grid", f"{CA_TTL}=1h,zz"], f'grid key "{CA_TTL}" value "zz": invalid duration'),
        (["--metric", "nope"], 'spire-sim: unknown metric "nope"'),
        (["--seeds", "0"], "spire-sim: --seeds must be at least 1, got 0"),
    ],
)
def test_cli_bad_input_exits_2(argv, message, capsys) -> None:
    assert main(["sweep", str(STALE), "--until", "1h", "--workers", "1", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
