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
from dataclasses import dataclass, field, replace
from datetime import datetime

import simpy
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from sim import ca, jwtsvid
from sim.bundle import Bundle, JWTAuthority
from sim.clock import Clock, format_duration
from sim.eventlog import Logger
from sim.history import (
    EntryChange,
    History,
    JwtIssued,
    Outage,
    SvidIssued,
    x509_authority_id,
)
from sim.profiles import SpireProfile, spire_profile
from sim.registration import EntryStore, RegistrationEntry, RegistrationError
from sim.spiffeid import SpiffeID, TrustDomain
from sim.webpki import ServingCertificate
from sim.x509svid import X509SVID

__all__ = ["ServerConfig", "SpireServer", "signed_by"]

# spire@HEAD pkg/server/ca/manager/manager.go (same in v0.9.2 manager.go).
PREPARE_DIVISOR, PREPARE_CAP = 2, 30 * 86400.0
ACTIVATE_DIVISOR, ACTIVATE_CAP = 6, 7 * 86400.0
# pkg/server/ca/rotator/rotator.go rotateInterval: thresholds take effect on a 10 s tick.
ROTATE_INTERVAL = 10.0
# pkg/server/svid/rotator.go DefaultRotatorInterval.
SERVER_SVID_ROTATOR_INTERVAL = 5.0
# rotator.go pruneBundleInterval and manager.go safetyThresholdBundle.
PRUNE_INTERVAL, PRUNE_SAFETY = 6 * 3600.0, 24 * 3600.0
# credtemplate.DefaultJWTSVIDTTL.
DEFAULT_JWT_SVID_TTL = 300.0
# The served refresh hint when v1.9+ has none configured (run.go).
DEFAULT_REFRESH_HINT = 300


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
    # federation.bundle_endpoint.refresh_hint (v1.8+); None: the version's default.
    refresh_hint: float | None = None

    @property
    def profile(self) -> SpireProfile:
        return spire_profile(self.spire_version)

    @property
    def legacy(self) -> bool:
        return self.profile.legacy


def _tick_after(t0: float, threshold: float, interval: float) -> float:
    """The first rotator tick strictly after ``threshold`` (SPIRE compares with now.After)."""
    if threshold < t0:
        return t0
    k = int((threshold - t0) // interval) + 1
    return t0 + k * interval


@dataclass
class _X509Slot:
    id: str
    ca: ca.X509CA | None = None
    issued_at: float = 0.0
    # journal status (PREPARED, ACTIVE, OLD) and the IDs a slot keeps after its CA is dropped
    # (spire@HEAD pkg/server/ca/manager/slot.go Reset keeps authorityID; IsEmpty: nil or OLD).
    status: str = ""
    authority_id: str = ""
    upstream_authority_id: str = ""
    not_after: datetime | None = None


@dataclass
class _JWTSlot:
    id: str
    key: ca.JWTKey | None = None
    issued_at: float = 0.0
    status: str = ""
    authority_id: str = ""
    not_after: datetime | None = None


def _key_id_hex(cert: x509.Certificate, kind: type) -> str:
    try:
        value = cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return ""
    digest = value.digest if kind is x509.SubjectKeyIdentifier else value.key_identifier
    return "" if digest is None else digest.hex()


def _print_duration(seconds: float) -> str:
    """run.go printDuration: Go's Duration.String() without a trailing "0s" / "0m"."""
    text = format_duration(float(int(seconds)))
    if text.endswith("m0s"):
        text = text[:-2]
    if text.endswith("h0m"):
        text = text[:-2]
    return text


@dataclass
class SpireServer:
    """One SPIRE server. ``changed`` fires (and is replaced) whenever entries or bundles change,
    so agents and the bundle endpoint learn of it without polling."""

    env: simpy.Environment
    config: ServerConfig
    clock: Clock
    log: Logger
    rng: random.Random
    entries: EntryStore = field(init=False)
    federated: dict[TrustDomain, Bundle] = field(default_factory=dict)
    bundle: Bundle | None = None
    svid: X509SVID | None = None
    running: bool = False
    minted: int = 0  # certificates signed (CAs and SVIDs), for the run summary
    listeners: list[Callable[[], None]] = field(default_factory=list)
    activations: int = 0  # X.509 CA activations, for the run summary
    # State changes for explain and analysis; the simulation shares one History across actors.
    history: History = field(default_factory=History)
    jwt_minted: int = 0  # JWT-SVIDs signed, for the run summary
    _x509: _X509Slot = field(default_factory=lambda: _X509Slot("A"))
    _x509_next: _X509Slot = field(default_factory=lambda: _X509Slot("B"))
    _jwt: _JWTSlot = field(default_factory=lambda: _JWTSlot("A"))
    _jwt_next: _JWTSlot = field(default_factory=lambda: _JWTSlot("B"))
    _x509_failed: bool = False
    _jwt_warned: bool = False
    # Authorities marked tainted in the datastore (SKI hex -> root; JWT key IDs); agents
    # learn of them at their next sync (spire@HEAD pkg/agent/manager/sync.go).
    tainted_x509: dict[str, x509.Certificate] = field(default_factory=dict)
    tainted_jwt: set[str] = field(default_factory=set)
    _svid_tainted: simpy.Event | None = None
    # Agents the datastore holds as attested nodes (by SPIFFE ID); lost with the datastore.
    attested: set[SpiffeID] = field(default_factory=set)
    # Lifecycle: each start is a new epoch, so processes of a stopped run end when they wake;
    # interrupting the sleepers wakes the rotators (a stop, or the world resuming from a pause).
    epoch: int = 0
    _sleepers: list = field(default_factory=list)  # processes in _sleep
    _t0: float = 0.0
    _next_prune: float = 0.0

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
        return self._x509.ca

    def now(self) -> datetime:
        return self.clock.to_datetime(self.env.now)

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()

    def _record_bundle(self, bundle: Bundle, cause: str) -> None:
        self.history.bundle(
            self.env.now,
            holder=self.trust_domain.name,
            trust_domain=bundle.trust_domain.name,
            cause=cause,
            sequence=bundle.sequence_number,
            x509_ids=tuple(x509_authority_id(c) for c in bundle.x509_authorities),
            jwt_ids=tuple(a.key_id for a in bundle.jwt_authorities),
        )

    def _record_authority(self, kind: str, authority_id: str, step: str, **extra) -> None:  # noqa: ANN003
        self.history.authority(
            self.env.now,
            self.trust_domain.name,
            kind,
            authority_id,
            step,
            **extra,  # type: ignore[arg-type]
        )

    def _record_x509(self, x509ca: ca.X509CA, step: str) -> None:
        self._record_authority(
            "x509",
            x509_authority_id(x509ca.certificate),
            step,
            not_after=self.clock.to_sim(x509ca.not_after),
            roots=tuple(x509_authority_id(r) for r in x509ca.roots),
        )

    # -- CA and JWT key slots ----------------------------------------------------------------

    def _time_field(self, t: datetime) -> object:
        # v0.9.2 manager.go timeField: RFC 3339 strings; HEAD logs time.Time values.
        return self.clock.rfc3339(self.clock.to_sim(t)) if self.config.legacy else t

    def _ca_fields(self, slot: _X509Slot, *, prepared: bool) -> dict[str, object]:
        assert slot.ca is not None
        x509ca = slot.ca
        fields: dict[str, object] = {
            "slot": slot.id,
            "issued_at": self._time_field(self.clock.to_datetime(slot.issued_at)),
            "expiration": self._time_field(x509ca.not_after),
        }
        if prepared:
            fields["self_signed"] = x509ca.self_signed
        if self.config.legacy:
            if prepared:
                fields["upstream_bundle"] = self.config.upstream_bundle
        else:
            # x509util.SubjectKeyIDToString of the CA's SKI and AKI (manager.go prepareX509CA).
            fields["local_authority_id"] = _key_id_hex(
                x509ca.certificate, x509.SubjectKeyIdentifier
            )
            fields["upstream_authority_id"] = _key_id_hex(
                x509ca.certificate, x509.AuthorityKeyIdentifier
            )
        fields["subsystem_name"] = "ca_manager"
        return fields

    def _prepare_x509(self, slot: _X509Slot) -> None:
        now = self.now()
        cfg = self.config
        self.log.debug(self.env.now, "Preparing X509 CA", slot=slot.id, subsystem_name="ca_manager")
        if cfg.upstream is not None:
            # SPIRE 0.9's default CA subject was empty; cryptography's verifier refuses an
            # empty issuer, so spire-sim uses 1.x's subject for every version (README).
            x509ca = ca.upstream_sign_x509_ca(
                cfg.upstream,
                trust_domain=self.trust_domain,
                ttl=cfg.upstream_ttl or cfg.ca_ttl,
                now=now,
                rng=self.rng,
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
        slot.ca = x509ca
        slot.issued_at = self.env.now
        slot.status = "PREPARED"
        slot.authority_id = _key_id_hex(x509ca.certificate, x509.SubjectKeyIdentifier)
        slot.upstream_authority_id = _key_id_hex(x509ca.certificate, x509.AuthorityKeyIdentifier)
        slot.not_after = x509ca.not_after
        self.minted += 1
        self.log.info(self.env.now, "X509 CA prepared", **self._ca_fields(slot, prepared=True))
        self._record_x509(x509ca, "prepared")
        # Self-signed: the new root enters the bundle now, before activation. Upstream-signed:
        # the same upstream roots again, which changes nothing (spire-facts 1.4).
        for root in x509ca.roots:
            self._append_root(root)

    def _activate_x509(self, slot: _X509Slot, *, reloaded: bool = False) -> None:
        """Activate ``slot``'s CA (``reloaded``: the same CA again after a restart, which the
        run summary does not count as a rotation)."""
        assert slot.ca is not None
        slot.status = "ACTIVE"
        self.log.info(self.env.now, "X509 CA activated", **self._ca_fields(slot, prepared=False))
        self._record_x509(slot.ca, "activated")
        ttl = int((slot.ca.not_after - self.now()).total_seconds())
        self.log.debug(
            self.env.now,
            "Successfully rotated X.509 CA",
            trust_domain_id=self.trust_domain.id_string(),
            ttl=ttl,
            subsystem_name="ca_manager",
        )
        if not reloaded:
            self.activations += 1

    def _jwt_fields(self, slot: _JWTSlot) -> dict[str, object]:
        assert slot.key is not None
        fields: dict[str, object] = {
            "slot": slot.id,
            "issued_at": self._time_field(self.clock.to_datetime(slot.issued_at)),
            "expiration": self._time_field(slot.key.not_after),
        }
        if not self.config.legacy:
            fields["local_authority_id"] = slot.key.key_id
        fields["subsystem_name"] = "ca_manager"
        return fields

    def _prepare_jwt(self, slot: _JWTSlot) -> None:
        # The JWT key's lifetime is ca_ttl whatever the upstream (manager.go PrepareJWTKey).
        slot.key = ca.new_jwt_key(ttl=self.config.ca_ttl, now=self.now(), rng=self.rng)
        slot.issued_at = self.env.now
        slot.status, slot.authority_id = "PREPARED", slot.key.key_id
        slot.not_after = slot.key.not_after
        if self.config.upstream is not None and not self.config.legacy and not self._jwt_warned:
            # The disk plugin cannot publish JWT keys upstream (Unimplemented), said once.
            self._jwt_warned = True
            self.log.warn(
                self.env.now,
                "UpstreamAuthority plugin does not support JWT-SVIDs. Workloads managed by this "
                "server may have trouble communicating with workloads outside this cluster when "
                "using JWT-SVIDs.",
                subsystem_name="ca_manager",
            )
        self.log.info(self.env.now, "JWT key prepared", **self._jwt_fields(slot))
        self._record_authority(
            "jwt", slot.key.key_id, "prepared", not_after=self.clock.to_sim(slot.key.not_after)
        )
        self._append_jwt(slot.key)

    def _append_root(self, root: x509.Certificate) -> None:
        assert self.bundle is not None
        grown = self.bundle.with_x509_authority(root)
        if grown is not self.bundle:
            self.bundle = grown.with_sequence_number((self.bundle.sequence_number or 0) + 1)
            self._record_bundle(self.bundle, "rotation")
            self._notify()

    def _append_jwt(self, key: ca.JWTKey) -> None:
        assert self.bundle is not None
        auth = JWTAuthority(key.key_id, key.public_key(), expires_at=key.not_after)
        self.bundle = self.bundle.with_jwt_authority(auth).with_sequence_number(
            (self.bundle.sequence_number or 0) + 1
        )
        self._record_bundle(self.bundle, "rotation")
        self._notify()

    def _thresholds(self, issued_at: float, not_after: datetime) -> tuple[float, float]:
        """(prepare, activate) instants: notAfter - min(lifetime/2, 30d) and
        notAfter - min(lifetime/6, 7d), lifetime counted from the local issue time."""
        end = self.clock.to_sim(not_after)
        lifetime = end - issued_at
        return (
            end - min(lifetime / PREPARE_DIVISOR, PREPARE_CAP),
            end - min(lifetime / ACTIVATE_DIVISOR, ACTIVATE_CAP),
        )

    def rotation_schedule(self) -> dict[str, float]:
        """The pending prepare/activate instants (before the rotator's 10 s tick)."""
        out: dict[str, float] = {}
        for kind, cur, nxt in (
            ("x509", self._x509, self._x509_next),
            ("jwt", self._jwt, self._jwt_next),
        ):
            expiry = getattr(cur, "ca" if kind == "x509" else "key")
            if expiry is None:
                continue
            not_after = expiry.not_after
            prepare, activate = self._thresholds(cur.issued_at, not_after)
            if getattr(nxt, "ca" if kind == "x509" else "key") is None:
                out[f"{kind}_prepare"] = prepare
            out[f"{kind}_activate"] = activate
        return out

    def _rotate(self) -> None:
        """One pass of SPIRE's rotator (rotator.go rotate: X.509 CA, then JWT key)."""
        now = self.env.now
        try:
            if self._x509.ca is None:
                self._prepare_x509(self._x509)
                self._activate_x509(self._x509)
            else:
                prepare, activate = self._thresholds(self._x509.issued_at, self._x509.ca.not_after)
                if self._x509_next.ca is None and now > prepare:
                    self._prepare_x509(self._x509_next)
                if self._x509_next.ca is not None and now > activate:
                    self._rotate_x509_slots()
        except ca.CAError as exc:
            self._x509_failed = True
            self.log.error(self.env.now, "Unable to rotate X509 CA", error=str(exc))
        if self._jwt.key is None:
            self._prepare_jwt(self._jwt)
            self._jwt.status = "ACTIVE"
            self.log.info(self.env.now, "JWT key activated", **self._jwt_fields(self._jwt))
            self._record_authority("jwt", self._jwt.key.key_id, "activated")
            return
        prepare, activate = self._thresholds(self._jwt.issued_at, self._jwt.key.not_after)
        if self._jwt_next.key is None and now > prepare:
            self._prepare_jwt(self._jwt_next)
        if self._jwt_next.key is not None and now > activate:
            self._rotate_jwt_slots()

    def _rotate_x509_slots(self) -> None:
        """manager.go RotateX509CA: next becomes current; the old slot drops its CA but keeps
        its authority IDs with status OLD (what `localauthority x509 taint|revoke` act on)."""
        old = self._x509
        if old.ca is not None:
            self._record_x509(old.ca, "retired")
        self._x509 = self._x509_next
        self._x509_next = _X509Slot(
            old.id,
            status="OLD",
            authority_id=old.authority_id,
            upstream_authority_id=old.upstream_authority_id,
            not_after=old.not_after,
        )
        self._activate_x509(self._x509)

    def _rotate_jwt_slots(self) -> None:
        """manager.go RotateJWTKey, as :meth:`_rotate_x509_slots` for the JWT key."""
        old = self._jwt
        if old.key is not None:
            self._record_authority("jwt", old.key.key_id, "retired")
        self._jwt = self._jwt_next
        self._jwt.status = "ACTIVE"
        self._jwt_next = _JWTSlot(
            old.id, status="OLD", authority_id=old.authority_id, not_after=old.not_after
        )
        self.log.info(self.env.now, "JWT key activated", **self._jwt_fields(self._jwt))
        assert self._jwt.key is not None
        self._record_authority("jwt", self._jwt.key.key_id, "activated")

    def _prune(self) -> None:
        """rotator.go pruneBundleEvery (6 h): drop authorities expired more than 24 h ago,
        unless that would empty the bundle (bundleutil.PruneBundle)."""
        assert self.bundle is not None
        cutoff = self.clock.to_datetime(self.env.now - PRUNE_SAFETY)
        keep_roots, drop_roots = [], []
        for root in self.bundle.x509_authorities:
            (keep_roots if root.not_valid_after_utc > cutoff else drop_roots).append(root)
        keep_jwt, drop_jwt = [], []
        for auth in self.bundle.jwt_authorities:
            expired = auth.expires_at is not None and auth.expires_at <= cutoff
            (drop_jwt if expired else keep_jwt).append(auth)
        for root in drop_roots:
            self.log.info(
                self.env.now,
                "Pruning CA certificate due to expiration",
                serial_num=root.serial_number,
                expiration=self._time_field(root.not_valid_after_utc),
            )
        for auth in drop_jwt:
            assert auth.expires_at is not None
            self.log.info(
                self.env.now,
                "Pruning JWT signing key due to expiration",
                kid=auth.key_id,
                expiration=self._time_field(auth.expires_at),
            )
        halted = None
        if not keep_roots:
            self.log.warn(self.env.now, "Pruning halted; all known CA certificates have expired")
            halted = "would prune all certificates"
        elif self.bundle.jwt_authorities and not keep_jwt:
            self.log.warn(self.env.now, "Pruning halted; all known JWT signing keys have expired")
            halted = "would prune all JWT signing keys"
        if halted is not None:
            self.log.error(
                self.env.now,
                "Could not prune CA certificates",
                error=f"unable to prune bundle: prune failed: {halted}",
            )
            return
        if drop_roots or drop_jwt:
            self.bundle = Bundle(
                trust_domain=self.trust_domain,
                x509_authorities=tuple(keep_roots),
                jwt_authorities=tuple(keep_jwt),
                sequence_number=(self.bundle.sequence_number or 0) + 1,
            )
            for root in drop_roots:
                self._record_authority("x509", x509_authority_id(root), "pruned")
            for auth in drop_jwt:
                self._record_authority("jwt", auth.key_id, "pruned")
            self._record_bundle(self.bundle, "prune")
            self.log.debug(
                self.env.now, "Expired certificates were successfully pruned from bundle"
            )
            self._notify()

    def _next_wake(self, t0: float) -> float:
        if self._x509_failed:
            self._x509_failed = False
            return _tick_after(t0, self.env.now, ROTATE_INTERVAL)
        due = min(self.rotation_schedule().values(), default=float("inf"))
        return _tick_after(t0, max(due, self.env.now), ROTATE_INTERVAL)

    def run(self):  # noqa: ANN201 - a SimPy process
        """Start: the first CA and JWT key are prepared and activated at once (rotator
        Initialize), then rotation on SPIRE's 10 s tick and pruning every 6 h."""
        self.running = True
        self.epoch += 1
        self.bundle = Bundle(trust_domain=self.trust_domain)
        self._warn_ttls()
        try:
            self._prepare_x509(self._x509)
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
        self._activate_x509(self._x509)
        self._rotate()  # the JWT key
        yield from self._serve()

    def _serve(self):  # noqa: ANN202 - a SimPy process body
        """What every start shares: a fresh server SVID (pkg/server/svid/rotator.go Initialize),
        its rotator, and the CA rotator's 10 s ticks with the 6 h prune ticker, both counted
        from this start (rotator.go: no prune at startup; spire-facts 1.5)."""
        epoch = self.epoch
        self._t0 = self.env.now
        self._next_prune = self._t0 + PRUNE_INTERVAL
        self._rotate_server_svid()
        self.env.process(self._rotate_svid_loop())
        while True:
            wake = min(self._next_wake(self._t0), self._next_prune)
            interrupted = yield from self._sleep(wake)
            if self.epoch != epoch or not self.running:
                return
            if interrupted:  # a resume: plan again on the moved grid
                continue
            if self.env.now >= self._next_prune:
                self._prune()
                self._next_prune += PRUNE_INTERVAL
            self._rotate()

    def _sleep(self, until: float, *, also: simpy.Event | None = None):  # noqa: ANN202
        """Sleep until ``until`` (or ``also`` fires), or until interrupted by a stop or a
        resume (a plain timeout otherwise, so runs without lifecycle events schedule exactly as
        before); returns whether it was interrupted."""
        proc = self.env.active_process
        self._sleepers.append(proc)
        try:
            timeout = self.env.timeout(max(0.0, until - self.env.now))
            yield timeout if also is None else self.env.any_of([timeout, also])
        except simpy.Interrupt:
            return True
        finally:
            self._sleepers.remove(proc)
        return False

    def _wake_rotators(self) -> None:
        for proc in list(self._sleepers):
            if proc.is_alive:
                proc.interrupt()

    # -- lifecycle: stop, start again, a paused world -----------------------------------------

    def stop(self) -> None:
        """The server process exits: no rotation, no signing; its endpoints stop listening
        (the simulation closes the ports)."""
        self.running = False
        self.epoch += 1
        self._wake_rotators()
        self.history.outages.append(
            Outage(self.env.now, self.trust_domain.name, "server", "", True, "stopped")
        )

    def restart(self, *, datastore_lost: bool):  # noqa: ANN201 - a SimPy process
        """Start again after :meth:`stop`. With the datastore kept, the CA journal reloads the
        slots: an expired one is unusable, the current one is activated again unless past its
        activation threshold, and one rotator pass catches up with thresholds crossed while
        down (manager.go NewManager, slot.go tryLoadX509CASlotFromEntry). With the datastore
        (and the data directory holding the journal and keys) lost, it starts from nothing: a
        new CA, no entries, no attested agents, no federated bundles."""
        self.history.outages.append(
            Outage(self.env.now, self.trust_domain.name, "server", "", False,
                   "started, datastore lost" if datastore_lost else "started, datastore kept")
        )  # fmt: skip
        if datastore_lost:
            for gone in self.entries.list():
                self._record_entry("deleted", gone)
            for td in sorted(self.federated, key=lambda t: t.name):
                self.history.bundle(self.env.now, holder=self.trust_domain.name,
                                    trust_domain=td.name, cause="lost", sequence=None,
                                    x509_ids=(), jwt_ids=())  # fmt: skip
            self.entries = EntryStore(version=self.config.spire_version)
            self.federated = {}
            self.attested = set()
            self._x509, self._x509_next = _X509Slot("A"), _X509Slot("B")
            self._jwt, self._jwt_next = _JWTSlot("A"), _JWTSlot("B")
            self._notify()
            yield from self.run()
            return
        self.running = True
        self.epoch += 1
        self._warn_ttls()
        now = self.now()
        for slot in (self._x509, self._x509_next):
            if slot.ca is not None and slot.ca.not_after <= now:
                self._slot_unusable(slot.id, slot.issued_at, slot.ca.certificate)
                slot.ca = None
        if self._x509.ca is None and self._x509_next.ca is not None:
            self._x509, self._x509_next = self._x509_next, _X509Slot(self._x509.id)
        for jslot in (self._jwt, self._jwt_next):
            if jslot.key is not None and jslot.key.not_after <= now:
                jslot.key = None
        if self._jwt.key is None and self._jwt_next.key is not None:
            self._jwt, self._jwt_next = self._jwt_next, _JWTSlot(self._jwt.id)
        if self._x509.ca is not None:
            _, activate = self._thresholds(self._x509.issued_at, self._x509.ca.not_after)
            if not self.env.now > activate:
                self._activate_x509(self._x509, reloaded=True)
        if self._jwt.key is not None:
            _, activate = self._thresholds(self._jwt.issued_at, self._jwt.key.not_after)
            if not self.env.now > activate:
                self.log.info(self.env.now, "JWT key activated", **self._jwt_fields(self._jwt))
        try:
            self._rotate()
        except ca.CAError:  # pragma: no cover - _rotate logs its own CA errors
            pass
        if self._x509.ca is None:
            self.running = False
            return
        yield from self._serve()

    def _slot_unusable(self, slot_id: str, issued_at: float, cert: x509.Certificate) -> None:
        # slot.go tryLoadX509CASlotFromEntry: a journal entry past its notAfter is skipped.
        fields: dict[str, object] = {
            "error": "slot expired",
            "issued_at": self._time_field(self.clock.to_datetime(issued_at)),
            "slot": slot_id,
        }
        if not self.config.legacy:
            fields["local_authority_id"] = _key_id_hex(cert, x509.SubjectKeyIdentifier)
        self.log.warn(self.env.now, "X509CA slot unusable", **fields)

    def resume(self, paused: float) -> None:
        """The world was suspended for ``paused`` seconds: Go's tickers run on the monotonic
        clock, which stood still, so each tick grid moves on by the pause; the rotators wake at
        their next tick and judge thresholds by the wall clock, which did not stand still."""
        self._t0 += paused
        self._next_prune += paused
        self._wake_rotators()

    def _warn_ttls(self) -> None:
        """run.go: warn when an SVID TTL exceeds min(ca_ttl/6, 7d), since CA rotations would
        then cut SVIDs short (1.x; spire-facts 1.2)."""
        if self.config.legacy:
            return
        cap = min(self.config.ca_ttl / ACTIVATE_DIVISOR, ACTIVATE_CAP)
        for name, ttl in (
            ("default_x509_svid_ttl", self.config.svid_ttl),
            ("default_jwt_svid_ttl", DEFAULT_JWT_SVID_TTL),
        ):
            if ttl <= cap:
                continue
            if ttl < ACTIVATE_CAP:
                message = (
                    f"{name} is too high for the configured ca_ttl value. SVIDs with shorter "
                    f"lifetimes may be issued. Please set {name} to {_print_duration(cap)} or "
                    f"less, or the ca_ttl to {_print_duration(ttl * ACTIVATE_DIVISOR)} or more, "
                    f"to guarantee the full {name} lifetime when CA rotations are scheduled."
                )
            elif self.config.ca_ttl < ACTIVATE_CAP * ACTIVATE_DIVISOR:
                message = (
                    f"{name} is too high and the ca_ttl is too low. SVIDs with shorter lifetimes "
                    f"may be issued. Please set {name} to {_print_duration(ACTIVATE_CAP)} or "
                    "less, and the ca_ttl to "
                    f"{_print_duration(ACTIVATE_CAP * ACTIVATE_DIVISOR)} or more, to guarantee "
                    f"the full {name} lifetime when CA rotations are scheduled."
                )
            else:
                message = (
                    f"{name} is too high. SVIDs with shorter lifetimes may be issued. Please set "
                    f"{name} to {_print_duration(cap)} or less to guarantee the full {name} "
                    "lifetime when CA rotations are scheduled."
                )
            self.log.warn(self.env.now, message)

    # -- the server's own SVID ---------------------------------------------------------------

    def _rotate_server_svid(self) -> None:
        self.svid = self.sign_x509_svid(
            self.server_id, ca.new_ec_key(self.rng), ttl=self.config.svid_ttl
        )

    def _rotate_svid_loop(self):  # noqa: ANN201 - a SimPy process
        # pkg/server/svid/rotator.go: rotate at half-life, checked every 5 s, or at the next
        # check once the SVID is found signed by a tainted authority (isSVIDTainted).
        epoch = self.epoch
        while True:
            assert self.svid is not None
            not_before = self.clock.to_sim(self.svid.not_before)
            not_after = self.clock.to_sim(self.svid.not_after)
            half = not_after - (not_after - not_before) / 2
            self._svid_tainted = self.env.event()
            # Checked on the 5 s tick, never twice in the tick that minted it.
            wake = _tick_after(self._t0, max(half, self.env.now), SERVER_SVID_ROTATOR_INTERVAL)
            interrupted = yield from self._sleep(wake, also=self._svid_tainted)
            if self.epoch != epoch or not self.running:
                return
            if interrupted:  # (a resume: plan again on the moved grid)
                continue
            if self._svid_tainted.triggered and self.env.now < wake:
                check = _tick_after(self._t0, self.env.now, SERVER_SVID_ROTATOR_INTERVAL)
                interrupted = yield from self._sleep(check)
                if self.epoch != epoch or not self.running:
                    return
                if interrupted:
                    continue
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
        assert self._x509.ca is not None
        self.minted += 1
        svid = ca.mint_x509_svid(
            self._x509.ca,
            spiffe_id=spiffe_id,
            private_key=private_key,
            ttl=ttl or self.config.svid_ttl,
            now=self.now(),
            rng=self.rng,
            dns_names=dns_names,
        )
        self.history.svids.append(
            SvidIssued(
                self.env.now,
                self.trust_domain.name,
                str(spiffe_id),
                svid.serial_number,
                self.clock.to_sim(svid.not_before),
                self.clock.to_sim(svid.not_after),
                x509_authority_id(self._x509.ca.certificate),
            )
        )
        return svid

    def sign_jwt_svid(
        self, spiffe_id: SpiffeID, audience: tuple[str, ...], *, ttl: float | None = None
    ) -> jwtsvid.JWTSVID | str:
        """Sign a JWT-SVID with the active JWT key (ca.go SignWorkloadJWTSVID: exp capped at
        the key's expiry); returns the server's error text when it cannot."""
        if self._jwt.key is None:
            return "JWT key is not available for signing"
        try:
            svid = jwtsvid.mint(
                self._jwt.key,
                spiffe_id=spiffe_id,
                audience=audience,
                ttl=ttl or DEFAULT_JWT_SVID_TTL,
                now=self.now(),
            )
        except jwtsvid.JWTSVIDError as exc:
            return str(exc)
        self.jwt_minted += 1
        self.history.jwts.append(
            JwtIssued(
                self.env.now,
                self.trust_domain.name,
                str(spiffe_id),
                svid.key_id,
                self.clock.to_sim(svid.expiry),
            )
        )
        return svid

    # -- registration and bundles ------------------------------------------------------------

    def known_bundles(self) -> set[TrustDomain]:
        return {self.trust_domain, *self.federated}

    def create_entry(self, entry: RegistrationEntry) -> RegistrationEntry | str:
        """`spire-server entry create`; returns the entry or the CLI's error text."""
        try:
            created = self.entries.create(entry, known_bundles=self.known_bundles())
        except RegistrationError as exc:
            self._record_entry("rejected", entry, error=str(exc))
            return str(exc)
        self._record_entry("created", created)
        self._notify()
        return created

    def _record_entry(self, op: str, entry: RegistrationEntry, *, error: str = "") -> None:
        self.history.entries.append(
            EntryChange(
                self.env.now,
                self.trust_domain.name,
                op,  # type: ignore[arg-type]
                entry.entry_id,
                str(entry.spiffe_id),
                tuple(td.name for td in entry.federates_with),
                tuple(str(s) for s in entry.selectors),
                error,
            )
        )

    def update_entry(self, entry: RegistrationEntry) -> RegistrationEntry | RegistrationError:
        """`spire-server entry update`; returns the stored entry or the server's error."""
        try:
            updated = self.entries.update(entry, known_bundles=self.known_bundles())
        except RegistrationError as exc:
            return exc
        self._record_entry("updated", updated)
        self._notify()
        return updated

    def delete_entry(self, spiffe_id: SpiffeID) -> list[RegistrationEntry]:
        """Delete every entry with ``spiffe_id`` (the seed deletes by the ID it sees)."""
        gone = [e for e in self.entries.list() if e.spiffe_id == spiffe_id]
        for e in gone:
            self.entries.delete(e.entry_id)
            self._record_entry("deleted", e)
        if gone:
            self._notify()
        return gone

    def set_federated_bundle(self, bundle: Bundle, *, cause: str = "bundle_set") -> None:
        """`spire-server bundle set` or a bundle client store (replaces the copy wholesale)."""
        self.federated[bundle.trust_domain] = bundle
        self._record_bundle(bundle, cause)
        self._notify()

    def bundle_for(self, td: TrustDomain) -> Bundle | None:
        if td == self.trust_domain:
            return self.bundle
        return self.federated.get(td)

    def served_refresh_hint(self) -> int:
        """The `spiffe_refresh_hint` the bundle endpoint serves, in seconds.

        <= v1.7: min X.509 root lifetime / 10, at least 60 s (bundleutil.CalculateRefreshHint,
        refreshHintLeewayFactor=10, MinimumRefreshHint=1m), per request. v1.8: the configured
        hint, else computed as before. v1.9+: the configured hint, default 5m (spire-facts 4).
        """
        assert self.bundle is not None
        policy = self.config.profile.refresh_hint
        if policy != "computed" and self.config.refresh_hint is not None:
            return int(self.config.refresh_hint)
        if policy == "configured":
            return DEFAULT_REFRESH_HINT
        lifetimes = [
            (c.not_valid_after_utc - c.not_valid_before_utc).total_seconds()
            for c in self.bundle.x509_authorities
        ]
        if not lifetimes:
            return 60
        return max(60, int(min(lifetimes) // 10))

    def warn_refresh_hint(self) -> None:
        """run.go's warnings about the bundle endpoint's refresh_hint (v1.8 / v1.9+)."""
        policy = self.config.profile.refresh_hint
        hint = self.config.refresh_hint
        if policy == "computed":
            return
        if hint is None:
            if policy == "computed_warn":
                self.log.warn(
                    self.env.now,
                    "Bundle endpoint refresh_hint is not set. This configuration will default "
                    "to 5 minutes in a future release; please check if you need to specify it",
                )
            return
        if hint >= 86400:
            self.log.warn(
                self.env.now,
                "Bundle endpoint refresh hint set to a high value. To cover the case of "
                "unscheduled trust bundle updates, it's recommended to have a smaller value, "
                "e.g. 5m",
            )
        if hint < 60:
            self.log.warn(
                self.env.now,
                "Bundle endpoint refresh hint set too low. SPIRE will not refresh more often "
                "than 1 minute",
            )

    def served_document(self) -> str:
        """The JSON the bundle endpoint returns (0.9 computed the hint and sent no sequence)."""
        assert self.bundle is not None
        hint = self.served_refresh_hint()
        # The same bundle and hint serve the same bytes: render them once (a JSON encoding
        # per poll per peer is a hot spot with many federation relationships).
        memo = getattr(self, "_served_memo", None)
        if memo is not None and memo[0] is self.bundle and memo[1] == hint:
            return memo[2]
        doc = self.bundle.with_refresh_hint(hint)
        text = doc.to_jwks(include_sequence=self.config.profile.emits_sequence)
        self._served_memo = (self.bundle, hint, text)
        return text

    def endpoint_certificates(self) -> tuple[x509.Certificate, ...]:
        """The chain the bundle endpoint's TLS server presents (spire-facts 4: https_spiffe
        serves the server's own X509-SVID, https_web its serving certificate)."""
        if self.config.bundle_endpoint_profile == "https_web":
            assert self.config.serving_certificate is not None
            return self.config.serving_certificate.certificates
        assert self.svid is not None
        return self.svid.certificates

    # -- operator actions: localauthority / upstreamauthority (SPIRE v1.11+) ------------------
    # spire@HEAD pkg/server/api/localauthority/v1/service.go (preconditions and log lines),
    # pkg/server/datastore/sqlstore/sqlstore.go taintX509CA/revokeX509CA/taintJWTKey/
    # revokeJWTKey (bundle changes, sequence + 1), cmd/spire-server/cli/localauthority/* and
    # cmd/spire-server/cli/upstreamauthority/* (what the CLI prints).

    def authority_id(self, kind: str, which: str) -> str:
        """Resolve ``current`` / ``old`` / ``prepared`` / ``next`` (the slot other than the
        current one, whatever its status: SPIRE checks the status) to an authority ID; any
        other text is taken as an ID. ``upstream`` kind: the upstream root SKI of that slot."""
        if kind == "jwt":
            cur_j, nxt_j = self._jwt, self._jwt_next
            if which == "current":
                return cur_j.authority_id
            return nxt_j.authority_id if which in ("old", "prepared", "next") else which
        cur, nxt = self._x509, self._x509_next
        attr = "upstream_authority_id" if kind == "upstream" else "authority_id"
        if which == "current":
            return getattr(cur, attr)
        return getattr(nxt, attr) if which in ("old", "prepared", "next") else which

    def _api_error(self, code: str, msg: str, err: str | None = None, **fields: object) -> str:
        """pkg/common/api/status.go MakeErr: log the error as SPIRE does and return the gRPC
        status text the CLI receives."""
        desc = msg if err is None else f"{msg}: {err}"
        if err is not None:
            fields["error"] = err
        if code == "InvalidArgument":
            self.log.error(self.env.now, f"Invalid argument: {msg}", **fields)
        elif code == "NotFound":
            fields.pop("error", None)
            self.log.error(self.env.now, msg[:1].upper() + msg[1:], **fields)
        else:
            self.log.error(self.env.now, msg[:1].upper() + msg[1:], **fields)
        return f"rpc error: code = {code} desc = {desc}"

    def _authority_state(
        self, authority_id: str, not_after: datetime | None, *, upstream_id: str | None
    ) -> str:
        """cli/authoritycommon PrettyPrint*AuthorityState (``upstream_id`` None: JWT)."""
        # Go's time.Time.String() of time.Unix(expires_at, 0).UTC(); responses that carry no
        # expiry (taint of a JWT key, revoke) print the Unix epoch.
        when = (
            "1970-01-01 00:00:00" if not_after is None else not_after.strftime("%Y-%m-%d %H:%M:%S")
        )
        lines = [f"  Authority ID: {authority_id}", f"  Expires at: {when} +0000 UTC"]
        if upstream_id is not None:
            lines.append(
                f"  Upstream authority Subject Key ID: {upstream_id}"
                if upstream_id
                else "  Upstream authority ID: No upstream authority"
            )
        return "\n".join(lines)

    def _replace_bundle(self, *, roots=None, jwt=None) -> None:  # noqa: ANN001
        assert self.bundle is not None
        self.bundle = Bundle(
            trust_domain=self.trust_domain,
            x509_authorities=tuple(self.bundle.x509_authorities if roots is None else roots),
            jwt_authorities=tuple(self.bundle.jwt_authorities if jwt is None else jwt),
            sequence_number=(self.bundle.sequence_number or 0) + 1,
        )
        self._record_bundle(self.bundle, "localauthority")
        self._notify()

    def _bump_sequence(self) -> None:
        assert self.bundle is not None
        self.bundle = self.bundle.with_sequence_number((self.bundle.sequence_number or 0) + 1)
        self._record_bundle(self.bundle, "localauthority")
        self._notify()

    def localauthority(self, kind: str, action: str, authority_id: str = "") -> tuple[bool, str]:
        """`spire-server localauthority <kind> <action> [-authorityID id]`: (ok, what the CLI
        prints). ``kind`` is ``x509`` or ``jwt``."""
        noun = "X.509" if kind == "x509" else "JWT"
        if action != "prepare" and not authority_id:
            return False, "Error: an authority ID is required"  # the CLI's validate()
        fields: dict[str, object] = {}
        if action != "prepare":
            fields["local_authority_id"] = authority_id
        handler = {
            "prepare": self._la_prepare,
            "activate": self._la_activate,
            "taint": self._la_taint,
            "revoke": self._la_revoke,
        }[action]
        result = handler(kind, authority_id, fields)
        if isinstance(result, str) and result.startswith("rpc error:"):
            return False, f"Error: could not {action} {noun} authority: {result}"
        return True, result

    def _slots(self, kind: str) -> tuple[_X509Slot | _JWTSlot, _X509Slot | _JWTSlot]:
        return (self._x509, self._x509_next) if kind == "x509" else (self._jwt, self._jwt_next)

    def _state_of(self, kind: str, slot: _X509Slot | _JWTSlot) -> str:
        upstream = slot.upstream_authority_id if isinstance(slot, _X509Slot) else None
        return self._authority_state(slot.authority_id, slot.not_after, upstream_id=upstream)

    def _la_prepare(self, kind: str, _id: str, fields: dict[str, object]) -> str:
        current, _ = self._slots(kind)
        if current.status != "ACTIVE":
            return self._api_error("Unavailable", "server is initializing", **fields)
        noun = "X.509" if kind == "x509" else "JWT"
        if kind == "x509":
            try:
                # PrepareX509CA: current is not empty, so the next slot is reset and prepared.
                self._prepare_x509(self._x509_next)
            except ca.CAError as exc:
                return self._api_error(
                    "Internal", "failed to prepare X.509 authority", str(exc), **fields
                )
        else:
            self._prepare_jwt(self._jwt_next)
        _, nxt = self._slots(kind)
        return f"Prepared {noun} authority:\n" + self._state_of(kind, nxt)

    def _la_activate(self, kind: str, authority_id: str, fields: dict[str, object]) -> str:
        _, nxt = self._slots(kind)
        noun = "X.509" if kind == "x509" else "JWT"
        if authority_id != nxt.authority_id:
            return self._api_error("InvalidArgument", "unexpected authority ID", **fields)
        if nxt.status != "PREPARED":
            return self._api_error(
                "Internal",
                "only Prepared authorities can be activated",
                f"unsupported local authority status: {nxt.status}",
                **fields,
            )
        if kind == "x509":
            self._rotate_x509_slots()
        else:
            self._rotate_jwt_slots()
        current, _ = self._slots(kind)
        return f"Activated {noun} authority:\n" + self._state_of(kind, current)

    def _la_taint(self, kind: str, authority_id: str, fields: dict[str, object]) -> str:
        current, nxt = self._slots(kind)
        if kind == "x509" and self.config.upstream is not None:
            return self._api_error(
                "FailedPrecondition",
                "local authority can't be tainted if there is an upstream authority",
                **fields,
            )
        if authority_id == current.authority_id:
            return self._api_error(
                "InvalidArgument", "unable to taint current local authority", **fields
            )
        if authority_id != nxt.authority_id:
            return self._api_error("InvalidArgument", "unexpected authority ID", **fields)
        if nxt.status != "OLD":
            return self._api_error(
                "InvalidArgument",
                "only Old local authorities can be tainted",
                f"unsupported local authority status: {nxt.status}",
                **fields,
            )
        if kind == "jwt":
            if authority_id in self.tainted_jwt:
                return self._api_error(
                    "Internal", "failed to taint JWT authority",
                    "rpc error: code = InvalidArgument desc = key is already tainted", **fields,
                )  # fmt: skip
            self.tainted_jwt.add(authority_id)
            self._record_authority("jwt", authority_id, "tainted")
            self._bump_sequence()
            self.log.info(self.env.now, "JWT authority tainted successfully", **fields)
            return "Tainted JWT authority:\n" + self._authority_state(
                authority_id, None, upstream_id=None
            )
        failure = self._taint_root(authority_id, "failed to taint X.509 authority", fields)
        if failure is not None:
            return failure
        self.log.info(self.env.now, "X.509 authority tainted successfully", **fields)
        return "Tainted X.509 authority:\n" + self._state_of(kind, nxt)

    def _taint_root(self, ski: str, what: str, fields: dict[str, object]) -> str | None:
        """sqlstore taintX509CA on the bundle root with that SKI, then the CA's notification
        (the server SVID check; agents see the flag at their next sync)."""
        assert self.bundle is not None
        root = next(
            (
                c for c in self.bundle.x509_authorities
                if _key_id_hex(c, x509.SubjectKeyIdentifier) == ski
            ),
            None,
        )  # fmt: skip
        if root is None:
            return self._api_error(
                "Internal", what,
                "rpc error: code = NotFound desc = no ca found with provided subject key ID",
                **fields,
            )  # fmt: skip
        if ski in self.tainted_x509:
            return self._api_error(
                "Internal", what, "rpc error: code = InvalidArgument desc = root CA is already "
                "tainted", **fields,
            )  # fmt: skip
        self.tainted_x509[ski] = root
        self._record_authority("x509", ski, "tainted")
        self._bump_sequence()
        if self.svid is not None and signed_by(self.svid.certificates, root):
            # pkg/server/svid/rotator.go Run (v1.11+).
            self.log.info(
                self.env.now,
                "Server SVID signed using a tainted authority, forcing rotation of the Server SVID",
            )
            if self._svid_tainted is not None and not self._svid_tainted.triggered:
                self._svid_tainted.succeed()
        return None

    def _la_revoke(self, kind: str, authority_id: str, fields: dict[str, object]) -> str:
        current, nxt = self._slots(kind)
        assert self.bundle is not None
        if kind == "jwt":
            # validateAuthorityID: the next slot (unless prepared) or any bundle key but current.
            reason = None
            if authority_id == nxt.authority_id:
                if nxt.status == "PREPARED":
                    reason = "unable to use a prepared key"
            elif authority_id == current.authority_id:
                reason = "unable to use current authority"
            elif not any(a.key_id == authority_id for a in self.bundle.jwt_authorities):
                reason = "no JWT authority found with provided authority ID"
            if reason is not None:
                return self._api_error("InvalidArgument", "invalid authority ID", reason, **fields)
            if authority_id not in self.tainted_jwt:
                return self._api_error(
                    "Internal", "failed to revoke JWT authority",
                    "rpc error: code = InvalidArgument desc = it is not possible to revoke an "
                    "untainted key", **fields,
                )  # fmt: skip
            self._replace_bundle(
                jwt=[a for a in self.bundle.jwt_authorities if a.key_id != authority_id]
            )
            self._record_authority("jwt", authority_id, "revoked")
            self.log.info(self.env.now, "JWT authority revoked successfully", **fields)
            return "Revoked JWT authority:\n" + self._authority_state(
                authority_id, None, upstream_id=None
            )
        if self.config.upstream is not None:
            return self._api_error(
                "FailedPrecondition",
                "local authority can't be revoked if there is an upstream authority",
                **fields,
            )
        reason = None
        if authority_id == current.authority_id:
            reason = "unable to use current authority"
        elif authority_id != nxt.authority_id or nxt.status != "OLD":
            reason = "only Old local authority can be revoked"
        if reason is not None:
            return self._api_error("InvalidArgument", "invalid authority ID", reason, **fields)
        failure = self._revoke_root(authority_id, "failed to revoke X.509 authority", fields)
        if failure is not None:
            return failure
        self.log.info(self.env.now, "X.509 authority revoked successfully", **fields)
        return "Revoked X.509 authority:\n" + self._authority_state(
            authority_id, None, upstream_id=""
        )

    def _revoke_root(self, ski: str, what: str, fields: dict[str, object]) -> str | None:
        """sqlstore revokeX509CA: only a tainted root leaves the bundle (sequence + 1)."""
        assert self.bundle is not None
        roots = list(self.bundle.x509_authorities)
        keep = [c for c in roots if _key_id_hex(c, x509.SubjectKeyIdentifier) != ski]
        if len(keep) == len(roots):
            return self._api_error(
                "Internal", what,
                "rpc error: code = NotFound desc = no root CA found with provided subject key ID",
                **fields,
            )  # fmt: skip
        if ski not in self.tainted_x509:
            return self._api_error(
                "Internal", what,
                "rpc error: code = InvalidArgument desc = it is not possible to revoke an "
                "untainted root CA", **fields,
            )  # fmt: skip
        self._replace_bundle(roots=keep)
        self._record_authority("x509", ski, "revoked")
        return None

    def upstreamauthority(self, action: str, subject_key_id: str) -> tuple[bool, str]:
        """`spire-server upstreamauthority taint|revoke -subjectKeyID <ski>`: (ok, CLI text)."""
        fields: dict[str, object] = {}
        if subject_key_id:
            fields["subject_key_id"] = subject_key_id
        verb = "taint" if action == "taint" else "revoke"
        if not subject_key_id:
            return False, "Error: the Subject Key ID of the X.509 upstream authority is required"
        result = self._ua(action, subject_key_id.lower(), fields)
        if result.startswith("rpc error:"):
            return False, f"Error: could not {verb} X.509 upstream authority: {result}"
        return True, result

    def _ua(self, action: str, ski: str, fields: dict[str, object]) -> str:
        if self.config.upstream is None:
            return self._api_error(
                "FailedPrecondition", "upstream authority is not configured", **fields
            )
        reason = None
        if ski == self._x509.upstream_authority_id:
            reason = "unable to use upstream authority singing current authority"  # sic
        elif ski != self._x509_next.upstream_authority_id:
            reason = "upstream authority didn't sign the old local authority"
        elif self._x509_next.status == "PREPARED":
            reason = "only upstream authorities signing an old authority can be used"
        if reason is not None:
            msg = (
                "provided subject key id is not valid"
                if action == "taint"
                else ("invalid subject key ID")
            )
            return self._api_error("InvalidArgument", msg, reason, **fields)
        if action == "taint":
            failure = self._taint_root(ski, "failed to taint upstream authority", fields)
            if failure is not None:
                return failure
            self.log.info(self.env.now, "X.509 upstream authority tainted successfully", **fields)
            return f"Tainted X.509 upstream authority:\n  Subject Key ID: {ski}"
        failure = self._revoke_root(ski, "failed to revoke X.509 upstream authority", fields)
        if failure is not None:
            return failure
        self.log.info(self.env.now, "X.509 upstream authority successfully revoked", **fields)
        return f"Revoked X.509 upstream authority:\n  Subject Key ID: {ski}"

    def replace_upstream(self, upstream: ca.UpstreamAuthority) -> None:
        """The disk UpstreamAuthority's files now hold another CA: the plugin re-reads them at
        every mint (disk.go reloadCA; spire-facts 1.4), so the next prepare uses it."""
        self.config = replace(self.config, upstream=upstream)


def signed_by(certificates: tuple[x509.Certificate, ...], root: x509.Certificate) -> bool:
    """Whether a certificate of the chain was issued by ``root`` (x509util.IsSignedByRoot:
    the chain verifies up to that root), checked with the root's key."""
    for cert in certificates:
        if cert.issuer != root.subject:
            continue
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False
