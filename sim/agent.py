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
from sim.bundle import Bundle
from sim.clock import Clock
from sim.eventlog import Logger
from sim.registration import RegistrationEntry, Selector, entries_for_agent, matches
from sim.server import SpireServer
from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import X509SVID

__all__ = ["SpireAgent", "WorkloadUpdate"]

SYNC_INTERVAL = 5.0
# pkg/common/rotationutil/rotationutil.go: gracePeriodThreshold, and the 10 minutes of jitter
# added to an availability target.
GRACE_PERIOD_THRESHOLD = 12 * 3600.0
AVAILABILITY_JITTER = 600.0


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
    _wake: simpy.Event | None = None
    _t0: float = 0.0
    # When each SVID (by serial) is due for rotation: drawn once, on the sync grid.
    _due: dict[int, float] = field(default_factory=dict)

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
        self._t0 = self.env.now
        self.log.info(self.env.now, 'Starting agent with data directory: "/run/spire"')
        self.log.debug(
            self.env.now, "No pre-existing agent SVID found. Will perform node attestation"
        )
        self.svid = self.server.sign_x509_svid(self.agent_id, ca.new_ec_key(self.rng))
        self.issued += 1
        self.server.listeners.append(self._on_server_change)
        while True:
            self._sync()
            self._wake = self.env.event()
            due = self._next_rotation()
            waits: list[simpy.Event] = [self._wake]
            if due is not None:
                waits.append(self.env.timeout(max(0.0, due - self.env.now)))
            fired = yield self.env.any_of(waits)
            if self._wake in fired:
                # A change on the server reaches the agent at its next sync tick.
                target = self._tick(self.env.now, strictly_after=True)
            else:
                target = self._tick(self.env.now, strictly_after=False)
            yield self.env.timeout(target - self.env.now)

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
        times = [self._rotation_due(s) for s in self.svids.values()]
        if self.svid is not None:
            times.append(self._rotation_due(self.svid))
        return min(times) if times else None

    def _sync(self) -> None:
        now = self.env.now
        if self.svid is not None and now >= self._rotation_due(self.svid):
            self._due.pop(self.svid.serial_number, None)
            self.svid = self.server.sign_x509_svid(self.agent_id, ca.new_ec_key(self.rng))
            self.issued += 1
            # pkg/agent/svid/rotator.go (spire-facts 3).
            self.log.info(now, "Successfully rotated agent SVID")
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
        before = {e.entry_id for e in self.entries}
        for e in authorized:
            if e.entry_id not in before:
                self.log.debug(now, "Entry created", entry=e.entry_id, spiffe_id=str(e.spiffe_id))
        self.entries = authorized
        self._update_bundles()
        for e in authorized:
            current = self.svids.get(e.entry_id)
            if current is not None and now < self._rotation_due(current):
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
        update = self.update_for(sub.selectors)
        ident = update.identity()
        if ident != sub.last:
            sub.last = ident
            sub.callback(update)
