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
    reachable: Callable[[], bool] = lambda: True
    svid: X509SVID | None = None
    entries: tuple[RegistrationEntry, ...] = ()
    svids: dict[str, X509SVID] = field(default_factory=dict)
    bundles: dict[TrustDomain, Bundle] = field(default_factory=dict)
    subscribers: list[_Subscriber] = field(default_factory=list)
    issued: int = 0
    _wake: simpy.Event | None = None
    _t0: float = 0.0

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
            yield self.env.any_of(waits)
            # The real agent acts on its next sync tick.
            k = int((self.env.now - self._t0) // SYNC_INTERVAL) + 1
            yield self.env.timeout(self._t0 + k * SYNC_INTERVAL - self.env.now)

    def _rotation_threshold(self, svid: X509SVID) -> float:
        # <= v1.8: rotate when ttl <= lifetime/2 exactly (rotationutil; spire-facts 3).
        nb = self.clock.to_sim(svid.not_before)
        na = self.clock.to_sim(svid.not_after)
        return na - (na - nb) / 2

    def _next_rotation(self) -> float | None:
        times = [self._rotation_threshold(s) for s in self.svids.values()]
        if self.svid is not None:
            times.append(self._rotation_threshold(self.svid))
        return min(times) if times else None

    def _sync(self) -> None:
        if not self.reachable():
            self.log.error(
                self.env.now, "synchronize failed" if self.legacy else "Synchronize failed"
            )
            return
        now = self.env.now
        if self.svid is not None and now >= self._rotation_threshold(self.svid):
            self.svid = self.server.sign_x509_svid(self.agent_id, ca.new_ec_key(self.rng))
            self.issued += 1
            self.log.info(
                now,
                "Successfully rotated agent SVID"
                if not self.legacy
                else "Successfully rotated agent SVID",
            )
        authorized = tuple(
            e
            for e in entries_for_agent(self.server.entries, self.agent_id, self.selectors)
            if not e.node
        )
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
            if current is not None and now < self._rotation_threshold(current):
                continue
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
            self.svids[e.entry_id] = self.server.sign_x509_svid(
                e.spiffe_id,
                ca.new_ec_key(self.rng),
                ttl=e.x509_svid_ttl or None,
                dns_names=tuple(e.dns_names),
            )
            self.issued += 1
        for sub in self.subscribers:
            self._push(sub)

    def _update_bundles(self) -> None:
        wanted: dict[TrustDomain, Bundle | None] = {self.server.trust_domain: self.server.bundle}
        for e in self.entries:
            for td in e.federates_with:
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

    def update_for(self, selectors: tuple[Selector, ...]) -> WorkloadUpdate:
        """What the Workload API sends a workload with these selectors now."""
        mine = [e for e in self.entries if matches(e.selectors, selectors)]
        svids = tuple((e, self.svids[e.entry_id]) for e in mine if e.entry_id in self.svids)
        federated: dict[TrustDomain, Bundle] = {}
        for e, _svid in svids:
            for td in e.federates_with:
                b = self.bundles.get(td)
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
