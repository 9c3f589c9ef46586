"""Each figure has the lanes, series and labels the run implies (artists and labels, not
pixels), with the scenario in its title and dates on its time axis."""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from sim import analysis, plots
from sim.clock import parse_duration
from sim.scenario import builtin_scenario_path, load_scenario
from sim.simulation import Result, Simulation

R4 = (
    Path(__file__).resolve().parents[1]
    / "scenarios"
    / "failures"
    / "r4-partition-during-rotation.yaml"
)  # noqa: E501
FOO, BAR = "foo.example.com", "bar.example.com"


@pytest.fixture(scope="module")
def seed() -> Result:
    return Simulation(load_scenario(builtin_scenario_path("seed"))).run()


@pytest.fixture(scope="module")
def r4() -> Result:
    return Simulation(load_scenario(R4)).run()


def _ticks(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_yticklabels()]


def _legend(fig: Figure) -> list[str]:
    legend = fig.axes[0].get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def _x_range_is_the_run(fig: Figure, result: Result) -> None:
    lo, hi = fig.axes[0].get_xlim()
    start = mdates.num2date(lo)
    assert start.replace(tzinfo=None) == result.clock.to_datetime(0).replace(tzinfo=None)
    assert (hi - lo) * 86400 == pytest.approx(result.until)
    assert "UTC" in fig.axes[0].get_xlabel()


def test_timeline_lanes(r4: Result) -> None:
    fig = plots.timeline(r4)
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_title() == "Rotation timeline - r4-partition-during-rotation, seed 1"
    lanes = _ticks(fig)
    table = analysis.authorities(r4)
    # one lane per CA and JWT key, then per workload, then per relationship, top to bottom
    expected = [
        f"{td.split('.')[0]} {'X.509 CA' if k == 'x509' else 'JWT key'} {a[:8]}"
        for td, k, a in zip(table["trust_domain"], table["kind"], table["authority_id"],
                            strict=True)
    ] + ["http-server SVIDs", "client SVIDs", "bar <- foo bundle", "foo <- bar bundle"]  # fmt: skip
    assert lanes == expected
    # one black circle per activation within the run (bar's next CA is only prepared)
    lines = fig.axes[0].get_lines()
    circles = [line for line in lines if line.get_marker() == "o" and len(line.get_xdata())]
    activated = table["activated"][~np.isnan(table["activated"])]
    assert len(circles) == len(activated)
    legend = _legend(fig)
    assert {FOO, BAR, "prepared", "activated", "bundle refreshed", "stale window"} <= set(legend)
    _x_range_is_the_run(fig, r4)


def test_timeline_svid_bars_match_the_holds(seed: Result) -> None:
    fig = plots.timeline(seed)
    # broken_barh draws PolyCollections
    bars = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    holds = analysis.svid_intervals(seed)
    table = analysis.authorities(seed)
    stale = sum(len(analysis.stale_windows(seed, h, p)) for h, p in analysis.relationships(seed))
    # validity + active bar per authority (seed: all active from the start), one bar per
    # held SVID, one per stale window
    assert len(bars) == 2 * len(table) + len(holds) + stale
    assert "stale window" in _legend(fig)


def test_outcomes_series(r4: Result, seed: Result) -> None:
    fig = plots.outcomes(r4, bin="1h")
    ax = fig.axes[0]
    assert ax.get_title() == "Requests by outcome (per 1h) - r4-partition-during-rotation, seed 1"
    assert ax.get_ylabel() == "requests per 1h"
    assert _legend(fig) == ["ok", "unknown_authority"]
    failed_total = sum(not r.ok for r in r4.requests)
    assert ax.get_legend().get_title().get_text() == (
        f"{len(r4.requests)} requests, {failed_total} failed"
    )
    # one bar per bin and reason; heights sum to the requests
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 2 * 30 and sum(heights) == len(r4.requests)
    failed = [p for p in ax.containers[1] if p.get_height()]  # the unknown_authority series
    assert sum(p.get_height() for p in failed) == failed_total
    starts = sorted(round((mdates.num2date(p.get_x()) - r4.clock.to_datetime(0)).total_seconds())
                    for p in failed)  # fmt: skip
    assert starts[0] == parse_duration("20h") and starts[-1] == parse_duration("22h")
    # default bin: about 60-80 per run
    auto = plots.outcomes(seed)
    assert 30 <= len(auto.axes[0].containers[0]) <= 80
    _x_range_is_the_run(auto, seed)


def test_staleness_picks_the_longest_window(r4: Result) -> None:
    fig = plots.staleness(r4)
    ax = fig.axes[0]
    assert ax.get_title() == (
        "What foo.example.com holds of bar.example.com's bundle - "
        "r4-partition-during-rotation, seed 1"
    )
    lanes = _ticks(fig)
    bar_auth = analysis.authorities(r4, trust_domain=BAR)
    assert len(lanes) == len(bar_auth) + 1 and lanes[-1] == "foo's polls of bar"
    legend = _legend(fig)
    longest = analysis.longest_stale_window(r4, FOO, BAR)
    assert f"stale window (longest {'1h59m50s'})" in legend and longest == 7190
    assert {"published by bar (its own bundle)", "in foo's copy", "in use by bar (activated)",
            "poll ok", "poll failed"} <= set(legend)  # fmt: skip
    # the shaded span is the stale window: 20h10s to the first refresh after the 22h heal
    (span,) = [p for p in ax.patches if p.get_label().startswith("stale window")]
    window = analysis.stale_windows(r4, FOO, BAR)[0]
    x0 = mdates.date2num(r4.clock.to_datetime(window["start"]).replace(tzinfo=None))
    assert span.get_x() == pytest.approx(x0)
    assert span.get_width() * 86400 == pytest.approx(window["duration"])


def test_staleness_of_a_named_relationship(seed: Result) -> None:
    fig = plots.staleness(seed, holder=BAR, peer=FOO)
    assert fig.axes[0].get_title().startswith("What bar.example.com holds of foo.example.com's")
    with pytest.raises(ValueError, match="no federation relationship"):
        plots.staleness(seed, holder=FOO, peer=FOO)


def test_topology_nodes_and_edges(seed: Result) -> None:
    fig = plots.topology(seed)
    ax = fig.axes[0]
    assert ax.get_title() == "Topology - seed-federation"
    texts = {t.get_text() for t in ax.texts}
    assert {"cluster\nspire-federation", "spire-federation-\nworker2", "spire-server\nfoo",
            "agent\nbar", "http-server", "client"} <= texts  # fmt: skip
    legend = _legend(fig)
    assert {FOO, BAR, "federation: fetches peer's bundle", "mTLS traffic (sidecar target)"} <= set(
        legend
    )
    # two federation arrows (each server fetches the other's bundle) and one traffic arrow
    from matplotlib.patches import FancyArrowPatch

    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    blue = [
        a for a in arrows if a.get_edgecolor()[:3] == pytest.approx((0.0, 0.447, 0.698), abs=1e-3)
    ]
    orange = [
        a for a in arrows if a.get_edgecolor()[:3] == pytest.approx((0.835, 0.369, 0.0), abs=1e-3)
    ]
    assert len(blue) == 2 and len(orange) == 1


def test_topology_from_a_scenario_places_pods_like_the_run(seed: Result) -> None:
    fig = plots.topology(seed.scenario)
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == sorted(t.get_text() for t in plots.topology(seed).axes[0].texts)


def test_timeline_collapses_many_authorities() -> None:
    fast = Path(__file__).resolve().parents[1] / "scenarios" / "rotation" / "fast-ca-1m.yaml"
    result = Simulation(load_scenario(fast)).run()
    table = analysis.authorities(result)
    assert len(table) > plots.MAX_AUTHORITY_LANES
    n_ca = int((table["kind"] == "x509").sum())
    n_jwt = int((table["kind"] == "jwt").sum())
    lanes = _ticks(plots.timeline(result))
    assert lanes[:2] == [f"example.org X.509 CAs ({n_ca})", f"example.org JWT keys ({n_jwt})"]
    with pytest.raises(ValueError, match="relationships in this run: none"):
        plots.staleness(result)


def test_sweep_heatmap_reduces_seeds_and_frames_cells() -> None:
    from matplotlib.patches import Rectangle

    from sim.sweep import sweep

    hint = "trust_domains.foo.example.com.server.upstream_authority.disk.ttl"
    table = sweep("seed", grid={hint: ["1h", "12h"]}, seeds=[1, 2],
                  metrics=["ca_rotations"], until="65m", workers=1)  # fmt: skip
    fig = plots.sweep_heatmap(table, hint, "seed", "ca_rotations", outline=[("1h", 2)],
                              outline_label="framed")  # fmt: skip
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1h", "12h"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2"]
    # A 1h upstream CA rotates within 65 minutes, a 12h one does not, whatever the seed.
    assert sorted(t.get_text() for t in ax.texts) == ["0", "0", "1", "1"]
    frames = [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]
    assert [(f.get_x(), f.get_y()) for f in frames] == [(-0.5, 0.5)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["framed"]
    with pytest.raises(ValueError, match='no column "nope"'):
        plots.sweep_heatmap(table, hint, "seed", "nope")
