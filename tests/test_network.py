"""Tests for sim.network: the seed's kind cluster, scheduling, addressing, DNS, dials, faults."""

from __future__ import annotations

import random

import pytest

from sim.network import (
    EPHEMERAL_PORT_RANGE,
    Connection,
    DialError,
    Network,
    NetworkError,
    Pod,
    ServicePort,
    Taint,
    Toleration,
)

C = "spire-federation"
CP, W1, W2 = f"{C}-control-plane", f"{C}-worker", f"{C}-worker2"
FOO, BAR = "app=foo:NoSchedule", "app=bar:NoSchedule"


def kind_cluster(seed: int = 1, *, blog_addresses: bool = False) -> Network:
    """The seed's cluster: a control plane and two workers tainted for foo and bar."""
    net = Network(random.Random(seed))
    net.add_cluster(C)
    # kind starts node containers concurrently; the blog's workers got .3 and .2.
    ips = ("172.17.0.4", "172.17.0.3", "172.17.0.2") if blog_addresses else (None,) * 3
    # Unmodelled system pods took the first addresses on the blog's workers.
    starts = (2, 3, 4) if blog_addresses else (2, 2, 2)
    net.add_node(C, CP, role="control-plane", ip=ips[0], pod_ip_start=starts[0])
    net.add_node(C, W1, taints=[FOO], ip=ips[1], pod_ip_start=starts[1])
    net.add_node(C, W2, taints=[BAR], ip=ips[2], pod_ip_start=starts[2])
    return net


def seed_world(seed: int = 1) -> tuple[Network, dict[str, Pod]]:
    """kind_cluster plus the seed's pods, services and listeners (blog addresses)."""
    net = kind_cluster(seed, blog_addresses=True)
    pods: dict[str, Pod] = {}
    for ns, taint in (("foo", FOO), ("bar", BAR)):
        pods[f"{ns}-server"] = net.add_pod(
            C, ns, "spire-server-0", labels={"app": "spire-server"}, tolerations=[taint]
        )
        net.add_service(C, ns, "spire-server", selector={"app": "spire-server"}, ports=[8081, 8443])
        net.listen(pods[f"{ns}-server"], 8081)
        net.listen(pods[f"{ns}-server"], 8443)
        (pods[f"{ns}-agent"],) = net.add_daemonset(
            C,
            ns,
            "spire-agent",
            labels={"app": "spire-agent"},
            tolerations=[taint],
            host_network=True,
        )
    pods["http-server"] = net.add_pod(
        C, "foo", "http-server-7d9c8b5f4-abcde", labels={"app": "http-server"}, tolerations=[FOO]
    )
    net.add_service(
        C,
        "foo",
        "http-server",
        selector={"app": "http-server"},
        ports=[(18443, 8443)],
        type="NodePort",
    )
    net.listen(pods["http-server"], 8443)  # ghostunnel server
    net.listen(pods["http-server"], 8080, host="127.0.0.1")  # python -m http.server behind it
    pods["client"] = net.add_pod(
        C,
        "bar",
        "client-6f7d8c9b4-fghij",
        labels={"app": "client"},
        tolerations=[BAR],
        ip="10.244.2.15",
    )
    net.listen(pods["client"], 8080)  # ghostunnel client
    return net, pods


# --- taints, tolerations, scheduling -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "taint"),
    [
        ("app=foo:NoSchedule", Taint("app", "foo", "NoSchedule")),
        ("node-role.kubernetes.io/master:NoSchedule", Taint("node-role.kubernetes.io/master")),
        ("dedicated=gpu:NoExecute", Taint("dedicated", "gpu", "NoExecute")),
    ],
)
def test_taint_parse_and_str(text: str, taint: Taint) -> None:
    assert Taint.parse(text) == taint
    assert str(taint) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app=foo", 'invalid taint "app=foo": expected key[=value]:Effect'),
        (
            "app=foo:Never",
            'invalid taint effect "Never" (expected NoSchedule, PreferNoSchedule, NoExecute)',
        ),
        (":NoSchedule", 'invalid taint key ""'),
    ],
)
def test_taint_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(NetworkError) as caught:
        Taint.parse(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        ("app=foo:NoSchedule", "app=foo:NoSchedule", True),
        ("app=foo:NoSchedule", "app=bar:NoSchedule", False),
        ("app=foo:NoSchedule", "app=foo:NoExecute", False),
        ("app=foo", "app=foo:NoExecute", True),
        ("app:NoSchedule", "app=bar:NoSchedule", True),
        ("app", "app=bar:PreferNoSchedule", True),
        ("other", "app=bar:NoSchedule", False),
        (Toleration(operator="Exists"), "app=bar:NoSchedule", True),
        (Toleration(operator="Exists", effect="NoExecute"), "app=bar:NoSchedule", False),
    ],
)
def test_toleration_matching(toleration: Toleration | str, taint: str, tolerated: bool) -> None:
    tol = toleration if isinstance(toleration, Toleration) else Toleration.parse(toleration)
    assert tol.tolerates(Taint.parse(taint)) is tolerated


def test_nodes_follow_kind_and_kubeadm() -> None:
    net = kind_cluster()
    cp, w1, w2 = net.nodes(C)
    assert (cp.name, cp.ip, cp.pod_cidr) == (CP, "172.17.0.2", "10.244.0.0/24")
    assert (w1.name, w1.ip, w1.pod_cidr) == (W1, "172.17.0.3", "10.244.1.0/24")
    assert (w2.name, w2.ip, w2.pod_cidr) == (W2, "172.17.0.4", "10.244.2.0/24")
    assert [str(t) for t in cp.taints] == ["node-role.kubernetes.io/master:NoSchedule"]
    assert ("kubernetes.io/hostname", W1) in w1.labels


@pytest.mark.parametrize(
    ("namespace", "tolerations", "node"),
    [
        ("foo", [FOO], W1),
        ("bar", [BAR], W2),
        ("both", [FOO, BAR], W1),  # tie on pod count: name order
        ("any", [Toleration(operator="Exists")], CP),
        ("master", ["node-role.kubernetes.io/master:NoSchedule"], CP),
    ],
)
def test_scheduling_by_taints(namespace: str, tolerations: list, node: str) -> None:
    net = kind_cluster()
    assert net.add_pod(C, namespace, "p", tolerations=tolerations).node == node


def test_scheduling_spreads_by_pod_count_then_name() -> None:
    net = kind_cluster()
    both = [FOO, BAR]
    placed = [net.add_pod(C, "ns", f"p{i}", tolerations=both).node for i in range(4)]
    assert placed == [W1, W2, W1, W2]


def test_prefer_no_schedule_is_a_preference() -> None:
    net = Network(random.Random(1))
    net.add_cluster("c")
    net.add_node("c", "a", taints=["slow=yes:PreferNoSchedule"])
    net.add_node("c", "b")
    assert net.add_pod("c", "ns", "p1").node == "b"
    assert net.add_pod("c", "ns", "p2").node == "b"  # still preferred despite more pods
    net.add_node("c", "z", taints=[FOO])
    assert net.add_pod("c", "ns", "p3", node="a").node == "a"  # allowed, only dispreferred


def test_seed_scheduling_keeps_the_control_plane_empty() -> None:
    net, pods = seed_world()
    assert net.pods_on(CP) == []
    assert [p.ref for p in net.pods_on(W1)] == sorted(
        ["foo/http-server-7d9c8b5f4-abcde", pods["foo-agent"].ref, "foo/spire-server-0"]
    )
    assert [p.ref for p in net.pods_on(W2)] == sorted(
        [pods["bar-agent"].ref, "bar/client-6f7d8c9b4-fghij", "bar/spire-server-0"]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"tolerations": []},
            'pod "baz/p" fits no node in cluster "spire-federation": spire-federation-control-'
            "plane has taint node-role.kubernetes.io/master:NoSchedule; spire-federation-worker "
            "has taint app=foo:NoSchedule; spire-federation-worker2 has taint app=bar:NoSchedule"
            " (the pod tolerates no taints)",
        ),
        (
            {"tolerations": ["app=foo"], "node": W2},
            'pod "baz/p" fits no node in cluster "spire-federation": spire-federation-worker2 '
            "has taint app=bar:NoSchedule (the pod tolerates app=foo)",
        ),
        (
            {"tolerations": [FOO], "node_selector": {"disk": "ssd"}},
            'pod "baz/p" fits no node in cluster "spire-federation": spire-federation-control-'
            "plane has taint node-role.kubernetes.io/master:NoSchedule; spire-federation-worker "
            "does not match node selector disk=ssd; spire-federation-worker2 has taint "
            "app=bar:NoSchedule (the pod tolerates app=foo:NoSchedule)",
        ),
    ],
)
def test_unschedulable_pod_names_pod_and_taints(kwargs: dict, message: str) -> None:
    with pytest.raises(NetworkError) as caught:
        kind_cluster().add_pod(C, "baz", "p", **kwargs)
    assert str(caught.value) == message


def test_daemonset_lands_only_where_tolerated() -> None:
    net = kind_cluster()
    (agent,) = net.add_daemonset(C, "foo", "spire-agent", tolerations=[FOO], host_network=True)
    assert agent.node == W1 and agent.ip == "172.17.0.3"
    assert agent.name.startswith("spire-agent-") and len(agent.name) == len("spire-agent-") + 5
    everywhere = net.add_daemonset(
        C, "kube-system", "kindnet", tolerations=[Toleration(operator="Exists")]
    )
    assert [p.node for p in everywhere] == [CP, W1, W2]
    # Deterministic from the seed; another seed, other names.
    again = kind_cluster().add_daemonset(C, "foo", "spire-agent", tolerations=[FOO])
    assert again[0].name == agent.name
    other = kind_cluster(seed=2).add_daemonset(C, "foo", "spire-agent", tolerations=[FOO])
    assert other[0].name != agent.name


# --- addresses ---------------------------------------------------------------------------------


def test_seed_addresses_are_reproduced() -> None:
    _, pods = seed_world()
    assert pods["foo-server"].ip == "10.244.1.3"
    assert pods["bar-server"].ip == "10.244.2.4"
    assert pods["foo-agent"].ip == "172.17.0.3"  # hostNetwork: the node's IP
    assert pods["bar-agent"].ip == "172.17.0.2"
    assert pods["http-server"].ip == "10.244.1.4"
    assert pods["client"].ip == "10.244.2.15"


def test_pod_ips_are_sequential_without_early_reuse() -> None:
    net = kind_cluster()
    a = net.add_pod(C, "foo", "a", tolerations=[FOO])
    b = net.add_pod(C, "foo", "b", tolerations=[FOO])
    assert (a.ip, b.ip) == ("10.244.1.2", "10.244.1.3")
    net.remove_pod(a)
    # host-local IPAM goes on from the last address it handed out.
    assert net.add_pod(C, "foo", "c", tolerations=[FOO]).ip == "10.244.1.4"
    with pytest.raises(NetworkError, match="pod IP 10.244.1.3 is already in use"):
        net.add_pod(C, "foo", "d", tolerations=[FOO], ip="10.244.1.3")
    with pytest.raises(NetworkError, match="not assignable in 10.244.1.0/24"):
        net.add_pod(C, "foo", "e", tolerations=[FOO], ip="10.244.2.9")


def test_pod_ips_wrap_and_reuse() -> None:
    net = Network(random.Random(1))
    net.add_cluster("c")
    net.add_node("c", "n", pod_ip_start=253)
    ips = [net.add_pod("c", "ns", f"p{i}").ip for i in range(2)]
    assert ips == ["10.244.0.253", "10.244.0.254"]
    assert net.add_pod("c", "ns", "p2").ip == "10.244.0.2"


def test_cluster_ips_are_sequential_around_kube_dns() -> None:
    net = kind_cluster()
    assert net.service("default", "kubernetes").cluster_ip == "10.96.0.1"
    assert net.service("kube-system", "kube-dns").cluster_ip == "10.96.0.10"
    ips = [
        net.add_service(C, "ns", f"s{i}", selector={"app": "x"}, ports=[80]).cluster_ip
        for i in range(9)
    ]
    assert ips[0] == "10.96.0.2" and ips[7] == "10.96.0.9" and ips[8] == "10.96.0.11"
    pinned = net.add_service(C, "ns", "pinned", selector=None, ports=[80], cluster_ip="10.96.0.15")
    assert pinned.cluster_ip == "10.96.0.15"


def test_node_ports_are_deterministic_and_in_range() -> None:
    port = seed_world()[0].service("foo", "http-server").ports[0]
    assert port.node_port == seed_world()[0].service("foo", "http-server").ports[0].node_port
    assert port.node_port is not None and 30000 <= port.node_port <= 32767


# --- DNS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "namespace", "ip"),
    [
        ("http-server.foo.svc.cluster.local", "bar", "10.96.0.4"),
        ("http-server.foo.svc.cluster.local.", "bar", "10.96.0.4"),
        ("HTTP-Server.foo.svc.cluster.local", "bar", "10.96.0.4"),
        ("http-server.foo.svc", "bar", "10.96.0.4"),
        ("http-server.foo", "bar", "10.96.0.4"),
        ("http-server", "foo", "10.96.0.4"),
        ("http-server", "bar", None),
        ("spire-server", "foo", "10.96.0.2"),
        ("spire-server", "bar", "10.96.0.3"),
        ("spire-server.bar", "foo", "10.96.0.3"),
        ("kubernetes.default", "foo", "10.96.0.1"),
        ("kubernetes", "default", "10.96.0.1"),
        ("localhost", "foo", "127.0.0.1"),
        ("10.244.1.3", "foo", "10.244.1.3"),
        ("example.com", "foo", None),
    ],
)
def test_resolve_uses_the_search_path(name: str, namespace: str, ip: str | None) -> None:
    net, _ = seed_world()
    assert net.resolve(name, namespace) == ip


def test_extra_dns_records() -> None:
    net, _ = seed_world()
    net.add_dns_record(C, "spire.peer.example", "172.17.0.9")
    assert net.resolve("spire.peer.example", "foo") == "172.17.0.9"


# --- dialing -----------------------------------------------------------------------------------


def test_seed_dial_through_the_service() -> None:
    net, pods = seed_world()
    conn = net.dial(pods["client"], "http-server.foo.svc.cluster.local", 18443)
    assert isinstance(conn, Connection)
    assert conn.dst == pods["http-server"]
    assert conn.remote_addr == "10.96.0.4:18443"
    assert conn.target_addr == "10.244.1.4:8443"
    assert conn.local_ip == "10.244.2.15"
    assert conn.service is not None and conn.service.name == "http-server"
    # pod veth + node link, twice (worker2 -> bridge -> worker).
    assert conn.latency == pytest.approx(2 * 20e-6 + 2 * 50e-6)


def test_ephemeral_ports_are_linux_like_and_deterministic() -> None:
    net, pods = seed_world()
    ports = [net.dial(pods["client"], "http-server.foo", 18443).local_port for _ in range(3)]
    low, high = EPHEMERAL_PORT_RANGE
    assert all(low <= p <= high and p % 2 == 0 for p in ports)
    assert ports[1] == ports[0] + 2 or ports[1] < ports[0]  # steps by 2, wrapping
    again, pods2 = seed_world()
    assert [
        again.dial(pods2["client"], "http-server.foo", 18443).local_port for _ in range(3)
    ] == ports
    other, pods3 = seed_world(seed=7)
    assert other.dial(pods3["client"], "http-server.foo", 18443).local_port != ports[0]
    pinned = net.dial(pods["client"], "http-server.foo", 18443, src_port=33568)
    assert isinstance(pinned, Connection) and pinned.local_addr == "10.244.2.15:33568"


def test_loopback_dials_stay_in_the_pod() -> None:
    net, pods = seed_world()
    conn = net.dial(pods["http-server"], "127.0.0.1", 8080)
    assert isinstance(conn, Connection)
    assert (conn.dst, conn.latency, conn.local_ip) == (pods["http-server"], 0.0, "127.0.0.1")
    conn = net.dial(pods["client"], "localhost", 8080)  # curl -> ghostunnel client
    assert isinstance(conn, Connection) and conn.dst == pods["client"]
    refused = net.dial(pods["client"], "localhost", 9999)
    assert str(refused) == "dial tcp 127.0.0.1:9999: connect: connection refused"


def test_node_ip_reaches_node_ports_and_host_network_listeners() -> None:
    net, pods = seed_world()
    node_port = net.service("foo", "http-server").ports[0].node_port
    conn = net.dial(pods["client"], "172.17.0.2", node_port)  # any node forwards a NodePort
    assert isinstance(conn, Connection) and conn.dst == pods["http-server"]
    net.listen(pods["foo-agent"], 8088)
    conn = net.dial(pods["foo-server"], "172.17.0.3", 8088)
    assert isinstance(conn, Connection) and conn.dst == pods["foo-agent"]


@pytest.mark.parametrize(
    ("host", "port", "kind", "text"),
    [
        (
            "http-server.bar.svc.cluster.local",
            18443,
            "lookup",
            "dial tcp: lookup http-server.bar.svc.cluster.local on 10.96.0.10:53: no such host",
        ),
        (
            "http-server",
            18443,
            "lookup",
            "dial tcp: lookup http-server on 10.96.0.10:53: no such host",
        ),
        ("spire-server", 9999, "timeout", "dial tcp 10.96.0.3:9999: i/o timeout"),
        ("10.244.1.4", 8080, "refused", "dial tcp 10.244.1.4:8080: connect: connection refused"),
        ("10.244.1.4", 1234, "refused", "dial tcp 10.244.1.4:1234: connect: connection refused"),
        ("10.244.1.99", 8443, "timeout", "dial tcp 10.244.1.99:8443: i/o timeout"),
        ("172.17.0.3", 1234, "refused", "dial tcp 172.17.0.3:1234: connect: connection refused"),
        ("172.17.0.99", 1234, "timeout", "dial tcp 172.17.0.99:1234: i/o timeout"),
        (
            "kubernetes.default",
            443,
            "refused",
            "dial tcp 10.96.0.1:443: connect: connection refused",
        ),
    ],
)
def test_dial_errors_read_like_go(host: str, port: int, kind: str, text: str) -> None:
    net, pods = seed_world()
    err = net.dial(pods["client"], host, port)
    assert isinstance(err, DialError)
    assert (err.kind, str(err)) == (kind, text)


def test_refused_when_the_listener_is_gone() -> None:
    net, pods = seed_world()
    net.unlisten(pods["http-server"], 8443)
    err = net.dial(pods["client"], "http-server.foo.svc.cluster.local", 18443)
    assert str(err) == "dial tcp 10.96.0.4:18443: connect: connection refused"
    assert isinstance(err, DialError) and err.elapsed == pytest.approx(2 * 140e-6)


def test_refused_when_the_service_has_no_endpoints() -> None:
    net, pods = seed_world()
    net.remove_pod(pods["http-server"])
    err = net.dial(pods["client"], "http-server.foo.svc.cluster.local", 18443)
    assert str(err) == "dial tcp 10.96.0.4:18443: connect: connection refused"
    with pytest.raises(NetworkError, match='pod "foo/http-server-7d9c8b5f4-abcde" does not exist'):
        net.dial(pods["http-server"], "localhost", 8080)


def test_service_with_several_backends_picks_deterministically() -> None:
    def picks(seed: int) -> list[str]:
        net = kind_cluster(seed)
        backends = [
            net.add_pod(C, "foo", f"web-{i}", labels={"app": "web"}, tolerations=[FOO])
            for i in range(3)
        ]
        for pod in backends:
            net.listen(pod, 80)
        net.add_service(C, "foo", "web", selector={"app": "web"}, ports=[80])
        client = net.add_pod(C, "foo", "client", tolerations=[FOO])
        return [net.dial(client, "web", 80).dst.name for _ in range(12)]  # type: ignore[union-attr]

    assert picks(3) == picks(3)
    assert set(picks(3)) == {"web-0", "web-1", "web-2"}


# --- faults ------------------------------------------------------------------------------------


def test_partition_then_heal_between_nodes() -> None:
    net, pods = seed_world()
    net.partition(W1, W2)
    err = net.dial(pods["client"], "http-server.foo.svc.cluster.local", 18443)
    assert str(err) == "dial tcp 10.96.0.4:18443: i/o timeout"
    assert isinstance(err, DialError) and err.elapsed is None
    assert not net.reachable(pods["client"], pods["http-server"])
    # Same-node traffic and DNS (on the control plane) are unaffected.
    assert isinstance(net.dial(pods["client"], "spire-server", 8081), Connection)
    net.heal(W2, W1)
    assert isinstance(net.dial(pods["client"], "http-server.foo", 18443), Connection)


def test_partition_a_node_from_its_cluster() -> None:
    net, pods = seed_world()
    net.partition(C, W2)
    assert not net.reachable(pods["client"], pods["http-server"])
    assert net.reachable(pods["client"], pods["bar-server"])
    # The control plane (CoreDNS) is out of reach too: lookups time out.
    err = net.dial(pods["client"], "spire-server", 8081)
    assert isinstance(err, DialError) and err.kind == "lookup"
    assert str(err).startswith(
        "dial tcp: lookup spire-server on 10.96.0.10:53: read udp 10.244.2.15:"
    )
    assert str(err).endswith("->10.96.0.10:53: i/o timeout")
    assert isinstance(net.dial(pods["client"], "10.244.2.4", 8081), Connection)
    net.heal_all()
    assert net.reachable(pods["client"], pods["http-server"])


def test_isolate_and_reconnect_a_pod() -> None:
    net, pods = seed_world()
    net.isolate(pods["http-server"])
    err = net.dial(pods["client"], "10.244.1.4", 8443)
    assert str(err) == "dial tcp 10.244.1.4:8443: i/o timeout"
    # Inside the pod, loopback still works.
    assert isinstance(net.dial(pods["http-server"], "127.0.0.1", 8080), Connection)
    net.reconnect(pods["http-server"])
    assert isinstance(net.dial(pods["client"], "10.244.1.4", 8443), Connection)


def test_partition_between_clusters() -> None:
    net = Network(random.Random(1))
    for name in ("east", "west"):
        net.add_cluster(name)
        net.add_node(name, f"{name}-control-plane", role="control-plane")
        net.add_node(name, f"{name}-worker")
    server = net.add_pod("west", "spire", "spire-server-0", labels={"app": "spire-server"})
    net.listen(server, 8443)
    svc = net.add_service(
        "west",
        "spire",
        "spire-server",
        selector={"app": "spire-server"},
        ports=[ServicePort(8443, 8443, "bundle", 31443)],
        type="NodePort",
    )
    client = net.add_pod("east", "spire", "spire-server-0")
    # Pod IPs and Service names are per cluster; the peer is reached by node IP + NodePort.
    assert net.resolve("spire-server", "spire", cluster="east") is None
    west_worker = net.node("west-worker")
    net.add_dns_record("east", "spire.west.example", west_worker.ip)
    conn = net.dial(client, "spire.west.example", 31443)
    assert isinstance(conn, Connection) and conn.dst == server and conn.service == svc
    net.partition("east", "west")
    assert str(net.dial(client, "spire.west.example", 31443)) == (
        f"dial tcp {west_worker.ip}:31443: i/o timeout"
    )
    net.heal("east", "west")
    assert isinstance(net.dial(client, "spire.west.example", 31443), Connection)


def test_latency_change() -> None:
    net, pods = seed_world()
    net.set_latency(W1, 0.025)
    conn = net.dial(pods["client"], "http-server.foo", 18443)
    assert isinstance(conn, Connection)
    assert conn.latency == pytest.approx(0.025 + 50e-6 + 2 * 20e-6)
    assert net.latency(pods["client"], pods["http-server"]) == pytest.approx(conn.latency)


@pytest.mark.parametrize(
    ("mode", "text"),
    [
        (
            "nxdomain",
            "dial tcp: lookup http-server.foo.svc.cluster.local on 10.96.0.10:53: no such host",
        ),
        (
            "servfail",
            "dial tcp: lookup http-server.foo.svc.cluster.local on 10.96.0.10:53: "
            "server misbehaving",
        ),
    ],
)
def test_dns_failure_then_restore(mode: str, text: str) -> None:
    net, pods = seed_world()
    net.fail_dns("http-server.foo.svc.cluster.local", mode=mode)  # type: ignore[arg-type]
    err = net.dial(pods["client"], "http-server.foo.svc.cluster.local", 18443)
    assert str(err) == text
    assert net.resolve("http-server", "foo") is None
    net.restore_dns("http-server.foo.svc.cluster.local")
    assert isinstance(
        net.dial(pods["client"], "http-server.foo.svc.cluster.local", 18443), Connection
    )


def test_dns_timeout_names_the_udp_socket() -> None:
    net, pods = seed_world()
    net.fail_dns("http-server.foo.svc.cluster.local", cluster=C, mode="timeout")
    err = net.dial(pods["client"], "http-server.foo", 18443)
    assert str(err).startswith(
        "dial tcp: lookup http-server.foo on 10.96.0.10:53: read udp 10.244.2.15:"
    )


# --- misuse ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda net: net.add_cluster(C), 'cluster "spire-federation" already exists'),
        (lambda net: net.add_node("nope", "n"), 'no cluster "nope"'),
        (lambda net: net.add_node(C, W1), f'node "{W1}" already exists'),
        (
            lambda net: net.add_node(C, "n", ip="172.17.0.2"),
            f'node IP 172.17.0.2 is already used by node "{CP}"',
        ),
        (
            lambda net: net.add_node(C, "n", pod_cidr_index=1),
            f'pod CIDR 10.244.1.0/24 is already used by node "{W1}"',
        ),
        (lambda net: net.add_pod(C, "Foo", "p"), 'invalid namespace "Foo"'),
        (
            lambda net: (
                net.listen(net.add_pod(C, "foo", "p", tolerations=[FOO]), -1)
                or net.listen(net.pod("foo", "p"), -1)
            ),
            "listen tcp 0.0.0.0:-1: bind: address already in use",
        ),
        (
            lambda net: net.add_service(C, "foo", "s", selector=None, ports=[0]),
            'invalid port 0 in service "foo/s"',
        ),
        (
            lambda net: net.pod("foo", "missing"),
            'no pod "foo/missing" in cluster "spire-federation"',
        ),
        (lambda net: net.partition(W1, W1), f"cannot partition node/{W1} from itself"),
        (lambda net: net.partition(W1, "mars"), 'no node or cluster "mars"'),
        (
            lambda net: net.fail_dns("x", mode="slow"),
            'invalid DNS fault "slow" (expected nxdomain, servfail, timeout)',
        ),
    ],
)
def test_misuse_raises_clear_errors(build, message: str) -> None:  # noqa: ANN001
    net = kind_cluster()
    with pytest.raises(NetworkError) as caught:
        build(net)
    assert str(caught.value) == message


def test_graph_is_a_read_only_tree() -> None:
    net, _ = seed_world()
    graph = net.graph
    assert graph.has_edge("cluster/spire-federation", f"node/{W1}")
    assert graph.number_of_edges() == graph.number_of_nodes() - 1
    with pytest.raises(Exception):  # noqa: B017 - networkx raises NetworkXError on frozen views
        graph.add_edge("a", "b")
