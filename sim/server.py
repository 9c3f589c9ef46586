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
from sim.clock import Clock, format_duration
from sim.eventlog import Logger
from sim.profiles import SpireProfile, spire_profile
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


@dataclass
class _JWTSlot:
    id: str
    key: ca.JWTKey | None = None
    issued_at: float = 0.0


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
    _x509: _X509Slot = field(default_factory=lambda: _X509Slot("A"))
    _x509_next: _X509Slot = field(default_factory=lambda: _X509Slot("B"))
    _jwt: _JWTSlot = field(default_factory=lambda: _JWTSlot("A"))
    _jwt_next: _JWTSlot = field(default_factory=lambda: _JWTSlot("B"))
    _x509_failed: bool = False
    _jwt_warned: bool = False

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
        self.minted += 1
        self.log.info(self.env.now, "X509 CA prepared", **self._ca_fields(slot, prepared=True))
        # Self-signed: the new root enters the bundle now, before activation. Upstream-signed:
        # the same upstream roots again, which changes nothing (spire-facts 1.4).
        for root in x509ca.roots:
            self._append_root(root)

    def _activate_x509(self, slot: _X509Slot) -> None:
        assert slot.ca is not None
        self.log.info(self.env.now, "X509 CA activated", **self._ca_fields(slot, prepared=False))
        ttl = int((slot.ca.not_after - self.now()).total_seconds())
        self.log.debug(
            self.env.now,
            "Successfully rotated X.509 CA",
            trust_domain_id=self.trust_domain.id_string(),
            ttl=ttl,
            subsystem_name="ca_manager",
        )
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
        self._append_jwt(slot.key)

    def _append_root(self, root: x509.Certificate) -> None:
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
                    self._x509, self._x509_next = self._x509_next, _X509Slot(self._x509.id)
                    self._activate_x509(self._x509)
        except ca.CAError as exc:
            self._x509_failed = True
            self.log.error(self.env.now, "Unable to rotate X509 CA", error=str(exc))
        if self._jwt.key is None:
            self._prepare_jwt(self._jwt)
            self.log.info(self.env.now, "JWT key activated", **self._jwt_fields(self._jwt))
            return
        prepare, activate = self._thresholds(self._jwt.issued_at, self._jwt.key.not_after)
        if self._jwt_next.key is None and now > prepare:
            self._prepare_jwt(self._jwt_next)
        if self._jwt_next.key is not None and now > activate:
            self._jwt, self._jwt_next = self._jwt_next, _JWTSlot(self._jwt.id)
            self.log.info(self.env.now, "JWT key activated", **self._jwt_fields(self._jwt))

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
        self.bundle = Bundle(trust_domain=self.trust_domain)
        t0 = self.env.now
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
        self._rotate_server_svid()
        self.env.process(self._rotate_svid_loop())
        next_prune = t0 + PRUNE_INTERVAL
        while True:
            wake = min(self._next_wake(t0), next_prune)
            yield self.env.timeout(max(0.0, wake - self.env.now))
            if self.env.now >= next_prune:
                self._prune()
                next_prune += PRUNE_INTERVAL
            self._rotate()

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
        # pkg/server/svid/rotator.go: rotate at half-life, checked every 5 s.
        t0 = self.env.now
        while True:
            assert self.svid is not None
            not_before = self.clock.to_sim(self.svid.not_before)
            not_after = self.clock.to_sim(self.svid.not_after)
            half = not_after - (not_after - not_before) / 2
            yield self.env.timeout(
                # Checked on the 5 s tick, never twice in the tick that minted it.
                _tick_after(t0, max(half, self.env.now), SERVER_SVID_ROTATOR_INTERVAL)
                - self.env.now
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
        assert self._x509.ca is not None
        self.minted += 1
        return ca.mint_x509_svid(
            self._x509.ca,
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
