"""The L2 actors wired by hand into the seed's world: bundle exchange after `bundle set`, a
successful cross-domain request, then the failure once federatesWith is gone, in the products'
words. (The scenario loader and `spire-sim run` will build the same world from YAML.)"""

from __future__ import annotations

import simpy

from sim import ca, rng
from sim.agent import SpireAgent
from sim.bundle import Bundle
from sim.clock import Clock
from sim.eventlog import EventLog
from sim.federation import BundleClient, Relationship
from sim.network import Connection, Network
from sim.registration import RegistrationEntry, Selector
from sim.server import ServerConfig, SpireServer
from sim.spiffeid import SpiffeID, TrustDomain
from sim.workload import Ghostunnel, request
from sim.x509svid import VerificationCache, VerifyStyle

SEED = 1
CLOCK = Clock.parse("2019-12-17T00:00:00Z")


def build(env: simpy.Environment):
    log = EventLog()
    net = Network(rng.stream(SEED, "network"))
    net.add_cluster("spire-federation")
    net.add_node("spire-federation", "spire-federation-control-plane", role="control-plane")
    net.add_node("spire-federation", "spire-federation-worker", taints=["app=foo:NoSchedule"])
    net.add_node("spire-federation", "spire-federation-worker2", taints=["app=bar:NoSchedule"])
    cache = VerificationCache()
    servers: dict[str, SpireServer] = {}
    pods = {}
    for name in ("foo", "bar"):
        td = TrustDomain.parse(f"{name}.example.com")
        tol = [f"app={name}:NoSchedule"]
        pod = net.add_pod(
            "spire-federation",
            name,
            "spire-server-0",
            labels={"app": "spire-server"},
            tolerations=tol,
        )
        net.add_service(
            "spire-federation",
            name,
            "spire-server",
            selector={"app": "spire-server"},
            ports=[(8081, 8081), (8443, 8443)],
        )
        net.listen(pod, 8081)
        net.listen(pod, 8443)
        pods[name] = pod
        upstream = ca.UpstreamAuthority.generate(
            f"{name} root", now=CLOCK.to_datetime(0), rng=rng.stream(SEED, f"upstream/{td}")
        )
        cfg = ServerConfig(
            trust_domain=td,
            spire_version="0.9",
            upstream=upstream,
            upstream_ttl=12 * 3600,
            bundle_endpoint_port=8443,
        )
        logger = log.logger(
            f"{name}/spire-server-0", host=pod.node, component="spire-server", trust_domain=td.name
        )
        servers[name] = SpireServer(env, cfg, CLOCK, logger, rng.stream(SEED, f"server/{td}"))
    by_pod = {pods[n].name + pods[n].namespace: servers[n] for n in servers}

    def endpoint_at(conn: Connection):
        return by_pod.get(conn.dst.name + conn.dst.namespace)

    clients = {}
    for name, peer in (("foo", "bar"), ("bar", "foo")):
        peer_td = TrustDomain.parse(f"{peer}.example.com")
        rel = Relationship(
            peer_td,
            f"spire-server.{peer}.svc.cluster.local",
            8443,
            SpiffeID.from_path(peer_td, "/spire/server"),
        )
        clients[name] = BundleClient(
            env,
            servers[name],
            rel,
            dial=lambda h, p, pod=pods[name]: net.dial(pod, h, p),
            endpoint_at=endpoint_at,
            clock=CLOCK,
            log=servers[name].log,
            cache=cache,
        )
    return log, net, servers, clients, pods, cache


def test_seed_bootstrap_exchange_success_then_failure_without_federates_with() -> None:
    env = simpy.Environment(initial_time=32)
    log, net, servers, clients, pods, cache = build(env)
    for s in servers.values():
        env.process(s.run())
    for c in clients.values():
        env.process(c.run())
    env.run(until=29 * 60)
    # Before `bundle set`: SPIRE 0.9 cannot authenticate the peer, retries every minute.
    assert log.count(msg="Error updating bundle", fields={"error": "local bundle not found"}) >= 2
    for name, peer in (("foo", "bar"), ("bar", "foo")):
        peer_root = servers[peer].bundle.x509_authorities
        servers[name].set_federated_bundle(Bundle(servers[peer].trust_domain, peer_root))
    env.run(until=30 * 60)
    refreshed = log.find(msg="Bundle refreshed")
    assert sorted((r.instance, r.field("trust_domain"), CLOCK.rfc3339(r.t)) for r in refreshed) == [
        ("bar/spire-server-0", "foo.example.com", "2019-12-17T00:29:32Z"),
        ("foo/spire-server-0", "bar.example.com", "2019-12-17T00:29:32Z"),
    ]
    nxt = log.find(msg="Scheduling next bundle refresh", since=29 * 60)
    assert {r.field("at") for r in nxt} == {"2020-01-31T15:29:32Z"}
    assert '"spiffe_refresh_hint": 15768000' in servers["bar"].served_document()

    # Agents, entries, workloads.
    agents = {}
    for name in ("foo", "bar"):
        td = servers[name].trust_domain
        agent_id = SpiffeID.from_path(td, "/spire/agent/k8s_psat/spire-federation/node")
        sels = (Selector.parse(f"k8s_psat:agent_ns:{name}"),)
        alog = log.logger(
            f"{name}/spire-agent", host="n", component="spire-agent", trust_domain=td.name
        )
        agents[name] = SpireAgent(
            env, servers[name], CLOCK, alog, rng.stream(SEED, f"a/{name}"), agent_id, sels
        )
        env.process(agents[name].run())
        node_entry = RegistrationEntry.build(
            entry_id=f"{name}-node",
            spiffe_id=f"spiffe://{td}/spire-agent",
            selectors=[f"k8s_psat:agent_ns:{name}"],
            node=True,
        )
        assert servers[name].create_entry(node_entry) == node_entry
    foo, bar = servers["foo"], servers["bar"]

    def workload_entry(srv, path, app, fed):
        return RegistrationEntry.build(
            entry_id=f"{path}-{len(fed)}",
            spiffe_id=f"spiffe://{srv.trust_domain}/{path}",
            parent_id=f"spiffe://{srv.trust_domain}/spire-agent",
            selectors=[f"k8s:pod-label:app:{app}"],
            federates_with=fed,
        )

    assert not isinstance(
        foo.create_entry(
            workload_entry(foo, "http-server", "http-server", ["spiffe://bar.example.com"])
        ),
        str,
    )
    assert not isinstance(
        bar.create_entry(workload_entry(bar, "client", "client", ["spiffe://foo.example.com"])), str
    )

    srv_pod = net.add_pod(
        "spire-federation",
        "foo",
        "http-server",
        labels={"app": "http-server"},
        tolerations=["app=foo:NoSchedule"],
    )
    net.add_service(
        "spire-federation",
        "foo",
        "http-server",
        selector={"app": "http-server"},
        ports=[(18443, 8443)],
    )
    net.listen(srv_pod, 8443)
    cli_pod = net.add_pod(
        "spire-federation",
        "bar",
        "client",
        labels={"app": "client"},
        tolerations=["app=bar:NoSchedule"],
    )
    net.listen(cli_pod, 8080)
    g_server = Ghostunnel(
        env,
        "server",
        srv_pod,
        8443,
        "127.0.0.1",
        8080,
        ("spiffe://bar.example.com/client",),
        VerifyStyle.PRE1,
        log.logger(
            "foo/http-server/ghostunnel", host=srv_pod.node, component="ghostunnel", style="golog"
        ),
    )
    g_client = Ghostunnel(
        env,
        "client",
        cli_pod,
        8080,
        "http-server.foo.svc.cluster.local",
        18443,
        ("spiffe://foo.example.com/http-server",),
        VerifyStyle.PRE1,
        log.logger(
            "bar/client/ghostunnel", host=cli_pod.node, component="ghostunnel", style="golog"
        ),
    )
    env.run(until=env.now + 10)
    agents["foo"].subscribe((Selector.parse("k8s:pod-label:app:http-server"),), g_server.on_update)
    agents["bar"].subscribe((Selector.parse("k8s:pod-label:app:client"),), g_client.on_update)
    assert g_server.ready and g_client.ready
    curl = log.logger("bar/client/curl", host=cli_pod.node, component="curl", style="curl")

    def one():
        return request(
            env,
            g_client,
            net.dial,
            lambda c: g_server if c.dst.name == "http-server" else None,
            curl,
            CLOCK,
            cache,
        )

    assert one().ok
    # Entries re-created without federatesWith: the client loses foo's bundle.
    foo.delete_entry(SpiffeID.parse("spiffe://foo.example.com/http-server"))
    bar.delete_entry(SpiffeID.parse("spiffe://bar.example.com/client"))
    foo.create_entry(workload_entry(foo, "http-server", "http-server", []))
    bar.create_entry(workload_entry(bar, "client", "client", []))
    env.run(until=env.now + 10)
    out = one()
    assert not out.ok and out.curl_exit == 56
    client_lines = log.render_native("bar/client/ghostunnel", CLOCK)
    server_lines = log.render_native("foo/http-server/ghostunnel", CLOCK)
    assert (
        'error on dial: no roots for peer trust domain "spiffe://foo.example.com"' in client_lines
    )
    assert f"error on TLS handshake from {cli_pod.ip}:" in server_lines
    assert "remote error: tls: bad certificate" in server_lines
    assert "curl: (56) Recv failure: Connection reset by peer" in log.render_native(
        "bar/client/curl", CLOCK
    )
