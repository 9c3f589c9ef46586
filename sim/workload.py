"""Workloads: a pod's app (an HTTP server, or curl on a schedule) behind a ghostunnel-style mTLS
sidecar that takes its SVID and bundles from the SPIRE agent's Workload API and judges every new
connection with the latest it has.

ghostunnel v1.5.2 strings (gu@v1.5.2 proxy/proxy.go, certloader/spiffe_tls_config.go):
`error on dial: %s`, `error on TLS handshake from %s: %s`, `error during copy: %s`,
`%s pipe: %s:%s [%s] <-> %s:%s [%s]`, `waiting for initial SPIFFE Workload API update...`,
`received SPIFFE Workload API update.`; curl's error lines are curl's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import simpy

from sim.agent import WorkloadUpdate
from sim.bundle import Bundle, BundleSet, BundleSource, PooledRoots
from sim.clock import Clock
from sim.eventlog import Logger
from sim.jwtclient import Rejection
from sim.mtls import HandshakeVerdict, Peer, ghostunnel_acl, handshake
from sim.network import Connection, DialError, Pod
from sim.x509svid import X509SVID, VerificationCache, VerifyStyle

__all__ = ["Ghostunnel", "RequestOutcome", "request"]

# curl(1) exit codes: 56 CURLE_RECV_ERROR, 52 CURLE_GOT_NOTHING, 7 CURLE_COULDNT_CONNECT.
CURL_RESET = (56, "Recv failure: Connection reset by peer")
CURL_EMPTY = (52, "Empty reply from server")
CURL_REFUSED = 7


@dataclass
class Ghostunnel:
    """A ghostunnel sidecar in ``mode`` "server" or "client" with its URI ACL."""

    env: simpy.Environment
    mode: str
    pod: Pod
    listen_port: int
    target_host: str
    target_port: int
    acl: tuple[str, ...]
    style: VerifyStyle
    log: Logger
    svid: X509SVID | None = None
    bundles: BundleSet = field(default_factory=BundleSet)
    ready: bool = False
    # UNSAFE `trust: pooled`: judge every peer against the union of all roots (story E4).
    pooled: bool = False
    denied: bool = False  # the Workload API answered "no identity issued"

    def start(self) -> None:
        self.log.info(self.env.now, f"starting ghostunnel in {self.mode} mode")
        self.log.info(self.env.now, "waiting for initial SPIFFE Workload API update...")

    def on_update(self, update: WorkloadUpdate) -> None:
        """A Workload API push; the next handshake uses it (established ones are untouched)."""
        if update.empty:
            # PermissionDenied "no identity issued": go-spiffe keeps the last good state and
            # retries (linear backoff up to 30 s); logged once per loss of identity here.
            if not self.denied:
                self.denied = True
                error = "rpc error: code = PermissionDenied desc = no identity issued"
                # gu@v1.5.2 certloader/spiffe_tls_config.go, gu@HEAD certloader/spiffe_logger.go
                # with gospiffe@HEAD workloadapi/client.go.
                self.log.info(
                    self.env.now,
                    f"(spiffe) [ERROR]: {error}"
                    if self.style is VerifyStyle.PRE1
                    else f"spiffe/error: Failed to watch the Workload API: {error}",
                )
            return
        self.denied = False
        entry, svid = update.svids[0]  # the default SVID is the first one
        own = update.bundle
        bundles: list[Bundle] = [] if own is None else [own]
        for b in update.federated:
            if b.trust_domain != svid.spiffe_id.trust_domain:
                bundles.append(b)
        if self.style is VerifyStyle.PRE1:
            # gospiffe@pre1 workload/proto.go: an SVID naming a federated domain whose bundle is
            # absent makes the whole update fail.
            have = {b.trust_domain for b in update.federated}
            for td in entry.federates_with:
                if td not in have:
                    self.log.info(
                        self.env.now,
                        f"(spiffe) [ERROR]: failed to parse svid entry 0 for spiffe id "
                        f'"{svid.spiffe_id}": missing bundle for federated domain '
                        f'"{td.id_string()}"',
                    )
                    return
        self.svid = svid
        self.bundles = BundleSet.of(bundles)
        if not self.ready:
            self.ready = True
            self.log.info(self.env.now, "received SPIFFE Workload API update.")
            if self.mode == "server":
                self.log.info(
                    self.env.now, f"listening for connections on 0.0.0.0:{self.listen_port}"
                )
        else:
            self.log.info(self.env.now, "(spiffe) [DEBUG]: X509SVID workload API update received")

    def peer(self) -> Peer:
        assert self.svid is not None
        trusted: BundleSource = PooledRoots(self.bundles) if self.pooled else self.bundles
        return Peer(
            svid=self.svid,
            bundles=trusted,
            authorizer=ghostunnel_acl(self.acl, server=self.mode == "server"),
            style=self.style,
        )


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    ok: bool
    reason: str  # "ok" or the failing cause's kind
    curl_exit: int = 0
    # What the products said about this failure (both ghostunnels, then curl), for
    # expectations and explanations.
    errors: tuple[str, ...] = ()
    # Who met whom, for explanations: the side whose verifier refused ("client" | "server"),
    # the serials of the SVIDs each side presented, and the nodes each side ran on.
    rejected_by: str | None = None
    client_serial: int | None = None
    server_serial: int | None = None
    client_node: str | None = None
    server_node: str | None = None
    said_by: tuple[str, ...] = ()  # for each line of errors: "client", "server" or "curl"


def _subject(svid: X509SVID) -> str:
    # Go's pkix.Name.String() is RFC 2253 order, as cryptography's rfc4514_string.
    return svid.leaf.subject.rfc4514_string()


def request(
    env: simpy.Environment,
    client: Ghostunnel,
    dial: Callable[[Pod, str, int], Connection | DialError],
    server_at: Callable[[Connection], Ghostunnel | None],
    curl_log: Logger,
    clock: Clock,
    cache: VerificationCache,
    skew: Callable[[str], float] = lambda _node: 0.0,
    app: Callable[[Ghostunnel, float], Rejection | None] | None = None,
) -> RequestOutcome:
    """One `curl http://localhost:<listen>/` through both sidecars at the current instant;
    ``skew(node)`` is how far that node's clock is ahead of true time. ``app(server, t)`` is
    the backend's own check of the request (a JWT-SVID bearer token) once the tunnel is up."""
    now = env.now
    said: list[str] = []
    speakers: list[str] = []  # who said each line: "client" | "server" (ghostunnel), "curl"
    met: dict[str, Any] = {"client_node": client.pod.node}  # who met whom, for explain

    def curl_fail(code_text: tuple[int, str], reason: str) -> RequestOutcome:
        curl_log.error(now, code_text[1], exit_code=code_text[0])
        said.append(f"curl: ({code_text[0]}) {code_text[1]}")
        speakers.append("curl")
        met["said_by"] = tuple(speakers)
        return RequestOutcome(False, reason, code_text[0], tuple(said), **met)

    def say(log: Logger, t: float, text: str) -> None:
        log.info(t, text)
        said.append(text)
        speakers.append("client" if log is client.log else "server")

    if not client.ready:
        curl_log.error(
            now,
            f"Failed to connect to localhost port {client.listen_port}: Connection refused",
            exit_code=CURL_REFUSED,
        )
        return RequestOutcome(
            False,
            "client_sidecar_not_ready",
            CURL_REFUSED,
            (f"curl: (7) Failed to connect to localhost port {client.listen_port}: "
             "Connection refused",),
            client_node=client.pod.node,
            said_by=("curl",),
        )  # fmt: skip
    met["client_serial"] = None if client.svid is None else client.svid.serial_number
    local = dial(client.pod, "localhost", client.listen_port)
    curl_addr = local.local_addr if isinstance(local, Connection) else "127.0.0.1:0"
    conn = dial(client.pod, client.target_host, client.target_port)
    if isinstance(conn, DialError):
        say(client.log, now, f"error on dial: {conn.text}")
        return curl_fail(CURL_RESET, f"dial_{conn.kind}")
    server = server_at(conn)
    if server is None or not server.ready:
        say(
            client.log,
            now,
            f"error on dial: dial tcp {conn.remote_addr}: connect: connection refused",
        )
        return curl_fail(CURL_RESET, "dial_refused")
    met.update(
        server_node=server.pod.node,
        server_serial=None if server.svid is None else server.svid.serial_number,
        rejected_by=None,
    )
    t = now + conn.latency
    # Each side judges validity by its own node's clock (skew: seconds it is ahead).
    verdict: HandshakeVerdict = handshake(
        client.peer(),
        server.peer(),
        at=clock.to_datetime(t),
        client_clock=clock.to_datetime(t + skew(client.pod.node)),
        server_clock=clock.to_datetime(t + skew(server.pod.node)),
        cache=cache,
    )
    met["rejected_by"] = verdict.rejected_by
    if verdict.rejected_by == "client":
        say(client.log, now, f"error on dial: {verdict.client_handshake_error}")
        say(
            server.log,
            now + conn.latency,
            f"error on TLS handshake from {conn.local_addr}: {verdict.server_handshake_error}",
        )
        return curl_fail(CURL_RESET, verdict.kind)
    server_svid, client_svid = server.svid, client.svid
    assert server_svid is not None and client_svid is not None
    if verdict.rejected_by == "server":
        say(
            server.log,
            now + conn.latency,
            f"error on TLS handshake from {conn.local_addr}: {verdict.server_handshake_error}",
        )
        if verdict.client_handshake_error is not None:
            say(client.log, now, f"error on dial: {verdict.client_handshake_error}")
            return curl_fail(CURL_RESET, verdict.kind)
        pipe = f"tcp:{curl_addr} [no tls] <-> tcp:{conn.remote_addr} [{_subject(server_svid)}]"
        client.log.info(now, f"opening pipe: {pipe}")
        say(client.log, now + 2 * conn.latency, f"error during copy: {verdict.client_read_error}")
        client.log.info(now + 2 * conn.latency, f"closed pipe: {pipe}")
        # [inferred] the proxy consumed the request, so curl sees the connection closed.
        return curl_fail(CURL_EMPTY, verdict.kind)
    client_pipe = f"tcp:{curl_addr} [no tls] <-> tcp:{conn.remote_addr} [{_subject(server_svid)}]"
    backend = f"127.0.0.1:{server.target_port}"
    server_pipe = f"tcp:{conn.local_addr} [{_subject(client_svid)}] <-> tcp:{backend} [no tls]"
    client.log.info(now, f"opening pipe: {client_pipe}")
    server.log.info(now + conn.latency, f"opening pipe: {server_pipe}")
    server.log.info(now + conn.latency, f"closed pipe: {server_pipe}")
    client.log.info(now + 2 * conn.latency, f"closed pipe: {client_pipe}")
    rejected = None if app is None else app(server, now + conn.latency)
    if rejected is not None:
        # curl without -f prints the response and exits 0; the request still failed.
        curl_log.info(now + 2 * conn.latency, rejected.status)
        return RequestOutcome(False, rejected.reason, 0, (*rejected.errors, rejected.status))
    curl_log.info(now + 2 * conn.latency, "HTTP/1.0 200 OK")
    return RequestOutcome(True, "ok", **met)
