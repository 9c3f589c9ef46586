"""Every scenario shipped under scenarios/ loads and runs; the packaged seed is the same file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenario import builtin_scenario_path, load_scenario
from sim.simulation import Simulation
from sim.validate import validate_file

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))


def test_there_are_scenarios() -> None:
    assert {p.name for p in SHIPPED} >= {"seed.yaml", "https-web.yaml"}


# These are run, with assertions of their own, by the named test modules.
RUN_ELSEWHERE = {
    "seed.yaml": "test_simulation.py",
    "https-web.yaml": "test_https_web.py",
    "rotation": "test_rotation_scenarios.py",
    "failures": "test_failures.py",
    "topologies": "test_topology.py",
}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_scenario_loads_and_is_run_by_a_test(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name and scenario.description and scenario.expect
    assert validate_file(path) == []
    key = path.name if path.parent.name == "scenarios" else path.parent.name
    module = RUN_ELSEWHERE.get(key)
    if module is not None:
        assert (ROOT / "tests" / module).read_text().count(path.stem) >= 1
        return
    result = Simulation(scenario).run()
    assert result.until == scenario.duration
    assert result.requests, "a shipped scenario should exercise requests"


def test_packaged_seed_is_the_repository_seed() -> None:
    assert (
        builtin_scenario_path("seed").read_bytes()
        == (ROOT / "scenarios" / "seed.yaml").read_bytes()
    )
