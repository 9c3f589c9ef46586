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
    assert f"wrote {out}/events.jsonl" in capsys.readouterr().out


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
