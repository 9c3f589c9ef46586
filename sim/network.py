"""The network is a Kubernetes-in-kind world: clusters of nodes on one docker bridge, pods placed
by taints and tolerations, Services found through cluster DNS, and dials that succeed or fail in
the words of Go's ``net`` package.

>>> import random
>>> net = Network(random.Random(1))
>>> _ = net.add_cluster("kind")
>>> _ = net.add_node("kind", "kind-control-plane", role="control-plane")
>>> _ = net.add_node("kind", "kind-worker", taints=["app=foo:NoSchedule"])
>>> web = net.add_pod("kind", "foo", "web", labels={"app": "web"},
...                   tolerations=["app=foo:NoSchedule"])
>>> web.node, web.ip
('kind-worker', '10.244.1.2')
>>> net.add_service("kind", "foo", "web", selector={"app": "web"}, ports=[(18443, 8443)]).fqdn
'web.foo.svc.cluster.local'
>>> net.listen(web, 8443)
>>> client = net.add_pod("kind", "foo", "client", tolerations=["app=foo:NoSchedule"])
>>> conn = net.dial(client, "web", 18443)
>>> conn.dst.name, conn.remote_addr, conn.target_addr
('web', '10.96.0.2:18443', '10.244.1.2:8443')
>>> print(net.dial(client, "db.foo.svc.cluster.local", 5432))
dial tcp: lookup db.foo.svc.cluster.local on 10.96.0.10:53: no such host
"""

from __future__ import annotations

import ipaddress
import random
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import networkx as nx

__all__ = [
    "CLUSTER_LINK_LATENCY",
    "ClusterLink",
    "EPHEMERAL_PORT_RANGE",
    "NODE_LINK_LATENCY",
    "POD_LINK_LATENCY",
    "Cluster",
    "Connection",
    "DialError",
    "Network",
    "NetworkError",
    "Node",
    "Pod",
    "Service",
    "ServicePort",
    "Taint",
    "Toleration",
]

# One-way latencies of the default links, in seconds: a veth pair into the pod's network
# namespace, a kind node container's link to the docker bridge, and a cluster's link to the
# bridge (logical: kind clusters share the host's bridge, so it costs nothing by default).
POD_LINK_LATENCY = 20e-6
NODE_LINK_LATENCY = 50e-6
CLUSTER_LINK_LATENCY = 0.0

# Linux's default net.ipv4.ip_local_port_range.
EPHEMERAL_PORT_RANGE = (32768, 60999)
_EPHEMERAL_SPAN = EPHEMERAL_PORT_RANGE[1] - EPHEMERAL_PORT_RANGE[0] + 1

# kube-apiserver's default --service-node-port-range.
_NODE_PORT_RANGE = (30000, 32767)

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# The scheduler's TaintToleration filter rejects a node for untolerated NoSchedule and
# NoExecute taints; PreferNoSchedule only lowers the node's score.
_HARD_EFFECTS = frozenset({"NoSchedule", "NoExecute"})

# kubeadm (k8s 1.17, kind v0.6/v0.7) taints and labels the control plane so.
_MASTER_TAINT_KEY = "node-role.kubernetes.io/master"

# DNS-1123 label (namespaces, services, clusters) and subdomain (pods, nodes) syntax.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)

# k8s.io/apimachinery/pkg/util/rand: the alphabet of generated pod name suffixes (no vowels,
# no look-alikes), as in the seed's spire-agent-64s95.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

# kubelet's resolv.conf for ClusterFirst pods: ndots:5 and three search domains.
_NDOTS = 5

DialErrorKind = Literal["lookup", "refused", "timeout"]


class NetworkError(ValueError):
    """A topology that cannot be built as asked (unknown names, no node fits, port in use)."""


# --- values ----------------------------------------------------------------------------------


def _check_label_key(key: str, what: str) -> None:
    if not _LABEL_KEY.fullmatch(key):
        raise NetworkError(f'invalid {what} key "{key}"')


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint, ``key[=value]:Effect`` as ``kubectl taint`` writes it."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"

    def __post_init__(self) -> None:
        _check_label_key(self.key, "taint")
        if self.effect not in EFFECTS:
            raise NetworkError(
                f'invalid taint effect "{self.effect}" (expected {", ".join(EFFECTS)})'
            )

    @classmethod
    def parse(cls, text: str) -> Taint:
        """``app=foo:NoSchedule`` or ``node-role.kubernetes.io/master:NoSchedule``."""
        head, sep, effect = text.rpartition(":")
        if not sep:
            raise NetworkError(f'invalid taint "{text}": expected key[=value]:Effect')
        key, _, value = head.partition("=")
        return cls(key, value, effect)

    def __str__(self) -> str:
        return (
            f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"
        )


@dataclass(frozen=True, slots=True)
class Toleration:
    """A pod toleration with Kubernetes' matching rules.

    ``operator`` is ``Equal`` (key and value must match) or ``Exists`` (any value; with an empty
    key, any taint). An empty ``effect`` tolerates every effect.
    """

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def __post_init__(self) -> None:
        if self.operator not in ("Equal", "Exists"):
            raise NetworkError(
                f'invalid toleration operator "{self.operator}" (expected Equal or Exists)'
            )
        if self.key:
            _check_label_key(self.key, "toleration")
        elif self.operator != "Exists":
            raise NetworkError("a toleration without a key must use operator Exists")
        if self.operator == "Exists" and self.value:
            raise NetworkError(f'toleration "{self.key}" with operator Exists cannot have a value')
        if self.effect and self.effect not in EFFECTS:
            raise NetworkError(
                f'invalid toleration effect "{self.effect}" (expected {", ".join(EFFECTS)})'
            )

    @classmethod
    def parse(cls, text: str) -> Toleration:
        """``app=foo:NoSchedule`` (Equal), ``app=foo`` (Equal, any effect), ``app:NoSchedule``
        or ``app`` (Exists), the taint syntax read as "tolerate this"."""
        head, sep, effect = text.rpartition(":")
        if not sep:
            head, effect = text, ""
        key, eq, value = head.partition("=")
        if not key:
            raise NetworkError(f'invalid toleration "{text}": expected key[=value][:Effect]')
        return cls(key, "Equal" if eq else "Exists", value, effect)

    def tolerates(self, taint: Taint) -> bool:
        """Whether this toleration matches ``taint`` (k8s ToleratesTaint)."""
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return True
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value

    def __str__(self) -> str:
        text = (self.key or "*") if self.operator == "Exists" else f"{self.key}={self.value}"
        return f"{text}:{self.effect}" if self.effect else text


@dataclass(frozen=True, slots=True)
class Cluster:
    """A Kubernetes cluster: its DNS domain, pod and service ranges, and DNS server address."""

    name: str
    domain: str
    pod_subnet: str
    service_subnet: str
    dns_ip: str


@dataclass(frozen=True, slots=True)
class ClusterLink:
    """A routed link between two clusters that are not on the shared bridge (see
    :meth:`Network.add_link`): one-way ``latency`` in seconds, ``loss`` the chance that a
    connection attempt across it is lost, ``up`` whether it carries traffic."""

    a: str
    b: str
    latency: float
    loss: float
    up: bool = True


@dataclass(frozen=True, slots=True)
class Node:
    """A kind node: a container on the docker bridge with its ``ip`` and a /24 ``pod_cidr``."""

    cluster: str
    name: str
    role: str
    ip: str
    pod_cidr: str
    taints: tuple[Taint, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Pod:
    """A pod placed on ``node``; ``ip`` is the node's own for ``host_network`` pods."""

    cluster: str
    namespace: str
    name: str
    node: str
    ip: str
    labels: tuple[tuple[str, str], ...] = ()
    host_network: bool = False
    tolerations: tuple[Toleration, ...] = ()

    @property
    def ref(self) -> str:
        """``namespace/name``, as kubectl names a pod."""
        return f"{self.namespace}/{self.name}"

    def label(self, key: str) -> str | None:
        """The value of label ``key``, or None."""
        for k, v in self.labels:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class ServicePort:
    """A Service port: clients dial ``port``, pods receive on ``target_port``."""

    port: int
    target_port: int
    name: str = ""
    node_port: int | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """A Service: a ClusterIP and DNS name in front of the pods its selector matches.

    ``selector`` None means no selector (no endpoints), as for the built-in ``kubernetes`` and
    ``kube-dns`` Services, whose backends this model does not run.
    """

    cluster: str
    namespace: str
    name: str
    cluster_ip: str
    ports: tuple[ServicePort, ...]
    selector: tuple[tuple[str, str], ...] | None
    type: str = "ClusterIP"
    domain: str = "cluster.local"

    @property
    def fqdn(self) -> str:
        """``<name>.<namespace>.svc.<domain>``."""
        return f"{self.name}.{self.namespace}.svc.{self.domain}"


@dataclass(frozen=True, slots=True)
class Connection:
    """An established TCP connection.

    ``local_*`` is the client's end, which is also what the server sees as its peer (the
    ``from 10.244.2.15:33568`` of ghostunnel's log: Service traffic is DNATed, not SNATed);
    ``remote_*`` is the address the client dialled (a ClusterIP for a Service); ``target_*``
    the pod address that accepted. ``latency`` is one way, in seconds.
    """

    src: Pod
    dst: Pod
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    target_ip: str
    target_port: int
    latency: float
    service: Service | None = None

    @property
    def local_addr(self) -> str:
        """``ip:port`` of the client end (the server's view of its peer)."""
        return f"{self.local_ip}:{self.local_port}"

    @property
    def remote_addr(self) -> str:
        """``ip:port`` the client dialled."""
        return f"{self.remote_ip}:{self.remote_port}"

    @property
    def target_addr(self) -> str:
        """``ip:port`` of the accepting pod."""
        return f"{self.target_ip}:{self.target_port}"


@dataclass(frozen=True, slots=True)
class DialError:
    """A failed dial, as a value: ``text`` is what Go's ``net.Dial`` error prints.

    ``kind`` is ``lookup`` (DNS), ``refused`` (RST or REJECT) or ``timeout`` (nothing came
    back: partition, no route, no such address). ``elapsed`` is how long the failure took to
    arrive (a round trip) or None for a timeout, which lasts as long as the caller waits.
    """

    kind: DialErrorKind
    address: str
    text: str
    elapsed: float | None = None

    def __str__(self) -> str:
        return self.text


# --- the network -----------------------------------------------------------------------------

Location = Pod | Node | str
"""A place in the world: a Pod, a Node, or a node or cluster name."""


class _Ipam:
    """host-local IPAM of one node: sequential from the last handed out, reuse only on wrap."""

    __slots__ = ("network", "next_host", "used")

    def __init__(self, network: ipaddress.IPv4Network, start: int) -> None:
        self.network = network
        self.next_host = start
        self.used: set[int] = set()

    @property
    def last_host(self) -> int:
        return self.network.num_addresses - 2  # the top address is the broadcast

    def allocate(self) -> str:
        first, last = 2, self.last_host  # .1 is the bridge/gateway address
        count = last - first + 1
        for i in range(count):
            host = first + (self.next_host - first + i) % count
            if host not in self.used:
                self.used.add(host)
                self.next_host = host + 1
                return str(self.network.network_address + host)
        raise NetworkError(f"no free pod IP left in {self.network}")

    def reserve(self, ip: str) -> None:
        host = int(ipaddress.IPv4Address(ip)) - int(self.network.network_address)
        if not 2 <= host <= self.last_host:
            raise NetworkError(f"pod IP {ip} is not assignable in {self.network}")
        if host in self.used:
            raise NetworkError(f"pod IP {ip} is already in use")
        self.used.add(host)

    def release(self, ip: str) -> None:
        self.used.discard(int(ipaddress.IPv4Address(ip)) - int(self.network.network_address))


class _Attempt:
    """What a dial in progress knows about its source and the address it dialled."""

    __slots__ = ("src", "netns", "ip", "port", "src_port", "address")

    def __init__(self, src: Pod, netns: str, ip: str, port: int, src_port: int | None) -> None:
        self.src = src
        self.netns = netns
        self.ip = ip
        self.port = port
        self.src_port = src_port
        self.address = f"{ip}:{port}"

    def timeout(self) -> DialError:
        return DialError("timeout", self.address, f"dial tcp {self.address}: i/o timeout")

    def refused(self, one_way: float) -> DialError:
        return DialError(
            "refused",
            self.address,
            f"dial tcp {self.address}: connect: connection refused",
            2 * one_way,
        )


_BRIDGE = "bridge"


def _v_cluster(name: str) -> str:
    return f"cluster/{name}"


def _v_node(name: str) -> str:
    return f"node/{name}"


def _v_pod(pod: Pod) -> str:
    return f"pod/{pod.cluster}/{pod.namespace}/{pod.name}"


def _labels(mapping: Mapping[str, str] | None, what: str) -> tuple[tuple[str, str], ...]:
    if not mapping:
        return ()
    for key in mapping:
        _check_label_key(key, what)
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))


def _matches(selector: tuple[tuple[str, str], ...], labels: tuple[tuple[str, str], ...]) -> bool:
    have = dict(labels)
    return all(have.get(k) == v for k, v in selector)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


class Network:
    """The world's network: build it, inspect it, dial through it, and break it.

    The graph is a tree, ``bridge - cluster/<c> - node/<n> - pod/<c>/<ns>/<p>``, whose edges
    carry a one-way ``latency`` and an ``up`` flag. A dial routes along the tree: an edge that is
    down (:meth:`isolate`) or a blocked pair of places (:meth:`partition`) makes it time out.

    Determinism: every choice is a rule or derives from one number drawn from ``rng`` (give
    it ``sim.rng.stream(seed, "network")``) at construction: ephemeral ports, NodePorts,
    generated names and kube-proxy's backend pick, each through its own crc32-keyed stream.
    """

    def __init__(self, rng: random.Random, *, bridge_subnet: str = "172.17.0.0/16") -> None:
        self._seed = rng.getrandbits(32)
        self._lb_rng = random.Random((self._seed << 32) | zlib.crc32(b"kube-proxy"))
        self._bridge = ipaddress.IPv4Network(bridge_subnet)
        self._bridge_next = 2  # .1 is the docker bridge gateway; kind nodes get .2, .3, ...
        self._g = nx.Graph()
        self._g.add_node(_BRIDGE, kind="bridge", depth=0)
        self._up = nx.subgraph_view(self._g, filter_edge=self._edge_is_up)
        self._clusters: dict[str, Cluster] = {}
        self._cluster_node_count: dict[str, int] = {}
        self._nodes: dict[str, Node] = {}
        self._node_by_ip: dict[str, Node] = {}
        self._ipam: dict[str, _Ipam] = {}
        self._pods: dict[tuple[str, str, str], Pod] = {}
        self._pod_by_ip: dict[tuple[str, str], Pod] = {}
        self._services: dict[tuple[str, str, str], Service] = {}
        self._service_by_ip: dict[tuple[str, str], Service] = {}
        self._node_ports: dict[tuple[str, int], tuple[Service, ServicePort]] = {}
        self._service_next: dict[str, int] = {}
        self._dns: dict[tuple[str, str], str] = {}
        self._dns_faults: dict[tuple[str | None, str], str] = {}
        self._listeners: dict[tuple[str, int], tuple[Pod, str]] = {}
        self._blocks: dict[tuple[str, str], None] = {}
        self._port_counters: dict[tuple[str, str], int] = {}
        self._name_counters: dict[str, int] = {}
        self._routes: dict[tuple[str, str], float | None] = {}
        # Clusters off the shared bridge, joined only by add_link (in creation order), the
        # loss of the route between two vertices, and the stream that decides losses.
        self._routed: dict[str, None] = {}
        self._losses: dict[tuple[str, str], float] = {}
        self._loss_rng = random.Random((self._seed << 32) | zlib.crc32(b"link-loss"))
        self._endpoints: dict[tuple[str, str, str], list[Pod]] = {}
        self._linked_pairs: dict[tuple[str, str], bool] = {}
        # Derived facts (DNS server vertices, paths between sites), valid until a change.
        self._memo: dict[tuple[str, ...], object] = {}
        self._routed_domains: dict[str, str] = {}  # domain -> unbridged cluster
        self._link_pairs: list[tuple[str, str]] = []  # cluster vertices, in creation order

    def _edge_is_up(self, u: str, v: str) -> bool:
        return self._g.edges[u, v]["up"]

    def _changed(self) -> None:
        self._routes.clear()
        self._losses.clear()
        self._endpoints.clear()
        self._linked_pairs.clear()
        self._memo.clear()

    # --- building ----------------------------------------------------------------------------

    def add_cluster(
        self,
        name: str,
        *,
        domain: str = "cluster.local",
        pod_subnet: str = "10.244.0.0/16",
        service_subnet: str = "10.96.0.0/12",
        latency: float = CLUSTER_LINK_LATENCY,
        bridged: bool = True,
    ) -> Cluster:
        """A cluster with kubeadm's defaults (kind's pod subnet), attached to the bridge.

        ``bridged`` False makes a cluster of its own site, off the shared bridge: it reaches
        other such clusters only through :meth:`add_link` links.

        The ``kubernetes`` (first service IP) and ``kube-dns`` (tenth, kubeadm's clusterDNS)
        Services are created so that user Services get the addresses a real cluster would
        leave them: ClusterIPs are handed out sequentially here, where the apiserver picks at
        random (give ``cluster_ip`` to :meth:`add_service` to pin one).
        """
        if not _DNS_LABEL.fullmatch(name):
            raise NetworkError(f'invalid cluster name "{name}"')
        if name in self._clusters:
            raise NetworkError(f'cluster "{name}" already exists')
        services = ipaddress.IPv4Network(service_subnet)
        pods = ipaddress.IPv4Network(pod_subnet)
        if pods.prefixlen > 24:
            raise NetworkError(f"pod subnet {pod_subnet} is smaller than one node's /24")
        cluster = Cluster(
            name, domain, str(pods), str(services), str(services.network_address + 10)
        )
        self._clusters[name] = cluster
        self._cluster_node_count[name] = 0
        self._service_next[name] = 1
        if bridged:
            self._g.add_node(_v_cluster(name), kind="cluster", depth=1, parent=_BRIDGE)
            self._g.add_edge(_BRIDGE, _v_cluster(name), latency=float(latency), up=True)
        else:
            self._g.add_node(_v_cluster(name), kind="cluster", depth=1, parent=None)
            self._routed[name] = None
            self._routed_domains.setdefault(domain, name)
        self.add_service(
            name,
            "default",
            "kubernetes",
            selector=None,
            ports=[ServicePort(443, 6443, "https")],
            cluster_ip=str(services.network_address + 1),
        )
        self.add_service(
            name,
            "kube-system",
            "kube-dns",
            selector=None,
            ports=[ServicePort(53, 53, "dns-tcp")],
            cluster_ip=cluster.dns_ip,
        )
        self._changed()
        return cluster

    def add_link(self, a: str, b: str, *, latency: float, loss: float = 0.0) -> ClusterLink:
        """A routed link between clusters ``a`` and ``b``, both made with ``bridged=False``.

        Linked clusters route each other's pod and Service CIDRs and each cluster's DNS
        forwards the other clusters' domains to them (as Submariner or a flat routed network
        with CoreDNS stub domains would), so ``<svc>.<ns>.svc.<domain of b>`` resolves and
        connects from ``a``; routes may cross several links (least latency wins). ``loss`` is
        the chance that one connection attempt across the link is lost, drawn from the
        network's own stream: the dial then times out as Go says it.

        >>> net = Network(random.Random(1))
        >>> for i, c in enumerate(("east", "west")):
        ...     _ = net.add_cluster(c, domain=f"{c}.local", bridged=False,
        ...                         pod_subnet=f"10.{244 + i}.0.0/16",
        ...                         service_subnet=f"10.{96 + i}.0.0/16")
        ...     _ = net.add_node(c, f"{c}-control-plane", role="control-plane")
        ...     _ = net.add_node(c, f"{c}-worker")
        >>> web = net.add_pod("west", "shop", "web", labels={"app": "web"})
        >>> net.listen(web, 8443)
        >>> _ = net.add_service("west", "shop", "web", selector={"app": "web"}, ports=[8443])
        >>> client = net.add_pod("east", "shop", "client")
        >>> print(net.dial(client, "web.shop.svc.west.local", 8443))
        dial tcp: lookup web.shop.svc.west.local on 10.96.0.10:53: no such host
        >>> net.add_link("east", "west", latency=0.010).latency
        0.01
        >>> conn = net.dial(client, "web.shop.svc.west.local", 8443)
        >>> conn.remote_addr, conn.target_addr, round(conn.latency, 6)
        ('10.97.0.2:8443', '10.245.1.2:8443', 0.01014)
        >>> net.partition("east", "west")
        >>> print(net.dial(client, "web.shop.svc.west.local", 8443))
        dial tcp: lookup web.shop.svc.west.local on 10.96.0.10:53: server misbehaving
        """
        for name in (a, b):
            self.cluster(name)
            if name not in self._routed:
                raise NetworkError(
                    f'cluster "{name}" is on the bridge; links join unbridged clusters'
                )
        if a == b:
            raise NetworkError(f'cannot link cluster "{a}" to itself')
        if self._g.has_edge(_v_cluster(a), _v_cluster(b)):
            raise NetworkError(f'clusters "{a}" and "{b}" are already linked')
        if latency < 0:
            raise NetworkError(f"latency {latency} must not be negative")
        if not 0.0 <= loss < 1.0:
            raise NetworkError(f"loss {loss} must be at least 0 and below 1")
        self._g.add_edge(
            _v_cluster(a), _v_cluster(b), latency=float(latency), loss=float(loss), up=True
        )
        self._link_pairs.append((_v_cluster(a), _v_cluster(b)))
        self._changed()
        return self.link(a, b)

    def link(self, a: str, b: str) -> ClusterLink:
        """The link between clusters ``a`` and ``b`` as it is now."""
        va, vb = _v_cluster(a), _v_cluster(b)
        if not self._g.has_edge(va, vb) or "loss" not in self._g.edges[va, vb]:
            raise NetworkError(f'no link between clusters "{a}" and "{b}"')
        data = self._g.edges[va, vb]
        lo, hi = sorted((a, b))
        return ClusterLink(lo, hi, data["latency"], data["loss"], data["up"])

    def links(self) -> list[ClusterLink]:
        """Every cluster link, by names."""
        pairs = sorted(
            tuple(sorted((u.removeprefix("cluster/"), v.removeprefix("cluster/"))))
            for u, v, data in self._g.edges(data=True)
            if "loss" in data
        )
        return [self.link(a, b) for a, b in pairs]

    def set_link(
        self, a: str, b: str, *, latency: float | None = None, loss: float | None = None,
        up: bool | None = None,
    ) -> ClusterLink:  # fmt: skip
        """Change a link's latency, loss or state (unset arguments stay as they are)."""
        self.link(a, b)
        data = self._g.edges[_v_cluster(a), _v_cluster(b)]
        if latency is not None:
            if latency < 0:
                raise NetworkError(f"latency {latency} must not be negative")
            data["latency"] = float(latency)
        if loss is not None:
            if not 0.0 <= loss < 1.0:
                raise NetworkError(f"loss {loss} must be at least 0 and below 1")
            data["loss"] = float(loss)
        if up is not None:
            data["up"] = bool(up)
        self._changed()
        return self.link(a, b)

    def add_node(
        self,
        cluster: str,
        name: str,
        *,
        role: str = "worker",
        taints: Iterable[Taint | str] | None = None,
        labels: Mapping[str, str] | None = None,
        ip: str | None = None,
        pod_cidr_index: int | None = None,
        pod_ip_start: int = 2,
        latency: float = NODE_LINK_LATENCY,
    ) -> Node:
        """A node of ``cluster``; add the control plane first, as kind creates it first.

        - ``ip``: default the next free bridge address (.2, .3, ... in the order nodes are
          added; kind starts its node containers concurrently, so the seed's workers got .3
          and .2: pass ``ip`` to reproduce that).
        - ``pod_cidr_index`` n gives the node ``10.244.<n>.0/24``; by default the order of
          addition in the cluster (the controller-manager allocates in registration order:
          control plane 0, workers 1, 2).
        - ``pod_ip_start``: the host number of the first pod IP (default 2, after the .1
          gateway). Raise it to stand for pods the scenario does not model: the seed's
          ``spire-server-0`` pods are 10.244.1.3 and 10.244.2.4 (start 3 and 4).
        - ``taints``: default none for workers and ``node-role.kubernetes.io/master:NoSchedule``
          for a ``control-plane`` (kubeadm, k8s 1.17); given, they replace the default.
        """
        cl = self.cluster(cluster)
        if role not in ("control-plane", "worker"):
            raise NetworkError(f'invalid node role "{role}" (expected control-plane or worker)')
        if not _DNS_SUBDOMAIN.fullmatch(name):
            raise NetworkError(f'invalid node name "{name}"')
        # Node names are docker container names in kind, unique on the host.
        if name in self._nodes:
            raise NetworkError(f'node "{name}" already exists')
        if taints is None:
            taints = [Taint(_MASTER_TAINT_KEY)] if role == "control-plane" else []
        taint_values = tuple(t if isinstance(t, Taint) else Taint.parse(t) for t in taints)
        node_labels = {"kubernetes.io/hostname": name, **(labels or {})}
        if role == "control-plane":
            node_labels.setdefault(_MASTER_TAINT_KEY, "")
        node_ip = self._assign_node_ip(ip)
        index = self._cluster_node_count[cluster] if pod_cidr_index is None else pod_cidr_index
        pod_net = ipaddress.IPv4Network(cl.pod_subnet)
        if not 0 <= index < 2 ** (24 - pod_net.prefixlen):
            raise NetworkError(f"pod CIDR index {index} is outside {cl.pod_subnet}")
        cidr = ipaddress.IPv4Network((int(pod_net.network_address) + index * 256, 24))
        for other in self._nodes.values():
            if other.cluster == cluster and other.pod_cidr == str(cidr):
                raise NetworkError(f'pod CIDR {cidr} is already used by node "{other.name}"')
        if not 2 <= pod_ip_start <= 254:
            raise NetworkError(f"pod_ip_start {pod_ip_start} is outside 2..254")
        node = Node(
            cluster, name, role, node_ip, str(cidr), taint_values, _labels(node_labels, "label")
        )
        self._nodes[name] = node
        self._node_by_ip[node_ip] = node
        self._ipam[name] = _Ipam(cidr, pod_ip_start)
        self._cluster_node_count[cluster] += 1
        self._g.add_node(_v_node(name), kind="node", depth=2, parent=_v_cluster(cluster))
        self._g.add_edge(_v_cluster(cluster), _v_node(name), latency=float(latency), up=True)
        self._changed()
        return node

    def _assign_node_ip(self, ip: str | None) -> str:
        if ip is not None:
            if ipaddress.IPv4Address(ip) not in self._bridge:
                raise NetworkError(f"node IP {ip} is outside the bridge subnet {self._bridge}")
            if ip in self._node_by_ip:
                raise NetworkError(
                    f'node IP {ip} is already used by node "{self._node_by_ip[ip].name}"'
                )
            return ip
        while True:
            candidate = str(self._bridge.network_address + self._bridge_next)
            self._bridge_next += 1
            if candidate not in self._node_by_ip:
                return candidate

    def add_pod(
        self,
        cluster: str,
        namespace: str,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        tolerations: Iterable[Toleration | str] = (),
        node_selector: Mapping[str, str] | None = None,
        node: str | None = None,
        host_network: bool = False,
        ip: str | None = None,
    ) -> Pod:
        """Schedule a pod and give it an IP.

        Placement: a node is feasible if the pod tolerates all its NoSchedule and NoExecute
        taints and carries every ``node_selector`` label; ``node`` pins the pod to one node (as
        a DaemonSet's node affinity does) but taints still apply. Among feasible nodes the
        rule is: fewest untolerated PreferNoSchedule taints, then fewest pods, then name order
        (a stand-in for kube-scheduler's scoring, which spreads pods similarly).

        IP: ``host_network`` pods get the node IP; others the next address of the node's
        pod CIDR (see :meth:`add_node`), or ``ip`` if given.
        """
        self.cluster(cluster)
        if not _DNS_LABEL.fullmatch(namespace):
            raise NetworkError(f'invalid namespace "{namespace}"')
        if not _DNS_SUBDOMAIN.fullmatch(name):
            raise NetworkError(f'invalid pod name "{name}"')
        if (cluster, namespace, name) in self._pods:
            raise NetworkError(f'pod "{namespace}/{name}" already exists in cluster "{cluster}"')
        tols = tuple(t if isinstance(t, Toleration) else Toleration.parse(t) for t in tolerations)
        selector = _labels(node_selector, "node selector")
        chosen = self._schedule(cluster, f"{namespace}/{name}", tols, selector, node)
        if host_network:
            if ip is not None and ip != chosen.ip:
                raise NetworkError(f"a hostNetwork pod has its node's IP {chosen.ip}, not {ip}")
            pod_ip = chosen.ip
        elif ip is not None:
            self._ipam[chosen.name].reserve(ip)
            pod_ip = ip
        else:
            pod_ip = self._ipam[chosen.name].allocate()
        pod = Pod(
            cluster,
            namespace,
            name,
            chosen.name,
            pod_ip,
            _labels(labels, "label"),
            host_network,
            tols,
        )
        self._pods[(cluster, namespace, name)] = pod
        if not host_network:
            self._pod_by_ip[(cluster, pod_ip)] = pod
        vertex = _v_pod(pod)
        self._g.add_node(vertex, kind="pod", depth=3, parent=_v_node(chosen.name))
        # A hostNetwork pod shares the node's stack: no veth hop.
        self._g.add_edge(
            _v_node(chosen.name), vertex, latency=0.0 if host_network else POD_LINK_LATENCY, up=True
        )
        self._changed()
        return pod

    def _schedule(
        self,
        cluster: str,
        ref: str,
        tols: tuple[Toleration, ...],
        selector: tuple[tuple[str, str], ...],
        pinned: str | None,
    ) -> Node:
        if pinned is not None:
            candidates = [self.node(pinned)]
            if candidates[0].cluster != cluster:
                raise NetworkError(f'node "{pinned}" is not in cluster "{cluster}"')
        else:
            candidates = self.nodes(cluster)
        if not candidates:
            raise NetworkError(f'pod "{ref}" cannot be scheduled: cluster "{cluster}" has no nodes')
        feasible: list[tuple[int, int, str, Node]] = []
        reasons: list[str] = []
        for node in candidates:
            untolerated = [t for t in node.taints if not any(tol.tolerates(t) for tol in tols)]
            hard = [t for t in untolerated if t.effect in _HARD_EFFECTS]
            if hard:
                reasons.append(f"{node.name} has taint {', '.join(map(str, hard))}")
                continue
            if selector and not _matches(selector, node.labels):
                wanted = ",".join(f"{k}={v}" for k, v in selector)
                reasons.append(f"{node.name} does not match node selector {wanted}")
                continue
            soft = len(untolerated)
            feasible.append((soft, len(self.pods_on(node.name)), node.name, node))
        if not feasible:
            tolerated = ", ".join(map(str, tols)) or "no taints"
            raise NetworkError(
                f'pod "{ref}" fits no node in cluster "{cluster}": {"; ".join(reasons)} '
                f"(the pod tolerates {tolerated})"
            )
        return min(feasible, key=lambda f: f[:3])[3]

    def add_daemonset(
        self,
        cluster: str,
        namespace: str,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        tolerations: Iterable[Toleration | str] = (),
        node_selector: Mapping[str, str] | None = None,
        host_network: bool = False,
    ) -> list[Pod]:
        """One pod ``<name>-<5 chars>`` on every node that admits it, nodes in name order.

        Like the seed's ``spire-agent`` DaemonSets: tolerating ``app=foo:NoSchedule`` puts the
        agent on the foo worker only (the control plane's master taint keeps it off there).
        """
        tols = tuple(t if isinstance(t, Toleration) else Toleration.parse(t) for t in tolerations)
        selector = _labels(node_selector, "node selector")
        pods = []
        for node in self.nodes(cluster):
            hard = [
                t
                for t in node.taints
                if t.effect in _HARD_EFFECTS and not any(tol.tolerates(t) for tol in tols)
            ]
            if hard or (selector and not _matches(selector, node.labels)):
                continue
            pods.append(
                self.add_pod(
                    cluster,
                    namespace,
                    self.generate_name(cluster, namespace, f"{name}-"),
                    labels=labels,
                    tolerations=tols,
                    node_selector=node_selector,
                    node=node.name,
                    host_network=host_network,
                )
            )
        return pods

    def generate_name(self, cluster: str, namespace: str, base: str) -> str:
        """``base`` plus 5 characters of Kubernetes' generated-name alphabet, deterministic
        from the network's seed, ``cluster/namespace/base`` and how many were generated before.
        """
        key = f"{cluster}/{namespace}/{base}"
        while True:
            n = self._name_counters.get(key, 0)
            self._name_counters[key] = n + 1
            rng = random.Random((self._seed << 32) | zlib.crc32(f"{key}#{n}".encode()))
            name = base + "".join(rng.choice(_NAME_ALPHABET) for _ in range(5))
            if (cluster, namespace, name) not in self._pods:
                return name

    def remove_pod(self, pod: Pod) -> None:
        """Delete ``pod``: its listeners go, its IP is freed (host-local reuses it on wrap)."""
        current = self._current(pod)
        del self._pods[(current.cluster, current.namespace, current.name)]
        if not current.host_network:
            del self._pod_by_ip[(current.cluster, current.ip)]
            self._ipam[current.node].release(current.ip)
        for key in [k for k, (p, _) in self._listeners.items() if p == current]:
            del self._listeners[key]
        self._g.remove_node(_v_pod(current))
        self._blocks = {k: None for k in self._blocks if _v_pod(current) not in k}
        self._changed()

    def add_service(
        self,
        cluster: str,
        namespace: str,
        name: str,
        *,
        selector: Mapping[str, str] | None,
        ports: Iterable[ServicePort | int | tuple[int, int]],
        type: str = "ClusterIP",
        cluster_ip: str | None = None,
    ) -> Service:
        """A Service named ``<name>.<namespace>.svc.<domain>`` in the cluster's DNS.

        ``ports`` items are ServicePorts, ``port`` (target the same) or ``(port, target_port)``.
        A ``NodePort`` Service also opens each port on every node IP; unset node ports are
        drawn deterministically from 30000-32767.
        """
        cl = self.cluster(cluster)
        if not _DNS_LABEL.fullmatch(namespace):
            raise NetworkError(f'invalid namespace "{namespace}"')
        if not _DNS_LABEL.fullmatch(name):
            raise NetworkError(f'invalid service name "{name}"')
        if (cluster, namespace, name) in self._services:
            raise NetworkError(
                f'service "{namespace}/{name}" already exists in cluster "{cluster}"'
            )
        if type not in ("ClusterIP", "NodePort"):
            raise NetworkError(f'invalid service type "{type}" (expected ClusterIP or NodePort)')
        service_ports = []
        for item in ports:
            if isinstance(item, ServicePort):
                sp = item
            elif isinstance(item, int):
                sp = ServicePort(item, item)
            else:
                sp = ServicePort(int(item[0]), int(item[1]))
            for p in (sp.port, sp.target_port):
                if not 1 <= p <= 65535:
                    raise NetworkError(f'invalid port {p} in service "{namespace}/{name}"')
            if type == "NodePort":
                sp = ServicePort(
                    sp.port, sp.target_port, sp.name, self._node_port(cluster, namespace, name, sp)
                )
            service_ports.append(sp)
        if len({sp.port for sp in service_ports}) != len(service_ports):
            raise NetworkError(f'service "{namespace}/{name}" repeats a port')
        ip = self._assign_cluster_ip(cl, cluster_ip)
        svc = Service(
            cluster,
            namespace,
            name,
            ip,
            tuple(service_ports),
            None if selector is None else _labels(selector, "selector"),
            type,
            cl.domain,
        )
        self._services[(cluster, namespace, name)] = svc
        self._service_by_ip[(cluster, ip)] = svc
        self._dns[(cluster, svc.fqdn)] = ip
        for sp in svc.ports:
            if sp.node_port is not None:
                self._node_ports[(cluster, sp.node_port)] = (svc, sp)
        self._changed()
        return svc

    def _node_port(self, cluster: str, namespace: str, name: str, sp: ServicePort) -> int:
        low, high = _NODE_PORT_RANGE
        if sp.node_port is not None:
            if not low <= sp.node_port <= high or (cluster, sp.node_port) in self._node_ports:
                raise NetworkError(f"node port {sp.node_port} is taken or outside {low}-{high}")
            return sp.node_port
        # A hash of the Service and port, probed linearly: independent of creation order.
        span = high - low + 1
        start = zlib.crc32(f"{cluster}/{namespace}/{name}:{sp.port}".encode(), self._seed) % span
        for i in range(span):
            candidate = low + (start + i) % span
            if (cluster, candidate) not in self._node_ports:
                return candidate
        raise NetworkError(f'no free node port left in cluster "{cluster}"')

    def _assign_cluster_ip(self, cl: Cluster, wanted: str | None) -> str:
        net = ipaddress.IPv4Network(cl.service_subnet)
        if wanted is not None:
            if ipaddress.IPv4Address(wanted) not in net:
                raise NetworkError(f"cluster IP {wanted} is outside {net}")
            if (cl.name, wanted) in self._service_by_ip:
                raise NetworkError(f"cluster IP {wanted} is already allocated")
            return wanted
        while True:
            n = self._service_next[cl.name]
            if n >= net.num_addresses - 1:
                raise NetworkError(f'no free cluster IP left in cluster "{cl.name}"')
            self._service_next[cl.name] = n + 1
            candidate = str(net.network_address + n)
            # kube-dns' address is kubeadm's, reserved before any Service exists.
            if candidate != cl.dns_ip and (cl.name, candidate) not in self._service_by_ip:
                return candidate

    def remove_service(self, service: Service) -> None:
        """Delete ``service`` and its DNS name."""
        key = (service.cluster, service.namespace, service.name)
        svc = self._services.pop(key, None)
        if svc is None:
            raise NetworkError(f'no service "{service.namespace}/{service.name}"')
        del self._service_by_ip[(svc.cluster, svc.cluster_ip)]
        self._dns.pop((svc.cluster, svc.fqdn), None)
        for sp in svc.ports:
            if sp.node_port is not None:
                self._node_ports.pop((svc.cluster, sp.node_port), None)

    def add_dns_record(self, cluster: str, name: str, ip: str) -> None:
        """An extra A record in ``cluster``'s DNS (CoreDNS ``hosts`` style), e.g. a peer
        cluster's node IP under a name a federation config uses."""
        self.cluster(cluster)
        if not _is_ip(ip):
            raise NetworkError(f"invalid IPv4 address {ip}")
        self._dns[(cluster, name.lower().rstrip("."))] = ip

    def listen(self, pod: Pod, port: int, *, host: str = "0.0.0.0") -> None:
        """``pod`` accepts TCP on ``port``; ``host`` 127.0.0.1 accepts only from its own pod.

        A hostNetwork pod listens on its node's stack, shared with the node's other
        hostNetwork pods.
        """
        current = self._current(pod)
        if host != "0.0.0.0" and not host.startswith("127."):
            raise NetworkError(f"listen address {host} must be 0.0.0.0 or a loopback address")
        key = (self._netns(current), port)
        if key in self._listeners:
            raise NetworkError(f"listen tcp {host}:{port}: bind: address already in use")
        self._listeners[key] = (current, host)

    def unlisten(self, pod: Pod, port: int) -> None:
        """``pod`` stops accepting on ``port`` (later dials are refused)."""
        current = self._current(pod)
        key = (self._netns(current), port)
        owner = self._listeners.get(key)
        if owner is None or owner[0] != current:
            raise NetworkError(f'pod "{current.ref}" is not listening on {port}')
        del self._listeners[key]

    # --- inspecting --------------------------------------------------------------------------

    @property
    def graph(self) -> nx.Graph:
        """A read-only view of the topology graph."""
        return nx.graphviews.subgraph_view(self._g)

    def cluster(self, name: str) -> Cluster:
        """The cluster ``name``."""
        try:
            return self._clusters[name]
        except KeyError:
            raise NetworkError(f'no cluster "{name}"') from None

    def clusters(self) -> list[Cluster]:
        """All clusters, by name."""
        return [self._clusters[n] for n in sorted(self._clusters)]

    def node(self, name: str) -> Node:
        """The node ``name``."""
        try:
            return self._nodes[name]
        except KeyError:
            raise NetworkError(f'no node "{name}"') from None

    def nodes(self, cluster: str | None = None) -> list[Node]:
        """Nodes (of ``cluster``), by name."""
        return [
            self._nodes[n]
            for n in sorted(self._nodes)
            if cluster is None or self._nodes[n].cluster == cluster
        ]

    def _default_cluster(self, cluster: str | None) -> str:
        if cluster is not None:
            self.cluster(cluster)
            return cluster
        if len(self._clusters) != 1:
            raise NetworkError("several clusters exist: say which one")
        return next(iter(self._clusters))

    def pod(self, namespace: str, name: str, *, cluster: str | None = None) -> Pod:
        """The pod ``namespace/name`` (``cluster`` may be left out when there is one)."""
        key = (self._default_cluster(cluster), namespace, name)
        try:
            return self._pods[key]
        except KeyError:
            raise NetworkError(f'no pod "{namespace}/{name}" in cluster "{key[0]}"') from None

    def pods(self, cluster: str | None = None, namespace: str | None = None) -> list[Pod]:
        """Pods, by (cluster, namespace, name)."""
        return [
            self._pods[k]
            for k in sorted(self._pods)
            if (cluster is None or k[0] == cluster) and (namespace is None or k[1] == namespace)
        ]

    def pods_on(self, node: str | Node) -> list[Pod]:
        """Pods placed on ``node``, by (namespace, name)."""
        name = node.name if isinstance(node, Node) else self.node(node).name
        return [self._pods[k] for k in sorted(self._pods) if self._pods[k].node == name]

    def service(self, namespace: str, name: str, *, cluster: str | None = None) -> Service:
        """The Service ``namespace/name``."""
        key = (self._default_cluster(cluster), namespace, name)
        try:
            return self._services[key]
        except KeyError:
            raise NetworkError(f'no service "{namespace}/{name}" in cluster "{key[0]}"') from None

    def services(self, cluster: str | None = None) -> list[Service]:
        """Services, by (cluster, namespace, name)."""
        return [
            self._services[k] for k in sorted(self._services) if cluster is None or k[0] == cluster
        ]

    def endpoints(self, service: Service) -> list[Pod]:
        """The pods behind ``service`` (selector match in its namespace), by name."""
        if service.selector is None:
            return []
        key = (service.cluster, service.namespace, service.name)
        cached = self._endpoints.get(key)
        if cached is None:
            # Valid until the next change of the world (a pod added or removed).
            cached = self._endpoints[key] = [
                pod
                for pod in self.pods(service.cluster, service.namespace)
                if _matches(service.selector, pod.labels)
            ]
        return list(cached)

    def listening(self, pod: Pod) -> list[int]:
        """Ports ``pod`` listens on, ascending."""
        current = self._current(pod)
        return sorted(port for (_, port), (p, _) in self._listeners.items() if p == current)

    def resolve(
        self, name: str, from_namespace: str = "default", *, cluster: str | None = None
    ) -> str | None:
        """The IPv4 address a pod in ``from_namespace`` gets for ``name``, or None.

        Short names go through kubelet's search path (``<ns>.svc.<domain>``, ``svc.<domain>``,
        ``<domain>``; ndots 5), so ``http-server`` and ``http-server.foo`` find the Service
        from namespace foo. DNS faults count (any of them gives None); reachability does not.
        """
        cl = self.cluster(self._default_cluster(cluster))
        if _is_ip(name):
            return name
        if name.lower() == "localhost":
            return "127.0.0.1"
        for candidate in self._search(name, from_namespace, cl.domain):
            fault = self._dns_fault(cl.name, candidate)
            if fault == "nxdomain":
                continue
            if fault is not None:
                return None
            ip = self._dns.get((cl.name, candidate))
            if ip is None and self._routed:
                forwarded = self._forwarded(cl, candidate)
                if forwarded is False:
                    return None
                ip = forwarded
            if ip is not None:
                return ip
        return None

    def reachable(self, a: Location, b: Location) -> bool:
        """Whether traffic can flow between two places now."""
        return self._route(self._vertex(a), self._vertex(b)) is not None

    def latency(self, a: Location, b: Location) -> float | None:
        """One-way latency between two places, or None if they cannot reach each other."""
        return self._route(self._vertex(a), self._vertex(b))

    # --- faults ------------------------------------------------------------------------------

    def partition(self, a: Location, b: Location) -> None:
        """Drop all traffic between what is inside ``a`` and what is inside ``b``.

        Places are pods, nodes or clusters. Traffic between two endpoints is dropped when one
        is inside ``a`` and the other inside ``b``, unless both are inside both: so
        ``partition(node1, node2)`` separates two nodes, and ``partition(cluster, node)`` cuts
        a node off from the rest of its cluster while its own pods still talk to each other.
        """
        va, vb = self._vertex(a), self._vertex(b)
        if va == vb:
            raise NetworkError(f"cannot partition {va} from itself")
        self._blocks[(min(va, vb), max(va, vb))] = None
        self._changed()

    def heal(self, a: Location, b: Location) -> None:
        """Undo :meth:`partition` of ``a`` and ``b`` (no-op if there was none)."""
        va, vb = self._vertex(a), self._vertex(b)
        self._blocks.pop((min(va, vb), max(va, vb)), None)
        self._changed()

    def isolate(self, place: Location) -> None:
        """Take down the link from ``place`` to its parent: it keeps only its inside traffic."""
        self._uplink(place)["up"] = False
        self._changed()

    def reconnect(self, place: Location) -> None:
        """Bring the link from ``place`` to its parent back up."""
        self._uplink(place)["up"] = True
        self._changed()

    def heal_all(self) -> None:
        """Remove every partition and bring every link up."""
        self._blocks.clear()
        for _, _, data in self._g.edges(data=True):
            data["up"] = True
        self._changed()

    def set_latency(self, place: Location, seconds: float) -> None:
        """One-way latency of the link from ``place`` to its parent."""
        if seconds < 0:
            raise NetworkError(f"latency {seconds} must not be negative")
        self._uplink(place)["latency"] = float(seconds)
        self._changed()

    def fail_dns(
        self,
        name: str,
        *,
        cluster: str | None = None,
        mode: Literal["nxdomain", "servfail", "timeout"] = "nxdomain",
    ) -> None:
        """Make lookups of the fully qualified ``name`` fail (in ``cluster``, or in all).

        ``nxdomain`` hides the record (the search goes on, as for a missing name), ``servfail``
        fails the lookup with Go's ``server misbehaving``, ``timeout`` with ``i/o timeout``.
        """
        if mode not in ("nxdomain", "servfail", "timeout"):
            raise NetworkError(f'invalid DNS fault "{mode}" (expected nxdomain, servfail, timeout)')
        if cluster is not None:
            self.cluster(cluster)
        self._dns_faults[(cluster, name.lower().rstrip("."))] = mode

    def restore_dns(self, name: str, *, cluster: str | None = None) -> None:
        """Undo :meth:`fail_dns` for ``name`` (same ``cluster`` argument)."""
        self._dns_faults.pop((cluster, name.lower().rstrip(".")), None)

    # --- dialling ----------------------------------------------------------------------------

    def dial(
        self, src: Pod, host: str, port: int, *, src_port: int | None = None
    ) -> Connection | DialError:
        """Open a TCP connection from ``src`` to ``host:port``, as Go's ``net.Dial`` would.

        ``host`` may be a name (cluster DNS, from ``src``'s namespace), ``localhost`` or an IP:
        a ClusterIP (kube-proxy picks a backend), a node IP (NodePorts and hostNetwork
        listeners), or a pod IP of ``src``'s cluster. ``src_port`` pins the ephemeral port,
        otherwise chosen as Linux does (see :meth:`_ephemeral_port`).

        Failures, as Go prints them: ``dial tcp: lookup <host> on <dns>:53: no such host``,
        ``dial tcp <ip>:<port>: connect: connection refused`` (reachable, nobody listening, or
        a Service without endpoints), ``dial tcp <ip>:<port>: i/o timeout`` (cut off, or no
        such address).
        """
        pod = self._current(src)
        cl = self._clusters[pod.cluster]
        ip = self._lookup(pod, cl, host)
        if isinstance(ip, DialError):
            return ip
        attempt = _Attempt(pod, self._netns(pod), ip, port, src_port)
        src_vertex = _v_pod(pod)

        if ip.startswith("127."):
            return self._finish(attempt, pod, port, 0.0, None)

        svc = self._service_by_ip.get((cl.name, ip))
        if svc is not None:
            sp = next((p for p in svc.ports if p.port == port), None)
            if sp is None:
                # No kube-proxy rule matches: a packet to a virtual IP goes nowhere.
                return attempt.timeout()
            return self._via_service(attempt, src_vertex, svc, sp, 0.0)

        node = self._node_by_ip.get(ip)
        if node is not None:
            to_node = self._route(src_vertex, _v_node(node.name))
            if to_node is None:
                return attempt.timeout()
            forwarded = self._node_ports.get((node.cluster, port))
            if forwarded is not None:
                return self._via_service(attempt, _v_node(node.name), *forwarded, to_node)
            accepted = self._listeners.get((_v_node(node.name), port))
            if accepted is None:
                return attempt.refused(to_node)
            return self._finish(
                attempt, accepted[0], port, self._route(src_vertex, _v_pod(accepted[0])), None
            )

        dst = self._pod_by_ip.get((cl.name, ip))
        if dst is None and self._routed:
            # A linked cluster's Service: its kube-proxy (reached over the link) picks the
            # backend; or one of its pods, routed directly.
            svc, dst = self._foreign(cl.name, ip)
            if svc is not None:
                sp = next((p for p in svc.ports if p.port == port), None)
                if sp is None or self._route(src_vertex, _v_cluster(svc.cluster)) is None:
                    return attempt.timeout()
                return self._via_service(attempt, src_vertex, svc, sp, 0.0)
        if dst is None:
            return attempt.timeout()
        return self._finish(attempt, dst, port, self._route(src_vertex, _v_pod(dst)), None)

    def _via_service(
        self, attempt: _Attempt, from_vertex: str, svc: Service, sp: ServicePort, before: float
    ) -> Connection | DialError:
        backends = self.endpoints(svc)
        if not backends:
            # kube-proxy REJECTs traffic to a Service without endpoints on the sender's node.
            src = attempt.src
            return attempt.refused(before + (self._route(_v_pod(src), _v_node(src.node)) or 0.0))
        # kube-proxy (iptables mode) picks a backend at random; draw only when there is a
        # choice, so that a one-replica Service never moves the stream.
        backend = backends[0] if len(backends) == 1 else self._lb_rng.choice(backends)
        hop = self._route(from_vertex, _v_pod(backend))
        return self._finish(
            attempt, backend, sp.target_port, None if hop is None else before + hop, svc
        )

    def _finish(
        self,
        attempt: _Attempt,
        dst: Pod,
        target_port: int,
        latency: float | None,
        svc: Service | None,
    ) -> Connection | DialError:
        """The end of a dial that reached (or not) ``dst``'s stack on ``target_port``."""
        if latency is None:
            return attempt.timeout()
        if self._routed and dst.cluster != attempt.src.cluster and self._lost(attempt.src, dst):
            return attempt.timeout()
        accepted = self._listeners.get((self._netns(dst), target_port))
        if accepted is None or (
            accepted[1].startswith("127.") and self._netns(accepted[0]) != attempt.netns
        ):
            return attempt.refused(latency)
        loopback = attempt.ip.startswith("127.")
        local_port = attempt.src_port
        if local_port is None:
            local_port = self._ephemeral_port(attempt.netns, attempt.address)
        return Connection(
            src=attempt.src,
            dst=accepted[0],
            local_ip=attempt.ip if loopback else attempt.src.ip,
            local_port=local_port,
            remote_ip=attempt.ip,
            remote_port=attempt.port,
            target_ip=attempt.ip if loopback else accepted[0].ip,
            target_port=target_port,
            latency=latency,
            service=svc,
        )

    def _lookup(self, pod: Pod, cl: Cluster, host: str) -> str | DialError:
        if _is_ip(host):
            return host
        if host.lower() == "localhost":
            return "127.0.0.1"  # /etc/hosts, no DNS query
        server = f"{cl.dns_ip}:53"
        # Go's resolver reports the name as the caller gave it, not a search-expanded one
        # (net/dnsclient_unix.go, "Show original name passed to lookup").
        prefix = f"dial tcp: lookup {host} on {server}"
        to_dns = self._route(_v_pod(pod), self._dns_vertex(cl))
        if to_dns is None:
            return self._dns_timeout(pod, server, prefix)
        for candidate in self._search(host, pod.namespace, cl.domain):
            fault = self._dns_fault(cl.name, candidate)
            if fault == "nxdomain":
                continue
            if fault == "servfail":
                return DialError("lookup", "", f"{prefix}: server misbehaving", 2 * to_dns)
            if fault == "timeout":
                return self._dns_timeout(pod, server, prefix)
            ip = self._dns.get((cl.name, candidate))
            if ip is None and self._routed:
                ip = self._forwarded(cl, candidate)
                if ip is False:
                    # CoreDNS' forward plugin answers SERVFAIL when the peer cluster's DNS
                    # does not answer.
                    return DialError("lookup", "", f"{prefix}: server misbehaving", 2 * to_dns)
            if ip is not None:
                return ip
        return DialError("lookup", "", f"{prefix}: no such host", 2 * to_dns)

    def _forwarded(self, cl: Cluster, fqdn: str) -> str | None | Literal[False]:
        """``fqdn`` as the DNS of the linked cluster owning its domain answers it for ``cl``'s
        DNS (a stub domain): the address, None (no such cluster or name) or False (that
        DNS is unreachable from ``cl``'s)."""
        if cl.name not in self._routed:
            return None
        # The most specific domain of an unbridged cluster that ends the name.
        rest, other = fqdn, None
        while (other := self._routed_domains.get(rest)) is None:
            dot = rest.find(".")
            if dot < 0:
                return None
            rest = rest[dot + 1 :]
        peer = self._clusters[other]
        if other == cl.name or peer.domain == cl.domain:
            return None
        if not self._linked(cl.name, other):
            return None  # no link: no stub domain for it either
        if self._route(self._dns_vertex(cl), self._dns_vertex(peer)) is None:
            return False
        fault = self._dns_fault(other, fqdn)
        if fault is not None:
            return False if fault != "nxdomain" else None
        return self._dns.get((other, fqdn))

    def _linked(self, a: str, b: str) -> bool:
        """Whether links (up or down) join clusters ``a`` and ``b``, directly or not."""
        key = (_v_cluster(a), _v_cluster(b))
        found = self._linked_pairs.get(key)
        if found is None:
            links = nx.Graph(self._link_pairs)
            found = key[0] in links and key[1] in links and nx.has_path(links, *key)
            self._linked_pairs[key] = found
        return found

    def _foreign(self, cluster: str, ip: str) -> tuple[Service | None, Pod | None]:
        """The Service or pod of another linked cluster that owns ``ip`` (routed CIDRs)."""
        if cluster not in self._routed:
            return None, None
        for other in self._routed:
            if other == cluster:
                continue
            svc = self._service_by_ip.get((other, ip))
            if svc is not None:
                return svc, None
            pod = self._pod_by_ip.get((other, ip))
            if pod is not None:
                return None, pod
        return None, None

    def _dns_timeout(self, pod: Pod, server: str, prefix: str) -> DialError:
        # Go's message for an unanswered UDP query names the socket's two ends.
        local = f"{pod.ip}:{self._ephemeral_port(self._netns(pod), 'udp/' + server, udp=True)}"
        return DialError("lookup", "", f"{prefix}: read udp {local}->{server}: i/o timeout")

    @staticmethod
    def _search(name: str, namespace: str, domain: str) -> list[str]:
        name = name.lower()
        if name.endswith("."):
            return [name[:-1]]
        expanded = [f"{name}.{s}" for s in (f"{namespace}.svc.{domain}", f"svc.{domain}", domain)]
        # resolv.conf ndots: a name with at least that many dots is tried as is first.
        return [name, *expanded] if name.count(".") >= _NDOTS else [*expanded, name]

    def _dns_fault(self, cluster: str, fqdn: str) -> str | None:
        fault = self._dns_faults.get((cluster, fqdn))
        return fault if fault is not None else self._dns_faults.get((None, fqdn))

    def _dns_vertex(self, cl: Cluster) -> str:
        # CoreDNS runs on the control plane in kind (it tolerates the master taint); a pod cut
        # off from it cannot resolve. Without a control-plane node, DNS sits on the cluster.
        key = ("dns", cl.name)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = next(
                (_v_node(n.name) for n in self.nodes(cl.name) if n.role == "control-plane"),
                _v_cluster(cl.name),
            )
        return found  # type: ignore[return-value]

    def _ephemeral_port(self, netns: str, destination: str, *, udp: bool = False) -> int:
        """Linux's choice of source port for a connect() from ``netns`` to ``destination``.

        Since Linux 4.2 connect() starts at a per-destination offset (a keyed hash of the
        addresses) and steps by 2, preferring even ports (odd ones are left to bind()); here
        the hash is crc32 keyed by the run's seed, and repeated connections to the same
        destination take the following even ports. UDP sockets take any parity.
        """
        key = (netns, destination)
        n = self._port_counters.get(key, 0)
        self._port_counters[key] = n + 1
        offset = zlib.crc32(f"{netns}>{destination}".encode(), self._seed) % _EPHEMERAL_SPAN
        if udp:
            return EPHEMERAL_PORT_RANGE[0] + (offset + n) % _EPHEMERAL_SPAN
        offset -= offset % 2
        return EPHEMERAL_PORT_RANGE[0] + (offset + 2 * n) % _EPHEMERAL_SPAN

    # --- graph helpers -----------------------------------------------------------------------

    def _current(self, pod: Pod) -> Pod:
        current = self._pods.get((pod.cluster, pod.namespace, pod.name))
        if current is None or current != pod:
            raise NetworkError(f'pod "{pod.ref}" does not exist in cluster "{pod.cluster}"')
        return current

    def _netns(self, pod: Pod) -> str:
        return _v_node(pod.node) if pod.host_network else _v_pod(pod)

    def _vertex(self, place: Location) -> str:
        if isinstance(place, Pod):
            return _v_pod(self._current(place))
        if isinstance(place, Node):
            return _v_node(self.node(place.name).name)
        if place in self._nodes:
            return _v_node(place)
        if place in self._clusters:
            return _v_cluster(place)
        raise NetworkError(f'no node or cluster "{place}"')

    def _uplink(self, place: Location) -> dict:
        vertex = self._vertex(place)
        parent = self._g.nodes[vertex]["parent"]
        if parent is None:
            raise NetworkError(f"{vertex} is not on the bridge: change its links instead")
        return self._g.edges[parent, vertex]

    def _route(self, a: str, b: str) -> float | None:
        """One-way latency from vertex ``a`` to ``b``, or None when the path is cut."""
        if a == b:
            return 0.0
        key = (a, b)
        if key in self._routes:
            return self._routes[key]
        path = self._path(a, b)
        if path is None or self._blocked(path):
            result = None
        else:
            edges = self._g.edges
            result = sum(edges[u, v]["latency"] for u, v in zip(path, path[1:], strict=False))
        self._routes[key] = result
        return result

    def _chain(self, vertex: str) -> list[str]:
        """``vertex`` and its ancestors, up to the root of its tree (the bridge, or the
        cluster of an unbridged site)."""
        out = [vertex]
        nodes = self._g.nodes
        while (parent := nodes[vertex].get("parent")) is not None:
            out.append(parent)
            vertex = parent
        return out

    def _path(self, a: str, b: str) -> list[str] | None:
        """The least-latency path of up edges from ``a`` to ``b``, or None.

        The graph is a containment tree per root (bridge - cluster - node - pod, or an
        unbridged cluster - node - pod) plus links between unbridged clusters, so the path
        climbs to the common ancestor, or to its site's cluster, crosses links (least total
        latency, the only choice there is) and descends: the same path a shortest-path search
        of the whole graph finds, without searching it (a per-request cost at scale).
        """
        up_a, up_b = self._chain(a), self._chain(b)
        if up_a[-1] == up_b[-1]:
            on_b = {v: i for i, v in enumerate(up_b)}
            i = next(i for i, v in enumerate(up_a) if v in on_b)
            path = up_a[: i + 1] + up_b[: on_b[up_a[i]]][::-1]
        else:
            middle = self._link_path(up_a[-1], up_b[-1])
            if middle is None:
                return None
            path = up_a[:-1] + middle + up_b[:-1][::-1]
        edges = self._g.edges
        if all(edges[u, v]["up"] for u, v in zip(path, path[1:], strict=False)):
            return path
        return None

    def _link_path(self, a: str, b: str) -> list[str] | None:
        """Least-latency path over up links between two unbridged cluster vertices."""
        key = ("links", a, b)
        if key not in self._memo:
            links = nx.Graph()
            edges = self._g.edges
            links.add_weighted_edges_from(
                sorted(
                    (u, v, edges[u, v]["latency"]) for u, v in self._link_pairs if edges[u, v]["up"]
                ),
                weight="latency",
            )
            try:
                self._memo[key] = nx.shortest_path(links, a, b, weight="latency")
            except (nx.NetworkXNoPath, nx.NodeNotFound):
                self._memo[key] = None
        return self._memo[key]  # type: ignore[return-value]

    def _containers(self, vertex: str) -> set[str]:
        out = {vertex}
        while (parent := self._g.nodes[vertex].get("parent")) is not None:
            out.add(parent)
            vertex = parent
        return out

    def _lost(self, src: Pod, dst: Pod) -> bool:
        """Whether this connection attempt from ``src`` to ``dst`` is lost on a lossy link.

        Drawn only when the route crosses a link with loss, so lossless runs never move the
        stream; the draw order is the dial order, which the simulation fixes.
        """
        a, b = _v_pod(src), _v_pod(dst)
        loss = self._losses.get((a, b))
        if loss is None:
            keep = 1.0
            path = self._path(a, b) or []
            for u, v in zip(path, path[1:], strict=False):
                keep *= 1.0 - self._g.edges[u, v].get("loss", 0.0)
            loss = self._losses[(a, b)] = 1.0 - keep
        return loss > 0.0 and self._loss_rng.random() < loss

    def _blocked(self, path: list[str]) -> bool:
        if not self._blocks:
            return False
        # The places containing an end are the end and its ancestors in the containment tree
        # (pod in node in cluster in bridge); cluster links are not containment.
        p_in, q_in = self._containers(path[0]), self._containers(path[-1])
        for x, y in self._blocks:
            for a, b in ((x, y), (y, x)):
                # One end inside a, the other inside b, and not both ends inside both.
                if a in p_in and b in q_in and not (a in q_in and b in p_in):
                    return True
        return False
