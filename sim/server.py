"""A SPIRE server as SimPy processes: its X.509 CA and JWT key slots with SPIRE's rotation
thresholds, its trust bundle and stored federated bundles, registration entries, its own
server SVID, and the signing of agent and workload SVIDs.

Log lines are SPIRE's (logrus, `subsystem_name=ca_manager` ...), with fields per version
(spire-facts 1.3). Only the simulation starts the processes; peers reach the server through
the network and the handles the simulation passes in.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import simpy
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sim import ca
from sim.bundle import Bundle, JWTAuthority
from sim.clock import Clock
from sim.eventlog import Logger
from sim.registration import EntryStore, RegistrationEntry, RegistrationError
from sim.spiffeid import SpiffeID, TrustDomain
from sim.webpki import ServingCertificate
from sim.x509svid import X509SVID

__all__ = ["ServerConfig", "SpireServer"]

# spire@HEAD pkg/server/ca/manager/manager.go (same in v0.9.2 manager.go).
PREPARE_DIVISOR, PREPARE_CAP = 2, 30 * 86400.0
ACTIVATE_DIVISOR, ACTIVATE_CAP = 6, 7 * 86400.0
# pkg/server/ca/rotator/rotator.go rotateInterval: thresholds take effect on a 10 s tick.
ROTATE_INTERVAL = 10.0
# pkg/server/svid/rotator.go DefaultRotatorInterval.
SERVER_SVID_ROTATOR_INTERVAL = 5.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What a server is configured with (server.conf and the UpstreamAuthority plugin)."""

    trust_domain: TrustDomain
    spire_version: str = "1.x"
    ca_ttl: float = 86400.0
    svid_ttl: float = 3600.0
    upstream: ca.UpstreamAuthority | None = None
    upstream_ttl: float | None = None
    upstream_bundle: bool = True
    bind_port: int = 8081
    bundle_endpoint_port: int | None = None
    # "https_spiffe" serves the server SVID; "https_web" serves ``serving_certificate``.
    bundle_endpoint_profile: str = "https_spiffe"
    serving_certificate: ServingCertificate | None = None
    # The system trust store an https_web bundle client checks peers against.
    web_roots: tuple[x509.Certificate, ...] = ()

    @property
    def legacy(self) -> bool:
        return self.spire_version.startswith("0.")


def _tick_after(t0: float, threshold: float, interval: float) -> float:
    """The first rotator tick strictly after ``threshold`` (SPIRE compares with now.After)."""
    if threshold < t0:
        return t0
    k = int((threshold - t0) // interval) + 1
    return t0 + k * interval


@dataclass
class _Slot:
    id: str
    x509: ca.X509CA | None = None
    jwt: ca.JWTKey | None = None
    issued_at: float = 0.0


@dataclass
class SpireServer:
    """One SPIRE server. ``changed`` fires (and is replaced) whenever entries or bundles change,
    so agents and the bundle endpoint learn of it without polling."""

    env: simpy.Environment
    config: ServerConfig
    clock: Clock
    log: Logger
    rng: random.Random
    start: float = 0.0
    entries: EntryStore = field(init=False)
    federated: dict[TrustDomain, Bundle] = field(default_factory=dict)
    bundle: Bundle | None = None
    svid: X509SVID | None = None
    running: bool = False
    minted: int = 0  # certificates signed (CAs and SVIDs), for the run summary
    listeners: list[Callable[[], None]] = field(default_factory=list)
    _current: _Slot = field(default_factory=lambda: _Slot("A"))
    _next: _Slot = field(default_factory=lambda: _Slot("B"))

    def __post_init__(self) -> None:
        self.entries = EntryStore(version=self.config.spire_version)

    # -- identity ----------------------------------------------------------------------------

    @property
    def trust_domain(self) -> TrustDomain:
        return self.config.trust_domain

    @property
    def server_id(self) -> SpiffeID:
        return SpiffeID.from_path(self.trust_domain, "/spire/server")

    @property
    def x509_ca(self) -> ca.X509CA | None:
        return self._current.x509

    def now(self) -> datetime:
        return self.clock.to_datetime(self.env.now)

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()

    # -- CA and JWT key slots ----------------------------------------------------------------

    def _prepare(self, slot: _Slot) -> None:
        now = self.now()
        cfg = self.config
        self.log.debug(self.env.now, "Preparing X509 CA", slot=slot.id, subsystem_name="ca_manager")
        if cfg.upstream is not None:
            # SPIRE 0.9's default CA subject was empty; cryptography's verifier refuses an
            # empty issuer, so spire-sim uses 1.x's subject for every version (README).
            subject = None
            x509ca = ca.upstream_sign_x509_ca(
                cfg.upstream,
                trust_domain=self.trust_domain,
                ttl=cfg.upstream_ttl or cfg.ca_ttl,
                now=now,
                rng=self.rng,
                subject=subject,
            )
            if cfg.legacy and not cfg.upstream_bundle:
                # v0.9 upstream_bundle=false: SPIRE's intermediate itself is the trust root
                # and SVID chains end at the leaf (spire@v0.9.2 ca/manager.go).
                x509ca = ca.X509CA(
                    trust_domain=x509ca.trust_domain,
                    certificate=x509ca.certificate,
                    private_key=x509ca.private_key,
                    chain=(),
                    roots=(x509ca.certificate,),
                )
        else:
            x509ca = ca.self_sign_x509_ca(
                trust_domain=self.trust_domain,
                ttl=cfg.ca_ttl,
                now=now,
                rng=self.rng,
                digital_signature=cfg.legacy,
            )
        slot.x509 = x509ca
        self.minted += 1
        slot.issued_at = self.env.now
        fields = {
            "slot": slot.id,
            "issued_at": now.replace(microsecond=0),
            "expiration": x509ca.not_after,
            "self_signed": x509ca.self_signed,
        }
        if cfg.legacy:
            fields["upstream_bundle"] = cfg.upstream_bundle
        fields["subsystem_name"] = "ca_manager"
        self.log.info(self.env.now, "X509 CA prepared", **fields)
        for root in x509ca.roots:
            self._append_root(root)
        jwt = ca.new_jwt_key(ttl=cfg.ca_ttl, now=now, rng=self.rng)
        slot.jwt = jwt
        self.log.info(
            self.env.now,
            "JWT key prepared",
            slot=slot.id,
            issued_at=now.replace(microsecond=0),
            expiration=jwt.not_after,
            subsystem_name="ca_manager",
        )
        self._append_jwt(jwt)

    def _activate(self, slot: _Slot) -> None:
        assert slot.x509 is not None and slot.jwt is not None
        issued = self.clock.to_datetime(slot.issued_at).replace(microsecond=0)
        self.log.info(
            self.env.now,
            "X509 CA activated",
            slot=slot.id,
            issued_at=issued,
            expiration=slot.x509.not_after,
            subsystem_name="ca_manager",
        )
        ttl = int((slot.x509.not_after - self.now()).total_seconds())
        self.log.debug(
            self.env.now,
            "Successfully rotated X.509 CA",
            trust_domain_id=self.trust_domain.id_string(),
            ttl=ttl,
            subsystem_name="ca_manager",
        )
        self.log.info(
            self.env.now,
            "JWT key activated",
            slot=slot.id,
            issued_at=issued,
            expiration=slot.jwt.not_after,
            subsystem_name="ca_manager",
        )

    def _append_root(self, root) -> None:  # noqa: ANN001 - a cryptography Certificate
        assert self.bundle is not None
        grown = self.bundle.with_x509_authority(root)
        if grown is not self.bundle:
            self.bundle = grown.with_sequence_number((self.bundle.sequence_number or 0) + 1)
            self._notify()

    def _append_jwt(self, key: ca.JWTKey) -> None:
        assert self.bundle is not None
        auth = JWTAuthority(key.key_id, key.public_key(), expires_at=key.not_after)
        self.bundle = self.bundle.with_jwt_authority(auth).with_sequence_number(
            (self.bundle.sequence_number or 0) + 1
        )
        self._notify()

    def _thresholds(self, slot: _Slot) -> tuple[float, float]:
        assert slot.x509 is not None
        not_after = self.clock.to_sim(slot.x509.not_after)
        lifetime = not_after - slot.issued_at
        prepare = not_after - min(lifetime / PREPARE_DIVISOR, PREPARE_CAP)
        activate = not_after - min(lifetime / ACTIVATE_DIVISOR, ACTIVATE_CAP)
        return prepare, activate

    def run(self):  # noqa: ANN201 - a SimPy process
        """Start: the first CA is prepared and activated at once, then rotate on SPIRE's tick."""
        self.running = True
        self.bundle = Bundle(trust_domain=self.trust_domain)
        t0 = self.env.now
        try:
            self._prepare(self._current)
        except ca.CAError as exc:
            # The CA manager's Initialize fails and the server exits (spire@v0.9.2
            # pkg/server/server.go "fatal run error", cmd/spire-server/cli/run "server crashed";
            # HEAD capitalises both).
            legacy = self.config.legacy
            self.log.error(
                self.env.now, "fatal run error" if legacy else "Fatal run error", error=str(exc)
            )
            self.log.error(
                self.env.now, "server crashed" if legacy else "Server crashed", error=str(exc)
            )
            self.running = False
            return
        self._activate(self._current)
        self._rotate_server_svid()
        self.env.process(self._rotate_svid_loop())
        while True:
            prepare, activate = self._thresholds(self._current)
            if self._next.x509 is None:
                yield self.env.timeout(_tick_after(t0, prepare, ROTATE_INTERVAL) - self.env.now)
                while self._next.x509 is None:
                    try:
                        self._prepare(self._next)
                    except ca.CAError as exc:
                        # pkg/server/ca/manager.go: logged, and tried again on the next tick.
                        self.log.error(self.env.now, "Unable to rotate X509 CA", error=str(exc))
                        yield self.env.timeout(ROTATE_INTERVAL)
            yield self.env.timeout(
                max(0.0, _tick_after(t0, activate, ROTATE_INTERVAL) - self.env.now)
            )
            self._current, self._next = self._next, _Slot(self._current.id)
            self._activate(self._current)

    # -- the server's own SVID ---------------------------------------------------------------

    def _rotate_server_svid(self) -> None:
        self.svid = self.sign_x509_svid(
            self.server_id, ca.new_ec_key(self.rng), ttl=self.config.svid_ttl
        )

    def _rotate_svid_loop(self):  # noqa: ANN201 - a SimPy process
        # pkg/server/svid/rotator.go: rotate at half-life, checked every 5 s.
        t0 = self.env.now
        while True:
            assert self.svid is not None
            not_before = self.clock.to_sim(self.svid.not_before)
            not_after = self.clock.to_sim(self.svid.not_after)
            half = not_after - (not_after - not_before) / 2
            yield self.env.timeout(
                max(0.0, _tick_after(t0, half, SERVER_SVID_ROTATOR_INTERVAL) - self.env.now)
            )
            self._rotate_server_svid()

    # -- signing -----------------------------------------------------------------------------

    def sign_x509_svid(
        self,
        spiffe_id: SpiffeID,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        ttl: float | None = None,
        dns_names: tuple[str, ...] = (),
    ) -> X509SVID:
        """Mint an X509-SVID with the active CA (SVID TTL capped at the CA's notAfter)."""
        assert self._current.x509 is not None
        self.minted += 1
        return ca.mint_x509_svid(
            self._current.x509,
            spiffe_id=spiffe_id,
            private_key=private_key,
            ttl=ttl or self.config.svid_ttl,
            now=self.now(),
            rng=self.rng,
            dns_names=dns_names,
        )

    # -- registration and bundles ------------------------------------------------------------

    def known_bundles(self) -> set[TrustDomain]:
        return {self.trust_domain, *self.federated}

    def create_entry(self, entry: RegistrationEntry) -> RegistrationEntry | str:
        """`spire-server entry create`; returns the entry or the CLI's error text."""
        try:
            created = self.entries.create(entry, known_bundles=self.known_bundles())
        except RegistrationError as exc:
            return str(exc)
        self._notify()
        return created

    def delete_entry(self, spiffe_id: SpiffeID) -> list[RegistrationEntry]:
        """Delete every entry with ``spiffe_id`` (the seed deletes by the ID it sees)."""
        gone = [e for e in self.entries.list() if e.spiffe_id == spiffe_id]
        for e in gone:
            self.entries.delete(e.entry_id)
        if gone:
            self._notify()
        return gone

    def set_federated_bundle(self, bundle: Bundle) -> None:
        """`spire-server bundle set` or a bundle client store (replaces the copy wholesale)."""
        self.federated[bundle.trust_domain] = bundle
        self._notify()

    def bundle_for(self, td: TrustDomain) -> Bundle | None:
        if td == self.trust_domain:
            return self.bundle
        return self.federated.get(td)

    def served_refresh_hint(self) -> int:
        """The `spiffe_refresh_hint` the bundle endpoint serves.

        <= v1.7: min X.509 root lifetime / 10, at least 60 s (bundleutil.CalculateRefreshHint,
        refreshHintLeewayFactor=10, MinimumRefreshHint=1m). 1.x: the configured 5 minutes default.
        """
        assert self.bundle is not None
        if not self.config.legacy:
            return 300
        lifetimes = [
            (c.not_valid_after_utc - c.not_valid_before_utc).total_seconds()
            for c in self.bundle.x509_authorities
        ]
        if not lifetimes:
            return 60
        return max(60, int(min(lifetimes) // 10))

    def endpoint_certificates(self) -> tuple[x509.Certificate, ...]:
        """The chain the bundle endpoint's TLS server presents (spire-facts 4: https_spiffe
        serves the server's own X509-SVID, https_web its serving certificate)."""
        if self.config.bundle_endpoint_profile == "https_web":
            assert self.config.serving_certificate is not None
            return self.config.serving_certificate.certificates
        assert self.svid is not None
        return self.svid.certificates

    def served_document(self) -> str:
        """The JSON the bundle endpoint returns (0.9 computed the hint and sent no sequence)."""
        assert self.bundle is not None
        doc = self.bundle.with_refresh_hint(self.served_refresh_hint())
        return doc.to_jwks(include_sequence=not self.config.legacy)
