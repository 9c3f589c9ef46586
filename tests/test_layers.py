"""The layer table of DESIGN.md section 2, enforced by reading imports with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1] / "sim"

LAYERS: dict[str, int] = {
    # L0 identity & PKI: pure, time and RNG passed in.
    "rng": 0,
    "history": 0,
    "explain": 3,
    "spiffeid": 0,
    "bundle": 0,
    "x509svid": 0,
    "ca": 0,
    "mtls": 0,
    "webpki": 0,
    "profiles": 0,
    "registration": 0,
    "jwtsvid": 0,
    # L1 runtime: no SPIRE concepts.
    "clock": 1,
    "eventlog": 1,
    "network": 1,
    # L2 actors.
    "server": 2,
    "federation": 2,
    "agent": 2,
    "workload": 2,
    "jwtclient": 2,
    "sidecar": 2,
    # L3 assembly & I/O.
    "scenario": 3,
    "simulation": 3,
    "plots": 3,
    "cli": 3,
    "inspection": 3,
    "expect": 3,
    "export": 3,
    "schema": 3,
    "validate": 3,
    "metrics": 3,
    "analysis": 3,
    "sweep": 3,
    "clusters": 3,
    "topology": 3,
    "__main__": 3,
    "__init__": 3,
}

# Third-party packages and the only modules allowed to import them (DESIGN.md section 2).
ONLY_IN = {
    # plots: the topology figure's layout; topology: generated federation and link graphs
    "networkx": {"network", "plots", "topology"},
    "matplotlib": {"plots"},
    "yaml": {"scenario"},
}
NOT_BELOW = {"simpy": 1}  # simpy never in L0


def _modules() -> list[Path]:
    return sorted(p for p in SIM.glob("*.py"))


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "sim":
                found += [(f"sim.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((node.module, node.lineno))
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.stem)
def test_module_respects_layers(path: Path) -> None:
    name = path.stem
    assert name in LAYERS, f"sim/{path.name} has no layer: add it to LAYERS and DESIGN.md"
    own = LAYERS[name]
    for module, line in _imports(path):
        top = module.split(".")[0]
        if top == "sim" and "." in module:
            target = module.split(".")[1]
            assert target in LAYERS, f"sim/{path.name}:{line} imports unknown sim.{target}"
            assert LAYERS[target] <= own, (
                f"sim/{path.name}:{line} (L{own}) imports sim.{target} (L{LAYERS[target]})"
            )
            # The CLI's `plot` subcommand is the one way in to plots besides notebooks.
            if name != "__main__" and not (name == "cli" and target == "plots"):
                assert target not in {"cli", "plots"}, f"sim/{path.name}:{line} imports {target}"
        if top in ONLY_IN:
            assert name in ONLY_IN[top], f"sim/{path.name}:{line} imports {top}"
        if top in NOT_BELOW:
            assert own >= NOT_BELOW[top], f"sim/{path.name}:{line}: {top} is not allowed in L{own}"


def test_only_cli_prints() -> None:
    offenders = []
    for path in _modules():
        if path.stem in {"cli", "__main__"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"sim/{path.name}:{node.lineno}")
    assert not offenders, f"only sim/cli.py prints: {offenders}"


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    bad = tmp_path / "bundle.py"
    bad.write_text("import simpy\nfrom sim import server\n")
    imports = _imports(bad)
    assert ("simpy", 1) in imports and ("sim.server", 2) in imports
