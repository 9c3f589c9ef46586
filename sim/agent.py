"""A SPIRE agent as SimPy processes: node attestation, its agent SVID, synchronisation with the
server on SPIRE's 5 s cadence, the X509-SVID cache with renewal at half-life, and the Workload
API that pushes each workload its SVIDs, its own bundle and the federated bundles its entries
federate with.

Synchronisation is modelled by its effect: the agent sleeps until something could change (an
SVID crossing its rotation threshold, or the server announcing a change to entries or
bundles), then acts at the next tick of its 5 s sync grid, as the real ticker would
(pkg/agent/manager/manager.go runSynchronizer, sync_interval 5s; spire-facts 3).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from sim import ca
from sim.bundle import Bundle, BundleSet
from sim.clock import Clock, go_quote
from sim.eventlog import Logger
from sim.history import Outage
from sim.jwtsvid import JWTSVID, JWTSVIDError, validate_token
from sim.registration import RegistrationEntry, Selector, entries_for_agent, matches
from sim.server import SpireServer, signed_by
from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import X509SVID, VerificationCache, VerifyStyle, X509SVIDError, verify

__all__ = ["SpireAgent", "WorkloadUpdate"]

SYNC_INTERVAL = 5.0
# pkg/common/rotationutil/rotationutil.go: gracePeriodThreshold, and the 10 minutes of jitter
# added to an availability target.
GRACE_PERIOD_THRESHOLD = 12 * 3600.0
AVAILABILITY_JITTER = 600.0
# After a failed sync the next one waits sync_interval x 1.5^n (pkg/common/backoff, cenkalti's
# exponential backoff; spire-sim leaves out its +-10 % jitter), at most 24 x sync_interval in
# v0.9.2 and min(8m, 48 x sync_interval) at HEAD (manager/manager.go; spire-facts 3).
BACKOFF_MULTIPLIER = 1.5
BACKOFF_MAX = {True: 24 * SYNC_INTERVAL, False: min(480.0, 48 * SYNC_INTERVAL)}
# Kubernetes restarts a crashed container after 10 s, doubling up to 5 min (CrashLoopBackOff).
CRASH_RESTART_DELAY, CRASH_RESTART_MAX = 10.0, 300.0
# pkg/agent/attestor/node/node.go IsSVIDExpired: one second of allowed clock skew.
SVID_EXPIRY_SKEW = 1.0


@dataclass(frozen=True, slots=True)
class WorkloadUpdate:
    """One Workload API X509SVIDResponse: SVIDs (with the entries they came from), the own
    trust bundle and the federated bundles (the union of the entries' federates_with)."""

    svids: tuple[tuple[RegistrationEntry, X509SVID], ...]
    bundle: Bundle | None
    federated: tuple[Bundle, ...]

    @property
    def empty(self) -> bool:
        return not self.svids

    def identity(self) -> tuple:
        return (
            tuple((e.entry_id, s.serial_number) for e, s in self.svids),
            None if self.bundle is None else self.bundle.x509_fingerprint,
            tuple(b.x509_fingerprint for b in self.federated),
        )


@dataclass
class _Subscriber:
    selectors: tuple[Selector, ...]
    callback: Callable[[WorkloadUpdate], None]
    last: tuple | None = None


@dataclass
class SpireAgent:
    """The agent of one node. ``selectors`` are its attested node selectors."""

    env: simpy.Environment
    server: SpireServer
    clock: Clock
    log: Logger
    rng: random.Random
    agent_id: SpiffeID
    selectors: tuple[Selector, ...]
    availability_target: float | None = None
    svid: X509SVID | None = None
    entries: tuple[RegistrationEntry, ...] = ()
    svids: dict[str, X509SVID] = field(default_factory=dict)
    bundles: dict[TrustDomain, Bundle] = field(default_factory=dict)
    subscribers: list[_Subscriber] = field(default_factory=list)
    issued: int = 0
    # Why the server cannot be reached from the agent's node now (Go's dial error), or None.
    link: Callable[[], str | None] = lambda: None
    cache: VerificationCache | None = None
    running: bool = False
    _epoch: int = 0
    _failures: int = 0  # consecutive failed syncs (backoff)
    _crashes: int = 0  # consecutive crashes (Kubernetes' restart backoff)
    _reachable: bool = True  # the server answered the last attempt (see poke)
    _wake: simpy.Event | None = None
    _t0: float = 0.0
    # When each SVID (by serial) is due for rotation: drawn once, on the sync grid.
    _due: dict[int, float] = field(default_factory=dict)
    # The JWT-SVID cache (manager.go jwtCache): by entry and audience.
    _jwt_cache: dict[tuple[str, tuple[str, ...]], JWTSVID] = field(default_factory=dict)
    # Tainted authorities already acted on, and whether the agent SVID must rotate at the next
    # check (spire@HEAD pkg/agent/manager/sync.go processTaintedAuthorities; v1.11+).
    _seen_tainted_x509: set[str] = field(default_factory=set)
    _seen_tainted_jwt: set[str] = field(default_factory=set)
    _agent_svid_tainted: bool = False
    _recorded_down: bool = False  # the last outage state written to the history

    @property
    def legacy(self) -> bool:
        return self.server.config.legacy

    def subscribe(
        self, selectors: tuple[Selector, ...], callback: Callable[[WorkloadUpdate], None]
    ) -> None:
        """A workload connects to the Workload API (the agent attests it by ``selectors``)."""
        sub = _Subscriber(selectors, callback)
        self.subscribers.append(sub)
        self._push(sub)

    def unsubscribe(self, callback: Callable[[WorkloadUpdate], None]) -> None:
        self.subscribers = [s for s in self.subscribers if s.callback is not callback]

    def _on_server_change(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def run(self):  # noqa: ANN201 - a SimPy process
        """Start (or start again): load or attest the agent SVID, then sync on the 5 s grid,
        backing off after failures."""
        self.running = True
        self._epoch += 1
        epoch = self._epoch
        self._t0 = self.env.now
        self._failures = 0
        first = self.svid is None and self.issued == 0
        if not first:
            # The workload SVID cache lives in memory: a restarted agent mints them again.
            self.entries, self.svids, self._due = (), {}, {}
        if not self._start():
            return
        if self._on_server_change not in self.server.listeners:
            self.server.listeners.append(self._on_server_change)
        while True:
            retry = self._sync()
            if self._epoch != epoch:  # crashed, or stopped
                return
            if retry is not None:
                yield self.env.timeout(retry)
                if self._epoch != epoch:
                    return
                continue
            if self._failures:
                # A sync succeeded again: the 5 s timer restarts from here.
                self._failures = 0
                self._t0 = self.env.now
            self._wake = self.env.event()
            due = self._next_rotation()
            waits: list[simpy.Event] = [self._wake]
            if due is not None:
                waits.append(self.env.timeout(max(0.0, due - self.env.now)))
            fired = yield self.env.any_of(waits)
            if self._epoch != epoch:
                return
            if self._wake in fired:
                # A change on the server reaches the agent at its next sync tick.
                target = self._tick(self.env.now, strictly_after=True)
            else:
                target = self._tick(self.env.now, strictly_after=False)
            yield self.env.timeout(target - self.env.now)
            if self._epoch != epoch:
                return

    # -- lifecycle: start, stop, crash, a paused world ----------------------------------------

    def _start(self) -> bool:
        """pkg/agent/attestor/node/node.go Attest and loadSVID: an agent SVID on disk is used
        while it is valid; an expired one (or none) means node attestation. k8s_psat presents a
        fresh projected token, so the server accepts a node attesting again."""
        now = self.env.now
        self.log.info(now, 'Starting agent with data directory: "/run/spire"')
        if self.svid is None:
            self.log.debug(now, "No pre-existing agent SVID found. Will perform node attestation")
        elif now + SVID_EXPIRY_SKEW >= self.clock.to_sim(self.svid.not_after):
            if self.legacy:  # spire@v0.9.2 node.go loadSVID
                self.log.warn(
                    now, "Private key recovered, but SVID is expired. Generating new keypair."
                )
            else:
                self.log.warn(
                    now,
                    "SVID key recovered, but SVID is expired. Generating new keypair",
                    expiry=self.svid.not_after,
                    subsystem_name="attestor",
                )
                self.log.info(now, "SVID is not found. Starting node attestation",
                              subsystem_name="attestor")  # fmt: skip
        else:
            if not self.legacy:
                self.log.info(now, "SVID loaded", spiffe_id=str(self.agent_id),
                              subsystem_name="attestor")  # fmt: skip
            return True
        error = self._transport_error(client_certificate=False)
        if error is not None:
            self._crash(error)
            return False
        self._attest(again=self.issued > 0)
        return True

    def _attest(self, *, again: bool) -> None:
        self.svid = self.server.sign_x509_svid(self.agent_id, ca.new_ec_key(self.rng))
        self.issued += 1
        self.server.attested.add(self.agent_id)
        if again and not self.legacy:
            self.log.info(
                self.env.now, "Node attestation was successful", reattestable=True,
                spiffe_id=str(self.agent_id), subsystem_name="attestor",
            )  # fmt: skip

    def _crash(self, error: str) -> None:
        """The agent process exits (cmd/spire-agent/cli/run: "agent crashed" in v0.9.2,
        "Agent crashed" at HEAD); the DaemonSet's container restarts after Kubernetes'
        CrashLoopBackOff delay."""
        self.log.error(self.env.now, "agent crashed" if self.legacy else "Agent crashed",
                       error=error)  # fmt: skip
        self.running = False
        self._epoch += 1
        self._record_outage(True, f"agent crashed: {error}")
        delay = min(CRASH_RESTART_DELAY * 2**self._crashes, CRASH_RESTART_MAX)
        self._crashes += 1
        self.env.process(self._restart_after(delay, self._epoch))

    def _restart_after(self, delay: float, epoch: int):  # noqa: ANN202 - a SimPy process
        yield self.env.timeout(delay)
        if self._epoch == epoch and not self.running:
            yield from self.run()

    def stop(self) -> None:
        """The agent process stops (its pod is gone): no sync, no rotation, no Workload API.
        Workloads keep the SVIDs they were last sent."""
        self.running = False
        self._epoch += 1
        self._crashes = 0
        self._record_outage(True, "agent stopped")
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def poke(self) -> None:
        """Something on the way to the server changed (a network fault or its repair): a
        running agent tries again at its next sync tick if its reachability changed."""
        if self.running and (self.link() is None) != self._reachable:
            self._on_server_change()

    def resume(self, paused: float) -> None:
        """The world was suspended for ``paused`` seconds: the 5 s timer stood still with the
        monotonic clock, so the sync grid moves on by the pause and the agent syncs at its next
        tick, judging every SVID by the wall clock."""
        self._t0 += paused
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    # -- the connection to the server ----------------------------------------------------------

    def _unavailable(self, cause: str, *, handshake: bool = False) -> str:
        """gRPC's status for a connection that could not be made. [inferred] grpc-go's wording
        of each era: SPIRE 0.9's dialer did its TLS inside the dial, so TLS errors read "error
        while dialing" too (spire#766 shows that form); HEAD's lazily connected client says
        "Error while dialing" or "authentication handshake failed" (grpc-go
        internal/transport)."""
        if self.legacy:
            return (
                "rpc error: code = Unavailable desc = all SubConns are in TransientFailure, "
                "latest connection error: connection error: desc = "
                + go_quote(f"transport: error while dialing: {cause}")
            )
        what = "authentication handshake failed" if handshake else "Error while dialing"
        return "rpc error: code = Unavailable desc = connection error: desc = " + go_quote(
            f"transport: {what}: {cause}"
        )

    def _transport_error(self, *, client_certificate: bool = True) -> str | None:
        """Why an mTLS connection to the server fails now (None: it works). The agent checks
        the server's SVID with its own trust bundle; the server checks the agent's SVID with
        its bundle (and Go sends the bad_certificate alert when that fails)."""
        cause = self.link()
        self._reachable = cause is None
        if cause is not None:
            return self._unavailable(cause)
        at = self.clock.to_datetime(self.env.now)
        own = self.bundles.get(self.server.trust_domain)
        style = VerifyStyle.PRE1 if self.legacy else VerifyStyle.V2
        if own is not None and self.server.svid is not None:
            try:
                verify(self.server.svid.certificates, own, at=at, style=style, cache=self.cache)
            except X509SVIDError as exc:
                return self._unavailable(str(exc), handshake=True)
        if client_certificate and self.svid is not None and self.server.bundle is not None:
            try:
                verify(self.svid.certificates, self.server.bundle, at=at, style=style,
                       cache=self.cache)  # fmt: skip
            except X509SVIDError:
                return self._unavailable("remote error: tls: bad certificate")
        return None

    def _sync_failed(self, error: str) -> float:
        """Log a failed sync as the version does and return the backoff before the next."""
        now = self.env.now
        if self.legacy:
            # spire@v0.9.2 manager.go runSynchronizer.
            error = self._legacy_fetch_failed(error)
            self.log.error(now, "synchronize failed", error=error, subsystem_name="manager")
        else:
            # spire@HEAD pkg/agent/client/client.go fetchEntries/syncEntries, manager.go.
            self.log.error(now, "Failed to fetch authorized entries", error=error,
                           subsystem_name="manager")  # fmt: skip
            self.log.error(now, "Synchronize failed",
                           error=f"failed to fetch authorized entries: {error}",
                           subsystem_name="manager")  # fmt: skip
        self._failures += 1
        self._record_outage(True, error)
        return min(SYNC_INTERVAL * BACKOFF_MULTIPLIER**self._failures, BACKOFF_MAX[self.legacy])

    def _record_outage(self, down: bool, detail: str) -> None:
        """Note in the run's history when this agent stops or starts being able to sync."""
        if down == self._recorded_down:
            return
        self._recorded_down = down
        self.server.history.outages.append(
            Outage(self.env.now, self.server.trust_domain.name, "agent",
                   self.log.instance.host, down, detail)
        )  # fmt: skip

    def _legacy_fetch_failed(self, error: str) -> str:
        """spire@v0.9.2 pkg/agent/client/client.go FetchUpdates (used by the sync and the agent
        SVID rotator alike): log the client's line, return the error its caller sees."""
        if error.startswith("rpc error: code = Unavailable"):
            self.log.error(self.env.now, "Failure fetching X509 SVID. unable to get a stream",
                           error=error, subsystem_name="manager")  # fmt: skip
            return "unable to get a stream"
        self.log.error(self.env.now, f"failed to consume entire SVID update stream: {error}",
                       subsystem_name="manager")  # fmt: skip
        return error

    def _not_attested(self) -> str:
        """The server's answer to an agent it holds no attested node for (its datastore lost
        it): spire@v0.9.2 endpoints/node/handler.go, spire@HEAD endpoints/middleware.go."""
        if self.legacy:
            self.server.log.error(self.env.now, "Agent is not attested or no longer valid",
                                  error="agent is not attested",
                                  method="/spire.api.node.Node/FetchX509SVID")  # fmt: skip
            return (
                "rpc error: code = PermissionDenied desc = agent is not attested or no longer valid"
            )
        self.server.log.error(self.env.now, "Agent is not attested", caller_id=str(self.agent_id))
        return f'rpc error: code = PermissionDenied desc = agent "{self.agent_id}" is not attested'

    def _tick(self, t: float, *, strictly_after: bool) -> float:
        """The agent's sync grid (every 5 s from its start): the tick at/after ``t``."""
        k, rem = divmod(t - self._t0, SYNC_INTERVAL)
        if rem > 1e-9 or strictly_after:
            k += 1
        return self._t0 + k * SYNC_INTERVAL

    def _rotation_due(self, svid: X509SVID) -> float:
        """The sync tick at which the agent renews ``svid`` (rotationutil.ShouldRotateX509).

        <= v1.8: the first tick with ttl <= lifetime/2. v1.9+: each check draws a jittered
        half-life U[0.9, 1.1) x lifetime/2 (or, with an availability target the lifetime can
        honour, AT + U[0, 10m)); the draws are replayed here tick by tick from the run RNG.
        """
        due = self._due.get(svid.serial_number)
        if due is not None:
            return due
        nb = self.clock.to_sim(svid.not_before)
        na = self.clock.to_sim(svid.not_after)
        lifetime = na - nb
        half = lifetime / 2
        # A fresh SVID is looked at again at the next sync, never in the one that minted it.
        first_check = self._tick(self.env.now, strictly_after=True)
        if not self.server.config.profile.rotation_jitter:
            due = max(self._tick(na - half, strictly_after=False), first_check)
        else:
            target = self.availability_target
            if target is not None and lifetime - target <= GRACE_PERIOD_THRESHOLD:
                target = None  # falls back to the default strategy (warned when minted)
            earliest = na - (1.1 * half if target is None else target + AVAILABILITY_JITTER)
            t = max(self._tick(earliest, strictly_after=False), first_check)
            while True:
                ttl = na - t
                if ttl <= 0:
                    break
                if target is None:
                    limit = self.rng.uniform(0.9 * half, 1.1 * half)
                else:
                    limit = target + self.rng.uniform(0.0, AVAILABILITY_JITTER)
                if ttl <= limit:
                    break
                t += SYNC_INTERVAL
            due = t
        self._due[svid.serial_number] = due
        return due

    def _next_rotation(self) -> float | None:
        if self._agent_svid_tainted or any(e.entry_id not in self.svids for e in self.entries):
            # A tainted agent SVID, or SVIDs dropped as tainted: redone at the next sync.
            return self._tick(self.env.now, strictly_after=True)
        times = [self._rotation_due(s) for s in self.svids.values()]
        if self.svid is not None:
            times.append(self._rotation_due(self.svid))
        return min(times) if times else None

    def _rotate_agent_svid(self) -> bool:
        """The agent SVID rotator's pass (pkg/agent/svid/rotator.go): False when it crashed
        the agent. v0.9 renews over mTLS with the current SVID and logs "Could not rotate agent
        SVID" on every failure, forever once the SVID has expired (spire#1562). 1.7+ agents
        attested by k8s_psat re-attest instead (server-authenticated TLS only), and an
        expired SVID that could not be replaced stops the agent."""
        now = self.env.now
        assert self.svid is not None
        # A tainted agent SVID rotates at once (svid/rotator.go NotifyTaintedAuthorities).
        if not self._agent_svid_tainted and now < self._rotation_due(self.svid):
            return True
        error = self._transport_error(client_certificate=self.legacy)
        if error is None and self.legacy and self.agent_id not in self.server.attested:
            error = self._not_attested()
        if error is None:
            self._agent_svid_tainted = False
            self._due.pop(self.svid.serial_number, None)
            self._attest(again=False)
            # pkg/agent/svid/rotator.go (spire-facts 3).
            self.log.info(now, "Successfully rotated agent SVID")
            return True
        what = "rotate agent SVID" if self.legacy else "reattest agent"
        if self.legacy:
            error = self._legacy_fetch_failed(error)
        self.log.error(now, f"Could not {what}", error=error, subsystem_name="manager")
        if not self.legacy and now >= self.clock.to_sim(self.svid.not_after):
            self._crash(f"current SVID has already expired and {what} failed: {error}")
            return False
        return True

    def _sync(self) -> float | None:
        """One sync with the server; returns None when it worked, else the seconds to wait."""
        now = self.env.now
        if self.svid is not None and not self._rotate_agent_svid():
            return 0.0
        error = self._transport_error()
        if error is None and self.agent_id not in self.server.attested:
            error = self._not_attested()
            if not self.legacy:
                # manager.go Run: PermissionDenied AGENT_NOT_ATTESTED makes the agent re-attest.
                self._sync_failed(error)
                self.log.warn(now, "Agent needs to re-attest; will attempt to re-attest",
                              error=error, subsystem_name="manager")  # fmt: skip
                if self.svid is not None:
                    self._due.pop(self.svid.serial_number, None)
                self._attest(again=False)
                self.log.info(now, "Successfully reattested node", spiffe_id=str(self.agent_id),
                              subsystem_name="manager")  # fmt: skip
                self._failures = 0
                return SYNC_INTERVAL
        if error is not None:
            return self._sync_failed(error)
        self._crashes = 0
        self._record_outage(False, "synced")
        authorized = tuple(
            e
            for e in entries_for_agent(self.server.entries, self.agent_id, self.selectors)
            if not e.node
        )
        if authorized == self.entries:
            authorized = self.entries  # the same tuple keeps update_for's memo valid
        known = {e.entry_id for e in authorized}
        for e in self.entries:
            if e.entry_id not in known:
                self.svids.pop(e.entry_id, None)
                self.log.debug(now, "Entry removed", entry=e.entry_id, spiffe_id=str(e.spiffe_id))
        before = {e.entry_id: e for e in self.entries}
        outdated: set[str] = set()
        for e in authorized:
            if e.entry_id not in before:
                self.log.debug(now, "Entry created", entry=e.entry_id, spiffe_id=str(e.spiffe_id))
            elif before[e.entry_id].revision_number != e.revision_number:
                self.log.debug(now, "Entry updated", entry=e.entry_id, spiffe_id=str(e.spiffe_id))
                # 1.x re-signs an SVID whose entry's revision changed ("Updating SVIDs with
                # outdated attributes in cache", pkg/agent/manager/sync.go since v1.0); v0.9.2
                # waited for the SVID's rotation.
                if not self.legacy and e.entry_id in self.svids:
                    outdated.add(e.entry_id)
        if outdated:
            self.log.debug(now, "Updating SVIDs with outdated attributes in cache",
                           outdated_svids=len(outdated))  # fmt: skip
        self.entries = authorized
        self._update_bundles()
        for e in authorized:
            current = self.svids.get(e.entry_id)
            if current is not None and now < self._rotation_due(current):
                if e.entry_id not in outdated:
                    continue
            if current is not None:
                self._due.pop(current.serial_number, None)
            fields: dict = {}
            if not self.legacy:
                fields["entry_id"] = e.entry_id
            fields["spiffe_id"] = str(e.spiffe_id)
            if current is not None:
                fields["expires_at"] = self.clock.rfc3339(self.clock.to_sim(current.not_after))
            msg = (
                "Renewing X509-SVID"
                if (current is not None or self.legacy)
                else ("Creating X509-SVID")
            )
            self.log.info(now, msg, **fields)
            svid = self.server.sign_x509_svid(
                e.spiffe_id,
                ca.new_ec_key(self.rng),
                ttl=e.x509_svid_ttl or None,
                dns_names=tuple(e.dns_names),
            )
            self.svids[e.entry_id] = svid
            self.issued += 1
            lifetime = (svid.not_after - svid.not_before).total_seconds()
            if (
                self.availability_target is not None
                and lifetime - self.availability_target <= GRACE_PERIOD_THRESHOLD
            ):
                self.log.warn(
                    now,
                    "X509 SVID lifetime isn't long enough to guarantee the availability_target, "
                    "falling back to the default rotation strategy",
                    spiffe_id=str(e.spiffe_id),
                    entry_id=e.entry_id,
                )
        for sub in self.subscribers:
            self._push(sub)
        # After the pushes: a dropped SVID is not withdrawn from workloads, only replaced.
        self._process_tainted()
        return None

    def _process_tainted(self) -> None:
        """The server's tainted authorities, as the agent learns them at a sync: workload SVIDs
        signed by one are dropped (re-signed at the next sync) and the agent SVID is marked for
        rotation (spire@HEAD pkg/agent/manager/sync.go processTaintedAuthorities,
        cache/x509_lru_cache.go TaintX509SVIDs/processTaintedSVIDs, svid/rotator.go
        NotifyTaintedAuthorities). SPIRE drops them in a goroutine racing this sync; the model
        drops them after it, so the new SVIDs come one sync (5 s) later."""
        now = self.env.now
        tainted = self.server.tainted_x509
        new = sorted(set(tainted) - self._seen_tainted_x509)
        if new:
            self.log.debug(
                now, "New tainted X.509 authorities found", subject_key_ids=",".join(new)
            )
            roots = [tainted[k] for k in new]
            cached = sorted(self.svids)
            if not cached:
                self.log.debug(now, "No SVID entries to process for tainted X.509 authorities")
            else:
                self.log.debug(
                    now,
                    "Scheduled rotation for SVID entries due to tainted X.509 authorities",
                    count=len(cached),
                )
                dropped = 0
                for entry_id in cached:
                    if any(signed_by(self.svids[entry_id].certificates, r) for r in roots):
                        self._due.pop(self.svids.pop(entry_id).serial_number, None)
                        dropped += 1
                self.log.info(now, "Tainted X.509 SVIDs", tainted_x509_svids=dropped)
                self.log.info(now, "Finished processing all tainted entries")
            if self.svid is not None:
                if self._agent_svid_tainted:
                    self.log.debug(now, "Agent SVID already tainted")
                elif any(signed_by(self.svid.certificates, r) for r in roots):
                    self.log.info(
                        now, "Agent SVID is tainted by a root authority, forcing rotation"
                    )
                    self._agent_svid_tainted = True
            self._seen_tainted_x509.update(new)
        new_jwt = sorted(self.server.tainted_jwt - self._seen_tainted_jwt)
        if new_jwt:
            # No JWT-SVID cache is modelled: nothing else to drop.
            self.log.debug(
                now, "New tainted JWT authorities found", jwt_authority_key_ids=",".join(new_jwt)
            )
            self._seen_tainted_jwt.update(new_jwt)

    def _update_bundles(self) -> None:
        wanted: dict[TrustDomain, Bundle | None] = {self.server.trust_domain: self.server.bundle}
        # The domains the entries federate with (in entry order, once each) only change with
        # the entries: memoized per entries tuple, as update_for's matches are.
        memo = getattr(self, "_wanted_memo", None)
        if memo is None or memo[0] is not self.entries:
            tds = dict.fromkeys(td for e in self.entries for td in e.federates_with)
            memo = self._wanted_memo = (self.entries, tuple(tds))
        for td in memo[1]:
            wanted[td] = self.server.federated.get(td)
        for td, b in sorted(wanted.items(), key=lambda kv: kv[0].name):
            if b is None:
                continue
            old = self.bundles.get(td)
            if old is None:
                self.log.debug(self.env.now, "Bundle added", trust_domain_id=td.id_string())
            elif not old.same_authorities(b):
                self.log.debug(self.env.now, "Bundle updated", trust_domain_id=td.id_string())
            self.bundles[td] = b
        for td in [td for td in self.bundles if td not in wanted]:
            del self.bundles[td]
            self.log.debug(self.env.now, "Bundle removed", trust_domain_id=td.id_string())

    def update_for(self, selectors: tuple[Selector, ...], *, quiet: bool = False) -> WorkloadUpdate:
        """What the Workload API sends a workload with these selectors now. ``quiet`` looks
        without logging (for inspection after a run: the agent did not answer anyone then)."""
        # Which entries match these selectors only changes with the entries: memoized per
        # entries tuple (a selector match per entry per subscriber per sync is a hot spot).
        memo = getattr(self, "_mine_memo", None)
        if memo is None or memo[0] is not self.entries:
            memo = self._mine_memo = (self.entries, {})
        mine = memo[1].get(selectors)
        if mine is None:
            mine = memo[1][selectors] = [e for e in self.entries if matches(e.selectors, selectors)]
        svids = tuple((e, self.svids[e.entry_id]) for e in mine if e.entry_id in self.svids)
        federated: dict[TrustDomain, Bundle] = {}
        for e, _svid in svids:
            for td in e.federates_with:
                b = self.bundles.get(td)
                if b is None and quiet:
                    continue
                if b is None:
                    self.log.warn(
                        self.env.now,
                        "federated bundle contents missing"
                        if self.legacy
                        else "Federated bundle contents missing",
                        federated_bundle=td.id_string(),
                        registered_entry=e.entry_id,
                    )
                    continue
                federated[td] = b
        return WorkloadUpdate(
            svids=svids,
            bundle=self.bundles.get(self.server.trust_domain),
            federated=tuple(federated[td] for td in sorted(federated, key=lambda t: t.name)),
        )

    def _push(self, sub: _Subscriber) -> None:
        if not self.running:  # no Workload API while the agent is down
            return
        update = self.update_for(sub.selectors)
        ident = update.identity()
        if ident != sub.last:
            if update.empty:
                # pkg/agent/endpoints/workload/handler.go (v0.9.2 and HEAD), answered with
                # PermissionDenied "no identity issued".
                self.log.error(self.env.now, "No identity issued", registered=False,
                               subsystem_name="workload_api")  # fmt: skip
            sub.last = ident
            sub.callback(update)

    # -- JWT-SVIDs: the Workload API's FetchJWTSVID and ValidateJWTSVID ------------------------

    def _jwt_expires_soon(self, svid: JWTSVID, now: float) -> bool:
        """rotationutil.JWTSVIDExpiresSoon: expired, or ttl <= half the lifetime (iat to exp);
        v1.9+ draws a jittered half-life U[0.9, 1.1) x lifetime/2 at each check."""
        exp = self.clock.to_sim(svid.expiry)
        if now >= exp:
            return True
        half = svid.lifetime / 2
        if self.server.config.profile.rotation_jitter:
            half = self.rng.uniform(0.9 * half, 1.1 * half)
        return exp - now <= half

    def fetch_jwt_svid(
        self, selectors: tuple[Selector, ...], audience: tuple[str, ...]
    ) -> JWTSVID | str:
        """FetchJWTSVID for the workload's first identity: the cached token until it expires
        soon, else a new one from the server (manager.go FetchJWTSVID); or the error text the
        workload's client library reports."""
        mine = [e for e in self.entries if matches(e.selectors, selectors)]
        if not mine:
            # handler.go FetchJWTSVID: no identities -> PermissionDenied.
            return "rpc error: code = PermissionDenied desc = no identity issued"
        entry, now = mine[0], self.env.now
        key = (entry.entry_id, audience)
        cached = self._jwt_cache.get(key)
        if cached is not None and not self._jwt_expires_soon(cached, now):
            return self._fetched(cached)
        if self.server.running:
            svid = self.server.sign_jwt_svid(
                entry.spiffe_id, audience, ttl=float(entry.jwt_svid_ttl) or None
            )
        else:
            # [simplified] the server's gRPC error when it is down is not reproduced.
            svid = "the SPIRE server is unreachable"
        if isinstance(svid, str):
            # client.go NewJWTSVID, manager.go FetchJWTSVID, handler.go fetchJWTSVID.
            error = f"failed to fetch JWT SVID: {svid}"
            if cached is not None and now < self.clock.to_sim(cached.expiry):
                self.log.warn(
                    now,
                    "Unable to renew JWT; returning cached copy",
                    error=error,
                    spiffe_id=str(entry.spiffe_id),
                )
                return self._fetched(cached)
            if cached is not None:
                error = f'unable to renew JWT for "{entry.spiffe_id}" (err={error})'
            self.log.error(now, "Could not fetch JWT-SVID", error=error)
            return f"rpc error: code = Unavailable desc = could not fetch JWT-SVID: {error}"
        self._jwt_cache[key] = svid
        self.issued += 1
        return self._fetched(svid)

    def _fetched(self, svid: JWTSVID) -> JWTSVID:
        # handler.go fetchJWTSVID: Debug with the seconds left (time.Until(ExpiresAt)).
        ttl = self.clock.to_sim(svid.expiry) - self.env.now
        self.log.debug(self.env.now, "Fetched JWT SVID", ttl=ttl)
        return svid

    def jwt_bundles(self, selectors: tuple[Selector, ...]) -> BundleSet:
        """The bundles FetchJWTBundles streams to a workload (its own trust domain's and the
        federated ones its entries name: handler.go getWorkloadBundles), as they are now."""
        update = self.update_for(selectors, quiet=True)
        own = [] if update.bundle is None else [update.bundle]
        return BundleSet.of([*own, *update.federated])

    def validate_jwt_svid(
        self, selectors: tuple[Selector, ...], token: str, audience: str, *, at_skew: float = 0.0
    ) -> JWTSVID | str:
        """ValidateJWTSVID (handler.go): SPIRE's jwtsvid.ValidateToken against a key store of
        the caller's bundles; a failure is logged and returned as the gRPC error's text."""
        bundles = self.jwt_bundles(selectors)
        try:
            return validate_token(
                token,
                bundles,
                [audience],
                at=self.clock.to_datetime(self.env.now + at_skew),
                trust_domains=bundles.trust_domains(),
                legacy=self.legacy,
            )
        except JWTSVIDError as exc:
            # v0.9.2 handler.go logged the error and the token; HEAD the audience and error.
            fields = (
                {"error": str(exc), "svid": token}
                if self.legacy
                else {"audience": audience, "error": str(exc)}
            )
            self.log.warn(self.env.now, "Failed to validate JWT", **fields)
            return f"rpc error: code = InvalidArgument desc = {exc}"
