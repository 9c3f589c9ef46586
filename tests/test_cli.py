"""`spire-sim` commands: exit codes, output files and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main


def test_run_without_arguments_replays_the_seed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--until", "2h"]) == 0
    out = capsys.readouterr().out
    assert "scenario seed-federation (seed 1)" in out
    assert "foo.example.com <- bar.example.com: 1 refreshed" in out
    run = tmp_path / "runs" / "seed-federation"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["end"] == "2019-12-17T02:00:00Z"
    assert summary["requests"]["ok"] == summary["requests"]["total"] > 0
    events = (run / "events.jsonl").read_text().splitlines()
    assert events and all(json.loads(line)["time"].startswith("2019-12-17T") for line in events)
    logs = sorted(p.name for p in (run / "logs").iterdir())
    assert "foo_spire-server-0.log" in logs and "operator.log" in logs
    assert any(name.endswith("_ghostunnel.log") for name in logs)


def test_out_and_seed(tmp_path: Path, capsys) -> None:
    out = tmp_path / "here"
    assert main(["run", "seed", "--seed", "7", "--until", "40m", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 7
    wrote = f"wrote {out}/: events.jsonl, logs/, summary.json, metrics.csv, scenario.yaml"
    assert wrote in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "missing.yaml"], "spire-sim: missing.yaml: cannot read scenario"),
        (["run", "--until", "5x"], 'spire-sim: invalid duration "5x": unknown unit "x"'),
        (["run", "--seed", "-1"], "spire-sim: --seed must be a non-negative integer, got -1"),
    ],
)
def test_invalid_input_exits_2_with_a_reason(argv, message, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert "Traceback" not in err


def test_a_broken_scenario_names_file_and_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstart: 2019-12-17T00:00:00Z\nduration: 1h\ncluster: 3\n")
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4:10:" in err
    assert not (tmp_path / "o").exists()


def test_python_dash_m_and_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sim", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.strip().startswith("spire-sim ")


SEED = Path(__file__).resolve().parents[1] / "scenarios" / "seed.yaml"


def test_run_checks_expectations_and_exits_1_when_one_fails(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(SEED.read_text().replace("count: {min: 40}", "count: {min: 4000}"))
    assert main(["run", str(broken), "--out", str(tmp_path / "o")]) == 1
    out = capsys.readouterr().out
    assert "expectations: 7 passed, 1 failed" in out
    assert f"FAIL  {broken}:214" in out and out.count("PASS  ") == 7


def test_run_json_quiet_metrics_and_set(tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "o"
    assert (
        main(
            [
                "run",
                "--until",
                "2h",
                "--format",
                "json",
                "--out",
                str(out_dir),
                "--set",
                "trust_domains.foo.example.com.server.svid_ttl=30m",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["requests"]["ok"] > 0
    assert len(doc["expectations"]) == 8
    assert all(e["passed"] for e in doc["expectations"] if "5h2" not in e["expectation"])
    metrics = (out_dir / "metrics.csv").read_text().splitlines()
    assert metrics[0].startswith("minute,requests_ok,")
    assert len(metrics) == 1 + 120  # one row per simulated minute
    # the override took: foo's SVIDs now live 30 minutes (+ the 10 s backdate)
    events = [json.loads(x) for x in (out_dir / "events.jsonl").read_text().splitlines()]
    assert any(
        e["msg"] == "Renewing X509-SVID"
        and e["instance"].startswith("foo/")
        and e["t"] < 3600 + 16 * 60
        for e in events
    )


def test_quiet_prints_only_failures(tmp_path: Path, capsys) -> None:
    assert main(["run", "--quiet", "--out", str(tmp_path / "o")]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trust_domains.nope.server.ca_ttl=1h", 'no key "nope" here'),
        ("novalue", "expected key.path=value"),
        ("trust_domains.foo.example.com.server.ca_ttl=1x", 'invalid duration "1x"'),
    ],
)
def test_bad_overrides_exit_2(override: str, message: str, tmp_path: Path, capsys) -> None:
    assert main(["run", "--set", override, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


FIVE_MISTAKES = """\
name: five
start: 2024-01-01T00:00:00Z
duration: 1h
profile: {spire: "1.x", ghostunnel: "latest"}
cluster: {name: kind, nodes: {cp: {control_plane: true}, w: {}}}
trust_domains:
  foo.example.com:
    namespace: foo
    tolerationz: []
    server: {svid_ttl: 1y}
    entries:
      - {spiffe_id: "spiffe://foo.example.com/a b", selectors: ["k8s_psat:ns:foo"], node: true}
workloads:
  web: {trust_domain: bar.example.com}
events:
  - {at: 2h, do: workload_restart, workload: web}
"""


def test_validate_reports_every_mistake_with_file_line_col(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "five.yaml"
    bad.write_text(FIVE_MISTAKES)
    good = SEED
    assert main(["validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 5, lines
    assert all(line.startswith(f"{bad}:") for line in lines)
    assert any(':9:5: unknown key "tolerationz" (did you mean "tolerations"?)' in x for x in lines)
    assert any(":10:24: " in x and "1y" in x for x in lines)
    assert any(":12:21: invalid SPIFFE ID" in x for x in lines)
    assert any(":14:23: " in x and "bar.example.com" in x for x in lines)
    assert any(":16:10: at 2h is after the end of the run (duration 1h)" in x for x in lines)
    assert "spire-sim: 5 problems in 2 files" in captured.err


def test_validate_semantic_checks(tmp_path: Path, capsys) -> None:
    text = SEED.read_text()
    text = text.replace(
        "parent_id: spiffe://bar.example.com/spire-agent",
        "parent_id: spiffe://bar.example.com/agent",
        1,
    )
    text = text.replace(
        "address: spire-server.bar.svc.cluster.local", "address: spire-server.baz.svc.cluster.local"
    )
    text = text.replace('tolerations: ["app=bar:NoSchedule"]', "tolerations: []")
    f = tmp_path / "semantic.yaml"
    f.write_text(text)
    assert main(["validate", str(f)]) == 2
    out = capsys.readouterr().out
    assert 'parent ID "spiffe://bar.example.com/agent" is provided by no entry' in out
    assert "spire-server.baz.svc.cluster.local:8443 is no SPIRE server of this scenario" in out
    assert "the SPIRE server of bar.example.com:" in out
    assert main(["validate", str(SEED)]) == 0


def test_export_via_the_command_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "disk"
    assert main(["export", "seed", "--at", "2h", "--out", str(out)]) == 0
    assert (out / "workloads" / "client" / "svid.pem").exists()
    assert oct((out / "workloads" / "client" / "svid_key.pem").stat().st_mode & 0o777) == "0o600"
    assert main(["export", "seed", "--at", "2h", "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_schema_prints_json_schema(capsys) -> None:
    assert main(["schema"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "trust_domains" in doc["properties"]


# -- plot --------------------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kind", ["timeline", "outcomes", "staleness", "topology"])
def test_plot_draws_each_kind_for_the_seed(kind: str, tmp_path: Path, capsys) -> None:
    png, svg = tmp_path / f"{kind}.png", tmp_path / "sub" / f"{kind}.svg"
    assert main(["plot", "seed", "--kind", kind, "--out", str(png), "--until", "2h"]) == 0
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    assert f"wrote {png} ({kind} of seed-federation, seed 1)" in capsys.readouterr().out
    assert main(["plot", "seed", "--kind", kind, "--out", str(svg), "--until", "2h"]) == 0
    text = svg.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and "<svg" in text[:400] and text.rstrip().endswith("</svg>")


def test_plot_replays_a_recorded_run(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    argv = ["run", "seed", "--until", "1h", "--seed", "3", "--out", str(run), "--quiet",
            "--set", "trust_domains.foo.example.com.server.svid_ttl=30m"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((run / "run.json").read_text())
    assert record["seed"] == 3 and record["until"] == 3600
    assert "svid_ttl: 30m" in (run / "scenario.yaml").read_text()
    out = tmp_path / "t.png"
    assert main(["plot", str(run), "--kind", "timeline", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert "(timeline of seed-federation, seed 3)" in capsys.readouterr().out
    # a recorded run is replayed as recorded, and must reproduce its log
    assert main(["plot", str(run), "--kind", "timeline", "--out", str(out), "--seed", "1"]) == 2
    assert "apply to scenarios only" in capsys.readouterr().err
    with (run / "events.jsonl").open("a", encoding="utf-8") as f:
        f.write("{}\n")
    assert main(["plot", str(run), "--kind", "outcomes", "--out", str(out)]) == 2
    assert "does not reproduce its events.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kind", "timeline", "--out", "x.pdf"], "the file name must end in .png or .svg"),
        (["--kind", "timeline", "--out", "x.png", "--holder", "foo.example.com"],
         "--holder and --peer apply to --kind staleness only"),
        (["--kind", "staleness", "--out", "x.png", "--holder", "nope", "--until", "1h"],
         "no federation relationship matches holder='nope'"),
    ],
)  # fmt: skip
def test_plot_refuses_bad_input(argv, message, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "seed", *argv]) == 2
    assert message in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["plot", str(empty), "--kind", "outcomes", "--out", "o.png"]) == 2
    assert "does not record a run" in capsys.readouterr().err
