"""Figures of a run: the rotation timeline, request outcomes over time, a relationship's stale
window, and the deployment's topology. Each function returns a matplotlib ``Figure`` (Agg
backend, never shown) with simulated UTC time on the x axis, labels, a legend and a title naming
the scenario; the data come from :mod:`sim.analysis`, so the pictures and the tables agree.

>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> from sim.simulation import Simulation
>>> result = Simulation(load_scenario(builtin_scenario_path("seed")), until=2 * 3600).run()
>>> fig = outcomes(result)
>>> fig.axes[0].get_title()
'Requests by outcome (per 2m) - seed-federation, seed 1'
>>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
['ok']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window (and no display needed in CI)

import matplotlib.dates as mdates  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from sim import analysis  # noqa: E402
from sim.clock import human_duration, parse_duration  # noqa: E402
from sim.scenario import Scenario  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from sim.simulation import Result

__all__ = ["outcomes", "staleness", "sweep_heatmap", "timeline", "topology"]

# Colour-blind-safe categorical colours (Okabe-Ito), in a fixed order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
OK_COLOUR = "#009E73"
FAIL_COLOURS = ("#D55E00", "#CC79A7", "#E69F00", "#0072B2", "#56B4E9", "#F0E442", "#000000")
STALE_COLOUR = "#D55E00"
# Beyond this many CAs and JWT keys, timeline() draws one lane per trust domain and kind.
MAX_AUTHORITY_LANES = 16
MAX_RENEWAL_MARKS = 150
# Nice bin widths for outcomes(), smallest first.
_BINS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400)


# -- shared helpers ----------------------------------------------------------------------------


def _title(result: Result, what: str) -> str:
    return f"{what} - {result.scenario.name}, seed {result.seed}"


def _dates(result: Result, ts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Sim seconds -> matplotlib date numbers (days), UTC."""
    start = mdates.date2num(result.clock.to_datetime(0).replace(tzinfo=None))
    return start + np.asarray(ts, dtype=float) / 86400.0


def _days(seconds: float) -> float:
    return seconds / 86400.0


def _time_axis(ax: Axes, result: Result) -> None:
    """Date ticks over the whole run, in UTC."""
    ax.set_xlim(*_dates(result, [0.0, result.until]))
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    start: datetime = result.clock.to_datetime(0)
    ax.set_xlabel(f"simulated time (UTC; run starts {start:%Y-%m-%d %H:%M:%S})")


def _short(td: str) -> str:
    """``foo.example.com`` -> ``foo`` for lane labels (the legend names the full domains);
    a two-label name such as ``example.org`` stays whole."""
    labels = td.split(".")
    return labels[0] if len(labels) > 2 else td


def _intervals_present(
    changes: Sequence[Any], present: Any, until: float
) -> list[tuple[float, float]]:
    """Spans of ``[0, until)`` during which ``present(change)`` held for the change in effect."""
    spans: list[tuple[float, float]] = []
    since: float | None = None
    for ch in changes:
        if ch.t >= until:
            break
        if present(ch) and since is None:
            since = ch.t
        elif not present(ch) and since is not None:
            spans.append((since, ch.t))
            since = None
    if since is not None:
        spans.append((since, until))
    return [(a, b) for a, b in spans if b > a]


def _bars(ax: Axes, result: Result, y: float, spans: Sequence[tuple[float, float]], *,
          height: float, **style: Any) -> None:  # fmt: skip
    clipped = [(max(0.0, a), min(result.until, b)) for a, b in spans]
    clipped = [(a, b) for a, b in clipped if b > a]
    if clipped:
        ax.broken_barh(
            [(float(_dates(result, [a])[0]), _days(b - a)) for a, b in clipped],
            (y - height / 2, height),
            **style,
        )


def _shade_stale(ax: Axes, result: Result, windows: np.ndarray, label: str | None) -> None:
    for i, (a, b) in enumerate(zip(windows["start"], windows["end"], strict=True)):
        x0, x1 = _dates(result, [a, b])
        ax.axvspan(x0, x1, color=STALE_COLOUR, alpha=0.12, lw=0, label=label if i == 0 else None)


# -- timeline ----------------------------------------------------------------------------------


def timeline(result: Result) -> Figure:
    """One lane per X.509 CA and JWT key of each trust domain (validity as a light bar, the
    active span dark, marks where it was prepared and activated), one lane per workload (the
    SVIDs it held, alternating shades, a mark at each renewal), and one lane per federation
    relationship (successful and failed bundle polls, stale windows shaded)."""
    auth = analysis.authorities(result)
    svids = analysis.svid_intervals(result)
    rels = analysis.relationships(result)
    lanes: list[str] = []
    n_auth = len(auth) if len(auth) <= MAX_AUTHORITY_LANES else 2 * len(set(auth["trust_domain"]))
    n_lanes = n_auth + len(result.scenario.workloads) + len(rels)
    fig = Figure(figsize=(13, 2.2 + 0.42 * n_lanes), layout="constrained")
    ax = fig.add_subplot()
    domains = [td.trust_domain.name for td in result.scenario.trust_domains]
    colour = {td: PALETTE[i % len(PALETTE)] for i, td in enumerate(domains)}

    def lane(label: str) -> float:
        lanes.append(label)
        return float(-len(lanes))

    # A lane per authority while they fit; past that (a 1-minute CA rotates dozens of times)
    # one lane per trust domain and kind, authorities in alternating shades.
    collapsed = len(auth) > MAX_AUTHORITY_LANES
    groups: dict[str, list[Any]] = {}
    for row in auth:
        td, kind, aid = str(row["trust_domain"]), str(row["kind"]), str(row["authority_id"])
        what = "X.509 CA" if kind == "x509" else "JWT key"
        label = f"{_short(td)} {what}s" if collapsed else f"{_short(td)} {what} {aid[:8]}"
        groups.setdefault(label, []).append(row)
    for label, rows in groups.items():
        y = lane(f"{label} ({len(rows)})" if collapsed else label)
        for i, row in enumerate(rows):
            td = str(row["trust_domain"])
            born = row["prepared"] if not math.isnan(row["prepared"]) else row["activated"]
            end = row["not_after"] if not math.isnan(row["not_after"]) else result.until
            if not math.isnan(born) and not collapsed:
                _bars(ax, result, y, [(born, end)], height=0.5, facecolors=colour[td], alpha=0.25)
            if not math.isnan(row["activated"]):
                stop = row["retired"] if not math.isnan(row["retired"]) else end
                _bars(ax, result, y, [(row["activated"], stop)], height=0.5,
                      facecolors=colour[td], alpha=1.0 if i % 2 == 0 else 0.6)  # fmt: skip
            for step, marker in (("prepared", "^"), ("activated", "o")):
                if not math.isnan(row[step]) and row[step] <= result.until and not collapsed:
                    ax.plot(_dates(result, [row[step]]), [y], marker=marker, color="black",
                            ms=6, ls="none", zorder=3)  # fmt: skip
    for wl in result.scenario.workloads:
        rows = svids[svids["workload"] == wl.name]
        y = lane(f"{wl.name} SVIDs")
        td = wl.trust_domain.name
        for i, r in enumerate(rows):
            _bars(ax, result, y, [(r["held_from"], r["held_until"])], height=0.5,
                  facecolors=colour[td], alpha=0.9 if i % 2 == 0 else 0.55,
                  edgecolor="white", linewidth=0.5)  # fmt: skip
        renewals = rows["held_from"][1:]
        if 0 < len(renewals) <= MAX_RENEWAL_MARKS:  # beyond that the shades say it
            ax.plot(_dates(result, renewals), [y] * len(renewals), marker="|", color="black",
                    ms=9, ls="none", zorder=3)  # fmt: skip
    any_stale = False
    for holder, peer in rels:
        y = lane(f"{_short(holder)} <- {_short(peer)} bundle")
        fetches = result.history.fetches_of(holder, peer)
        good = [f.t for f in fetches if f.ok]
        bad = [f.t for f in fetches if not f.ok]
        if good:
            ax.plot(_dates(result, good), [y] * len(good), marker="|", ms=10, ls="none",
                    color=OK_COLOUR, zorder=3)  # fmt: skip
        if bad:
            ax.plot(_dates(result, bad), [y] * len(bad), marker="x", ms=5, ls="none",
                    color=STALE_COLOUR, zorder=3)  # fmt: skip
        windows = analysis.stale_windows(result, holder, peer)
        for a, b in zip(windows["start"], windows["end"], strict=True):
            _bars(ax, result, y, [(a, b)], height=0.8, facecolors=STALE_COLOUR, alpha=0.25)
            any_stale = True
    ax.set_yticks([-(i + 1) for i in range(len(lanes))], lanes)
    ax.set_ylim(-len(lanes) - 0.7, -0.3)
    ax.grid(axis="x", alpha=0.3)
    _time_axis(ax, result)
    ax.set_title(_title(result, "Rotation timeline"))
    handles: list[Any] = [Patch(facecolor=colour[td], label=td) for td in domains]
    handles += [
        Patch(facecolor="grey", alpha=0.25, label="CA/key validity (prepared to notAfter)"),
        Patch(facecolor="grey", label="active (signing) / SVID held"),
        Line2D([], [], marker="^", color="black", ls="none", label="prepared"),
        Line2D([], [], marker="o", color="black", ls="none", label="activated"),
        Line2D([], [], marker="|", color="black", ls="none", ms=9, label="SVID renewed"),
    ]
    if rels:
        handles += [
            Line2D([], [], marker="|", color=OK_COLOUR, ls="none", ms=10,
                   label="bundle refreshed"),
            Line2D([], [], marker="x", color=STALE_COLOUR, ls="none", label="bundle poll failed"),
        ]  # fmt: skip
    if any_stale:
        handles.append(Patch(facecolor=STALE_COLOUR, alpha=0.25, label="stale window"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


# -- outcomes ----------------------------------------------------------------------------------


def _auto_bin(until: float) -> float:
    for width in _BINS:
        if until / width <= 80:
            return float(width)
    return float(_BINS[-1])


def outcomes(result: Result, bin: str | float | None = None) -> Figure:  # noqa: A002
    """Requests over time as stacked bars per bin: ok, then each failure reason. ``bin`` is a
    duration (``"10m"``); by default about 60 bins over the run."""
    width = _auto_bin(result.until) if bin is None else parse_duration(bin)
    table = analysis.outcomes(result, bin=width)
    fig = Figure(figsize=(12, 5), layout="constrained")
    ax = fig.add_subplot()
    reasons = list(dict.fromkeys(table["reason"].tolist()))
    bottom = np.zeros(len(table) // max(1, len(reasons)))
    fails = iter(FAIL_COLOURS)
    for reason in reasons:
        rows = table[table["reason"] == reason]
        colour = OK_COLOUR if reason == "ok" else next(fails, "grey")
        ax.bar(_dates(result, rows["t"]), rows["count"], width=_days(width) * 0.9,
               bottom=bottom, align="edge", color=colour, label=reason)  # fmt: skip
        bottom = bottom + rows["count"]
    _time_axis(ax, result)
    ax.set_ylabel(f"requests per {human_duration(width)}")
    ax.grid(axis="y", alpha=0.3)
    total = len(result.requests)
    failed = sum(not r.ok for r in result.requests)
    ax.set_title(_title(result, f"Requests by outcome (per {human_duration(width)})"))
    ax.legend(title=f"{total} requests, {failed} failed", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), fontsize="small")  # fmt: skip
    return fig


# -- staleness ---------------------------------------------------------------------------------


def staleness(result: Result, holder: str | None = None, peer: str | None = None) -> Figure:
    """One relationship (by default the one with the longest stale window): for each of the
    peer's authorities, when the peer published it (its own bundle), when the holder's copy had
    it and when the peer was using it; stale windows shaded, the holder's polls below."""
    rels = [
        (h, p) for h, p in analysis.relationships(result)
        if (holder is None or h == holder) and (peer is None or p == peer)
    ]  # fmt: skip
    if not rels:
        known = ", ".join(f"{h} <- {p}" for h, p in analysis.relationships(result)) or "none"
        raise ValueError(
            f"no federation relationship matches holder={holder!r} peer={peer!r} "
            f"(holder <- peer relationships in this run: {known})"
        )
    holder, peer = max(rels, key=lambda hp: analysis.longest_stale_window(result, *hp))
    history = result.history
    own = history.bundle_changes(peer, peer)
    copy = history.bundle_changes(holder, peer)
    auth = analysis.authorities(result, trust_domain=peer)
    roots = {
        (ev.kind, ev.authority_id): ev.roots
        for ev in history.authorities
        if ev.trust_domain == peer and ev.roots
    }
    fig = Figure(figsize=(13, 2.6 + 0.55 * (len(auth) + 1)), layout="constrained")
    ax = fig.add_subplot()
    labels: list[str] = []
    for i, row in enumerate(auth):
        y = float(-(i + 1))
        kind, aid = str(row["kind"]), str(row["authority_id"])
        labels.append(f"{'X.509 CA' if kind == 'x509' else 'JWT key'} {aid[:8]}")
        if kind == "x509":
            needs = set(roots.get((kind, aid), ())) or {aid}

            def has(ch: Any, needs: set[str] = needs) -> bool:
                return bool(needs & set(ch.x509_ids))
        else:

            def has(ch: Any, aid: str = aid) -> bool:
                return aid in ch.jwt_ids

        _bars(ax, result, y + 0.25, _intervals_present(own, has, result.until), height=0.22,
              facecolors="#0072B2")  # fmt: skip
        _bars(ax, result, y, _intervals_present(copy, has, result.until), height=0.22,
              facecolors="#56B4E9")  # fmt: skip
        if not math.isnan(row["activated"]):
            stop = row["retired"] if not math.isnan(row["retired"]) else result.until
            _bars(ax, result, y - 0.25, [(row["activated"], stop)], height=0.22,
                  facecolors="#E69F00")  # fmt: skip
    y = float(-(len(auth) + 1))
    labels.append(f"{_short(holder)}'s polls of {_short(peer)}")
    fetches = history.fetches_of(holder, peer)
    good = [f.t for f in fetches if f.ok]
    bad = [f.t for f in fetches if not f.ok]
    if good:
        ax.plot(_dates(result, good), [y] * len(good), marker="|", ms=12, ls="none",
                color=OK_COLOUR, label="poll ok")  # fmt: skip
    if bad:
        ax.plot(_dates(result, bad), [y] * len(bad), marker="x", ms=5, ls="none",
                color=STALE_COLOUR, label="poll failed")  # fmt: skip
    windows = analysis.stale_windows(result, holder, peer)
    longest = float(windows["duration"].max()) if len(windows) else 0.0
    _shade_stale(
        ax,
        result,
        windows,
        f"stale window (longest {human_duration(longest)})" if len(windows) else None,
    )
    ax.set_yticks([-(i + 1) for i in range(len(labels))], labels)
    ax.set_ylim(-len(labels) - 0.7, -0.4)
    ax.grid(axis="x", alpha=0.3)
    _time_axis(ax, result)
    ax.set_title(_title(result, f"What {holder} holds of {peer}'s bundle"))
    handles, _ = ax.get_legend_handles_labels()
    handles = [
        Patch(facecolor="#0072B2", label=f"published by {_short(peer)} (its own bundle)"),
        Patch(facecolor="#56B4E9", label=f"in {_short(holder)}'s copy"),
        Patch(facecolor="#E69F00", label=f"in use by {_short(peer)} (activated)"),
        *handles,
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


# -- topology ----------------------------------------------------------------------------------


def _clusters(scenario: Scenario) -> list[Any]:
    """The scenario's clusters (one today; a ``clusters`` list when the language grows one)."""
    many = getattr(scenario, "clusters", None)
    return list(many) if many else [scenario.cluster]


def _tree_layout(g: nx.DiGraph, clusters: Sequence[Any]) -> dict[str, np.ndarray]:
    """Clusters on top, their nodes below, each node's pods in a row under it: one slot per
    pod (or per empty node), so pods of a node stay together and nothing overlaps."""
    pos: dict[str, np.ndarray] = {}
    x = 0.0
    for cluster in clusters:
        cid = f"cluster:{cluster.name}"
        node_xs = []
        for nid in g.successors(cid):
            pod_ids = list(g.successors(nid))
            slots = []
            for pid in pod_ids:
                pos[pid] = np.array([x, 0.0])
                slots.append(x)
                x += 1.0
            if not slots:
                slots, x = [x], x + 1.0
            pos[nid] = np.array([sum(slots) / len(slots), 1.0])
            node_xs.append(pos[nid][0])
            x += 0.4  # a gap between nodes
        pos[cid] = np.array([sum(node_xs) / len(node_xs) if node_xs else x, 2.0])
        x += 0.8  # a wider gap between clusters
    return pos


def topology(subject: Result | Scenario) -> Figure:
    """Clusters, their nodes and the pods on them (SPIRE servers and agents and workloads,
    coloured by trust domain), with federation (each bundle client's server fetching its peer's
    bundle endpoint) drawn apart from workload traffic (a client sidecar's target). Given a
    scenario, it is run until its last workload has started, so placement is the simulator's."""
    if isinstance(subject, Scenario):
        from sim.simulation import Simulation

        last = max([w.start for w in subject.workloads] + [0.0])
        result = Simulation(subject, until=min(subject.duration, last + 1)).run()
    else:
        result = subject
    scenario = result.scenario
    domains = [td.trust_domain.name for td in scenario.trust_domains]
    colour = {td: PALETTE[i % len(PALETTE)] for i, td in enumerate(domains)}
    g = nx.DiGraph()
    pods: list[tuple[str, str, str, str]] = []  # (graph id, node, label, trust domain)
    servers: dict[str, str] = {}
    for td, server in result.servers.items():
        inst = server.log.instance
        gid = f"pod:{inst.instance}"
        servers[td] = gid
        pods.append((gid, inst.host, f"spire-server\n{_short(td)}", td))
    for agent in result.agents:
        inst = agent.log.instance
        pods.append((f"pod:{inst.instance}", inst.host, f"agent\n{_short(inst.trust_domain)}",
                     inst.trust_domain))  # fmt: skip
    workload_pod: dict[str, str] = {}
    for name, state in result.workloads.items():
        if state.pod is None:
            continue
        gid = f"pod:{state.pod.namespace}/{state.pod.name}"
        workload_pod[name] = gid
        td = scenario.workload(name).trust_domain.name
        pods.append((gid, state.pod.node, name, td))
    for cluster in _clusters(scenario):
        g.add_node(f"cluster:{cluster.name}", layer=0, label=f"cluster\n{cluster.name}",
                   kind="cluster")  # fmt: skip
    for cluster in _clusters(scenario):
        for node in cluster.nodes:
            label = node.name
            if label.startswith(f"{cluster.name}-"):  # kind's <cluster>-worker2 on two lines
                label = f"{cluster.name}-\n{label[len(cluster.name) + 1 :]}"
            g.add_node(f"node:{node.name}", layer=1, label=label, kind="node")
            g.add_edge(f"cluster:{cluster.name}", f"node:{node.name}", kind="contains")
    for cluster in _clusters(scenario):
        for node in cluster.nodes:
            for gid, host, label, td in pods:
                if host == node.name:
                    g.add_node(gid, layer=2, label=label, kind="pod", td=td)
                    g.add_edge(f"node:{node.name}", gid, kind="contains")
    federation = []
    for client in result.bundle_clients:
        a = servers.get(client.server.trust_domain.name)
        b = servers.get(client.relationship.trust_domain.name)
        if a and b:
            federation.append((a, b))
    traffic = []
    for wl in scenario.workloads:
        if wl.sidecar is None or wl.sidecar.mode != "client" or wl.name not in workload_pod:
            continue
        host = wl.sidecar.target.host
        for other in scenario.workloads:
            svc = other.service
            if (svc is not None and other.name in workload_pod
                    and (host == svc.name or host.startswith(f"{svc.name}."))):  # fmt: skip
                traffic.append((workload_pod[wl.name], workload_pod[other.name]))
    pos = _tree_layout(g, _clusters(scenario))
    fig = Figure(figsize=(12, 7), layout="constrained")
    ax = fig.add_subplot()
    contains = [(u, v) for u, v, k in g.edges(data="kind") if k == "contains"]
    nx.draw_networkx_edges(g, pos, edgelist=contains, ax=ax, edge_color="#bbbbbb", arrows=False)
    nx.draw_networkx_edges(g, pos, edgelist=federation, ax=ax, edge_color="#0072B2", width=2,
                           arrows=True, arrowstyle="-|>", arrowsize=16,
                           connectionstyle="arc3,rad=0.35", node_size=1800)  # fmt: skip
    nx.draw_networkx_edges(g, pos, edgelist=traffic, ax=ax, edge_color="#D55E00", width=2,
                           style="dashed", arrows=True, arrowstyle="-|>", arrowsize=16,
                           connectionstyle="arc3,rad=-0.35", node_size=1800)  # fmt: skip
    infra = [n for n, k in g.nodes(data="kind") if k != "pod"]
    nx.draw_networkx_nodes(g, pos, nodelist=infra, ax=ax, node_shape="s", node_color="#dddddd",
                           node_size=2200, edgecolors="#888888")  # fmt: skip
    pod_nodes = [n for n, k in g.nodes(data="kind") if k == "pod"]
    nx.draw_networkx_nodes(g, pos, nodelist=pod_nodes, ax=ax, node_size=1800,
                           node_color=[colour.get(g.nodes[n]["td"], "grey") for n in pod_nodes],
                           alpha=0.85)  # fmt: skip
    nx.draw_networkx_labels(g, pos, labels=dict(g.nodes(data="label")), ax=ax, font_size=7)
    ax.set_axis_off()
    ax.margins(0.12, 0.15)
    handles: list[Any] = [Patch(facecolor=colour[td], label=td) for td in domains]
    handles += [
        Patch(facecolor="#dddddd", edgecolor="#888888", label="cluster / node"),
        Line2D([], [], color="#bbbbbb", label="runs on"),
        Line2D([], [], color="#0072B2", lw=2, label="federation: fetches peer's bundle"),
        Line2D([], [], color="#D55E00", lw=2, ls="--", label="mTLS traffic (sidecar target)"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.set_title(f"Topology - {scenario.name}")
    return fig


# -- sweeps --------------------------------------------------------------------------------------


def sweep_heatmap(
    table: np.ndarray,
    x: str,
    y: str,
    value: str,
    *,
    reduce: str = "max",
    title: str | None = None,
    outline: Sequence[tuple[str, str]] = (),
    outline_label: str = "",
) -> Figure:
    """A sweep table (``sim.sweep``) as a heatmap: one cell per (``x``, ``y``) grid value, coloured
    by ``value`` reduced over the seeds (``max``, ``mean`` or ``min``), each cell annotated.
    Axes keep the grid's order. Cells in ``outline`` (pairs of x and y values as the table holds
    them) get a black frame, labelled ``outline_label`` in the legend (e.g. "spec: publish
    3-5x the hint before use")."""
    if reduce not in ("max", "mean", "min"):
        raise ValueError(f'reduce must be "max", "mean" or "min", got "{reduce}"')
    for name in (x, y, value):
        if name not in (table.dtype.names or ()):
            raise ValueError(f'the table has no column "{name}" (columns: {table.dtype.names})')
    xs = list(dict.fromkeys(table[x].tolist()))
    ys = list(dict.fromkeys(table[y].tolist()))
    grid = np.full((len(ys), len(xs)), np.nan)
    fn = {"max": np.nanmax, "mean": np.nanmean, "min": np.nanmin}[reduce]
    for j, yv in enumerate(ys):
        for i, xv in enumerate(xs):
            cell = table[(table[x] == xv) & (table[y] == yv)][value].astype(float)
            if len(cell) and not np.all(np.isnan(cell)):
                grid[j, i] = fn(cell)
    fig = Figure(figsize=(1.6 * len(xs) + 3.5, 0.9 * len(ys) + 2.2), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="Reds", aspect="auto", origin="lower")
    finite = grid[np.isfinite(grid)]
    middle = (finite.max() + finite.min()) / 2 if len(finite) else 0.0
    for j in range(len(ys)):
        for i in range(len(xs)):
            v = grid[j, i]
            text = "n/a" if np.isnan(v) else (f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}")
            ax.text(i, j, text, ha="center", va="center", fontsize="small",
                    color="white" if np.isfinite(v) and v > middle else "black")  # fmt: skip
    frames = [(xs.index(a), ys.index(b)) for a, b in outline if a in xs and b in ys]
    for i, j in frames:
        ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, edgecolor="black", lw=2.5))
    if frames and outline_label:
        ax.legend(handles=[Patch(facecolor="none", edgecolor="black", lw=2.5,
                                 label=outline_label)],
                  loc="upper left", bbox_to_anchor=(0.0, -0.18), fontsize="small")  # fmt: skip
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(x.rsplit(".", 1)[-1] + f"  ({x})" if "." in x else x, fontsize="small")
    ax.set_ylabel(y.rsplit(".", 1)[-1] + f"\n({y})" if "." in y else y, fontsize="small")
    fig.colorbar(image, ax=ax, label=f"{value} ({reduce} over seeds)")
    ax.set_title(title or f"{value} by {x.rsplit('.', 1)[-1]} and {y.rsplit('.', 1)[-1]}")
    return fig
