"""The clusters of a scenario, built into a :class:`sim.network.Network`: the one-cluster
shorthand (``cluster:``) on the docker bridge, or the sites of ``clusters:`` joined by their
``links:``.

>>> import random
>>> from sim.network import Network
>>> from sim.scenario import builtin_scenario_path, load_scenario
>>> net = Network(random.Random(0))
>>> build_clusters(net, load_scenario(builtin_scenario_path("seed")))
>>> [(n.name, n.ip) for n in net.nodes()][:1]
[('spire-federation-control-plane', '172.17.0.2')]
"""

from __future__ import annotations

from sim.network import Network
from sim.scenario import Scenario

__all__ = ["build_clusters"]


def build_clusters(net: Network, scenario: Scenario) -> None:
    """Add every cluster of ``scenario`` (control planes first, as kind creates them) and
    every link to ``net``."""
    for cluster in scenario.clusters:
        net.add_cluster(
            cluster.name,
            domain=cluster.domain,
            pod_subnet=cluster.pod_subnet,
            service_subnet=cluster.service_subnet,
            bridged=not cluster.linked,
        )
        for node in sorted(cluster.nodes, key=lambda n: not n.control_plane):
            net.add_node(
                cluster.name,
                node.name,
                role="control-plane" if node.control_plane else "worker",
                taints=list(node.taints),
            )
    for link in scenario.links:
        net.add_link(link.a, link.b, latency=link.latency, loss=link.loss)
