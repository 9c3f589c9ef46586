"""The model's state over time: an append-only record of every change that explains a run.

The event log says what the products *printed*; a :class:`History` says what the model *was*:
which authorities a trust domain had and when each was prepared, activated, retired or pruned,
which copy of a peer's bundle each server held from when, which entries existed, which SVIDs
were minted under which authority and delivered to which workload, and how each federation
poll ended. ``spire-sim explain`` and the analysis series read it, so their causes come from
state, never from parsing log text. Times are simulation seconds.

>>> h = History()
>>> h.bundle(10.0, holder="foo.example.com", trust_domain="bar.example.com", cause="bundle_set",
...          sequence=None, x509_ids=("aa",), jwt_ids=())
>>> h.bundle(50.0, holder="foo.example.com", trust_domain="bar.example.com",
...          cause="bundle_client", sequence=2, x509_ids=("aa", "bb"), jwt_ids=("k1",))
>>> h.bundle_at("foo.example.com", "bar.example.com", 49.0).x509_ids
('aa',)
>>> h.bundle_at("foo.example.com", "bar.example.com", 50.0).cause
'bundle_client'
>>> h.bundle_at("foo.example.com", "bar.example.com", 9.0) is None
True
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

AuthorityKind = Literal["x509", "jwt"]
# prepared/activated/retired come from the CA manager's slots, pruned from the 6 h bundle
# pruning; tainted and revoked from forced `localauthority` operations.
AuthorityStep = Literal["prepared", "activated", "retired", "pruned", "tainted", "revoked"]


def x509_authority_id(cert: x509.Certificate) -> str:
    """The hex Subject Key ID SPIRE logs as ``local_authority_id`` (x509util
    SubjectKeyIDToString); the SHA-256 fingerprint's first 20 bytes when a root has none."""
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return ski.digest.hex()
    except x509.ExtensionNotFound:
        return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()[:40]


def change_at(changes: Sequence[BundleChange], t: float) -> BundleChange | None:
    """The change in effect at ``t`` in time-ordered ``changes``: the last one at or before
    it, or None before the first."""
    i = bisect.bisect_right(changes, t, key=lambda c: c.t)
    return changes[i - 1] if i else None


@dataclass(frozen=True, slots=True)
class AuthorityEvent:
    """One step in the life of an X.509 CA or JWT signing key of ``trust_domain``. For X.509,
    ``roots`` are the IDs of the trust anchors its chains end at (the CA itself when
    self-signed, the upstream roots otherwise): those are what peers must hold."""

    t: float
    trust_domain: str
    kind: AuthorityKind
    authority_id: str
    step: AuthorityStep
    not_after: float | None = None
    roots: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BundleChange:
    """From ``t`` on, ``holder``'s server held this copy of ``trust_domain``'s bundle (its own
    when the two are equal); empty ID tuples with cause ``lost`` mean it held none."""

    t: float
    holder: str
    trust_domain: str
    cause: str  # rotation, prune, bundle_set, bundle_client, lost
    sequence: int | None
    x509_ids: tuple[str, ...]
    jwt_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EntryChange:
    """A registration entry of ``trust_domain`` was created, deleted, or refused (``error``)."""

    t: float
    trust_domain: str
    op: Literal["created", "deleted", "rejected", "updated"]
    entry_id: str
    spiffe_id: str
    federates_with: tuple[str, ...] = ()
    selectors: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class SvidIssued:
    """A server minted an X509-SVID for ``spiffe_id`` under the CA ``authority_id``."""

    t: float
    trust_domain: str
    spiffe_id: str
    serial: int
    not_before: float
    not_after: float
    authority_id: str


@dataclass(frozen=True, slots=True)
class JwtIssued:
    """A server signed a JWT-SVID for ``spiffe_id`` with its JWT key ``key_id``."""

    t: float
    trust_domain: str
    spiffe_id: str
    key_id: str
    expires: float


@dataclass(frozen=True, slots=True)
class SvidDelivered:
    """The Workload API pushed ``workload`` an update: its SVID and the trust domains whose
    bundles came with it (its own first)."""

    t: float
    workload: str
    spiffe_id: str | None
    serial: int | None
    bundles: tuple[str, ...]
    # For each trust domain in ``bundles``: the X.509 authority IDs of the copy it holds.
    authorities: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def x509_ids(self, trust_domain: str) -> tuple[str, ...] | None:
        """The authority IDs of the workload's copy of ``trust_domain``'s bundle, or None."""
        for td, ids in self.authorities:
            if td == trust_domain:
                return ids
        return None


@dataclass(frozen=True, slots=True)
class Outage:
    """From ``t`` on, ``trust_domain``'s server (``who`` = ``server``) or its agent on ``node``
    (``who`` = ``agent``) was down or unable to sync (``down``), or back (not ``down``);
    ``detail`` says how (``stopped``, the sync error, ``datastore lost`` ...). Only changes are
    recorded, not every failed retry."""

    t: float
    trust_domain: str
    who: Literal["server", "agent"]
    node: str
    down: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FetchAttempt:
    """One poll by ``holder``'s bundle client of ``trust_domain``'s endpoint."""

    t: float
    holder: str
    trust_domain: str
    ok: bool
    error: str
    next_poll: float


@dataclass(frozen=True, slots=True)
class ClockSkew:
    """From ``t`` on, ``node``'s clock reads ``by`` seconds ahead of true time (negative:
    behind); what judges certificate validity there."""

    t: float
    node: str
    by: float


@dataclass
class History:
    """Every state change of a run, in time order per list (appends happen as time advances)."""

    authorities: list[AuthorityEvent] = field(default_factory=list)
    bundles: list[BundleChange] = field(default_factory=list)
    entries: list[EntryChange] = field(default_factory=list)
    svids: list[SvidIssued] = field(default_factory=list)
    jwts: list[JwtIssued] = field(default_factory=list)
    deliveries: list[SvidDelivered] = field(default_factory=list)
    fetches: list[FetchAttempt] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    skews: list[ClockSkew] = field(default_factory=list)
    _by_copy: dict[tuple[str, str], list[BundleChange]] = field(
        default_factory=lambda: defaultdict(list), repr=False
    )

    def authority(self, t: float, trust_domain: str, kind: AuthorityKind, authority_id: str,
                  step: AuthorityStep, *, not_after: float | None = None,
                  roots: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.authorities.append(
            AuthorityEvent(t, trust_domain, kind, authority_id, step, not_after, roots)
        )

    def bundle(self, t: float, *, holder: str, trust_domain: str, cause: str,
               sequence: int | None, x509_ids: tuple[str, ...],
               jwt_ids: tuple[str, ...]) -> None:  # fmt: skip
        change = BundleChange(t, holder, trust_domain, cause, sequence, x509_ids, jwt_ids)
        self.bundles.append(change)
        self._by_copy[(holder, trust_domain)].append(change)

    def bundle_at(self, holder: str, trust_domain: str, t: float) -> BundleChange | None:
        """The copy of ``trust_domain``'s bundle ``holder`` held at ``t`` (changes at ``t``
        included), or None before the first one."""
        return change_at(self._by_copy.get((holder, trust_domain), []), t)

    def bundle_changes(self, holder: str, trust_domain: str) -> list[BundleChange]:
        """Every copy of ``trust_domain``'s bundle ``holder`` held, in time order."""
        return list(self._by_copy.get((holder, trust_domain), []))

    def authority_steps(self, trust_domain: str, kind: AuthorityKind | None = None
                        ) -> dict[str, dict[str, float]]:  # fmt: skip
        """For each authority of ``trust_domain`` (in order of first appearance): step -> time."""
        out: dict[str, dict[str, float]] = {}
        for ev in self.authorities:
            if ev.trust_domain == trust_domain and (kind is None or ev.kind == kind):
                out.setdefault(ev.authority_id, {}).setdefault(ev.step, ev.t)
        return out

    def authority_event(self, trust_domain: str, authority_id: str,
                        step: AuthorityStep) -> AuthorityEvent | None:  # fmt: skip
        for ev in self.authorities:
            if (ev.trust_domain, ev.authority_id, ev.step) == (trust_domain, authority_id, step):
                return ev
        return None

    def svid(self, serial: int) -> SvidIssued | None:
        """The issue record of the SVID with this serial number (serials are 128-bit random)."""
        for rec in reversed(self.svids):
            if rec.serial == serial:
                return rec
        return None

    def outage_at(self, trust_domain: str, who: str, node: str, t: float) -> Outage | None:
        """The last outage change of that server or agent at or before ``t`` (None: never)."""
        found = None
        for o in self.outages:
            if o.t > t:
                break
            if (o.trust_domain, o.who, o.node) == (trust_domain, who, node):
                found = o
        return found

    def back_after(self, trust_domain: str, who: str, node: str, t: float) -> Outage | None:
        """The first recovery of that server or agent after ``t``."""
        key = (trust_domain, who, node)
        return next(
            (o for o in self.outages if o.t > t and not o.down
             and (o.trust_domain, o.who, o.node) == key),
            None,
        )  # fmt: skip

    def jwt_at(self, spiffe_id: str, t: float) -> JwtIssued | None:
        """The newest JWT-SVID minted for ``spiffe_id`` at or before ``t`` (what the agent's
        cache hands out: it replaces a token only with a newer one)."""
        for rec in reversed(self.jwts):
            if rec.t <= t and rec.spiffe_id == spiffe_id:
                return rec
        return None

    def fetches_of(self, holder: str, trust_domain: str) -> list[FetchAttempt]:
        return [f for f in self.fetches if (f.holder, f.trust_domain) == (holder, trust_domain)]

    def entries_at(self, trust_domain: str, t: float) -> dict[str, EntryChange]:
        """Entries of ``trust_domain`` that existed at ``t``: entry ID -> its latest version."""
        live: dict[str, EntryChange] = {}
        for ch in self.entries:
            if ch.t > t:
                break
            if ch.trust_domain != trust_domain:
                continue
            if ch.op in ("created", "updated"):
                live[ch.entry_id] = ch
            elif ch.op == "deleted":
                live.pop(ch.entry_id, None)
        return live

    def skew_at(self, node: str, t: float) -> ClockSkew | None:
        """The clock skew in force on ``node`` at ``t`` (None: never skewed by then)."""
        found = None
        for sk in self.skews:
            if sk.t > t:
                break
            if sk.node == node:
                found = sk
        return found

    def delivery_at(self, workload: str, t: float) -> SvidDelivered | None:
        """What ``workload`` held at ``t``: its latest Workload API push at or before ``t``."""
        found = None
        for d in self.deliveries:
            if d.t > t:
                break
            if d.workload == workload:
                found = d
        return found
