"""A SPIFFE trust bundle: one trust domain's X.509 and JWT authorities, read and written as the
SPIFFE bundle JWKS document exactly as SPIRE marshals it, and as PEM.

The JWKS shape is SPIRE's `bundleutil.Marshal` (spire@HEAD pkg/common/bundleutil/marshal.go,
types.go): go-jose key fields in the order use, kty, kid, crv, x, y, x5c; then
`spiffe_sequence` and `spiffe_refresh_hint`, both omitted when 0; indented with 4 spaces.

>>> from sim.spiffeid import TrustDomain
>>> b = Bundle(trust_domain=TrustDomain.parse("bar.example.com"), refresh_hint=15768000)
>>> print(b.to_jwks())
{
    "keys": [],
    "spiffe_refresh_hint": 15768000
}
>>> Bundle.from_jwks(b.trust_domain, b.to_jwks()) == b
True
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sim.spiffeid import TrustDomain

__all__ = ["Bundle", "BundleError", "BundleSet", "BundleSource", "JWTAuthority", "PooledRoots"]

_X509_SVID_USE = "x509-svid"
_JWT_SVID_USE = "jwt-svid"
_CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
}
_SHA256 = hashes.SHA256()
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


class BundleError(ValueError):
    """A bundle document or PEM could not be read, or a bundle could not be built."""


@dataclass(frozen=True, slots=True)
class JWTAuthority:
    """A JWT signing public key with its key ID.

    ``expires_at`` is what SPIRE's datastore keeps for its own keys (to prune them); it is not
    part of the JWKS document, so a bundle read from a document has ``None`` there.
    """

    key_id: str
    public_key: ec.EllipticCurvePublicKey = field(compare=False)
    expires_at: datetime | None = field(default=None, compare=False)
    _der: bytes = field(init=False, repr=False, compare=True)

    def __post_init__(self) -> None:
        if not self.key_id:
            raise BundleError("bundle: JWT authority needs a key ID")
        der = self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        object.__setattr__(self, "_der", der)


class BundleSource(Protocol):
    """Anything that can hand out the bundle of a trust domain (go-spiffe's x509bundle.Source)."""

    def get_bundle_for_trust_domain(self, trust_domain: TrustDomain) -> Bundle | None: ...


@dataclass(frozen=True, slots=True)
class Bundle:
    """The authorities of one trust domain plus the SPIFFE document fields.

    ``sequence_number`` and ``refresh_hint`` (seconds) are ``None`` when the document had none;
    SPIRE writes 0 as "absent" (omitempty), and reading absent gives 0 for the hint as SPIRE's
    own Decode does (it always calls SetRefreshHint; spire-facts 5.1).
    """

    trust_domain: TrustDomain
    x509_authorities: tuple[x509.Certificate, ...] = ()
    jwt_authorities: tuple[JWTAuthority, ...] = ()
    sequence_number: int | None = None
    refresh_hint: int | None = None
    # Digest of the roots, computed once: verification memos key on it (hot path).
    _x509_fp: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.trust_domain, TrustDomain):
            raise BundleError("bundle: trust_domain must be a TrustDomain")
        h = hashlib.sha256(self.trust_domain.name.encode())
        for c in self.x509_authorities:
            h.update(c.fingerprint(_SHA256))
        object.__setattr__(self, "_x509_fp", h.digest())
        kids = [a.key_id for a in self.jwt_authorities]
        if len(set(kids)) != len(kids):
            raise BundleError("bundle: duplicate JWT key ID in one bundle")
        for name in ("sequence_number", "refresh_hint"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise BundleError(f"bundle: {name} must be a non-negative integer")

    # -- the document ------------------------------------------------------------------------

    def to_jwks(self, *, include_sequence: bool = True) -> str:
        """The SPIFFE bundle document, byte-for-byte as SPIRE's Marshal writes it.

        ``include_sequence=False`` gives what SPIRE <= 1.7.1 served (no `spiffe_sequence`).
        JWT keys are written in bundle order; SPIRE ranges over a Go map there, so real SPIRE
        varies that order between calls (spire-facts 5.1); we keep it stable.
        """
        keys: list[dict[str, Any]] = []
        for cert in self.x509_authorities:
            jwk = {"use": _X509_SVID_USE, **_ec_jwk(cert.public_key())}
            jwk["x5c"] = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
            keys.append(jwk)
        for auth in self.jwt_authorities:
            point = _ec_jwk(auth.public_key)
            keys.append(
                {
                    "use": _JWT_SVID_USE,
                    "kty": point["kty"],
                    "kid": auth.key_id,
                    "crv": point["crv"],
                    "x": point["x"],
                    "y": point["y"],
                }
            )
        doc: dict[str, Any] = {"keys": keys}
        if include_sequence and self.sequence_number:
            doc["spiffe_sequence"] = self.sequence_number
        if self.refresh_hint:
            doc["spiffe_refresh_hint"] = self.refresh_hint
        # Go's encoding/json escapes <, > and & as \u003c etc.; none occur in these documents.
        return json.dumps(doc, indent=4, ensure_ascii=True)

    @classmethod
    def from_jwks(cls, trust_domain: TrustDomain, document: str | bytes) -> Bundle:
        """Read a SPIFFE bundle document the way SPIRE's bundleutil.Decode does.

        Errors name the entry at fault, with SPIRE's texts where SPIRE has one.
        """
        if isinstance(document, bytes):
            try:
                document = document.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BundleError(f"bundle: document is not UTF-8 (byte {exc.start})") from None
        if not document.strip():
            # Go's encoding/json on empty input (what a user who `bundle set`s an empty file sees).
            raise BundleError("bundle: unable to parse JWKS: unexpected end of JSON input")
        try:
            doc = json.loads(document)
        except json.JSONDecodeError as exc:
            raise BundleError(
                f"bundle: unable to parse JWKS: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        if not isinstance(doc, dict):
            raise BundleError("bundle: unable to parse JWKS: document is not a JSON object")
        keys = doc.get("keys")
        if keys is None:
            raise BundleError('bundle: unable to parse JWKS: "keys" is missing')
        if not isinstance(keys, list):
            raise BundleError('bundle: unable to parse JWKS: "keys" is not a list')
        x509s: list[x509.Certificate] = []
        jwts: list[JWTAuthority] = []
        for i, key in enumerate(keys):
            if not isinstance(key, dict):
                raise BundleError(f"bundle: key entry {i} is not a JSON object")
            use = key.get("use", "")
            if use == _X509_SVID_USE:
                x5c = key.get("x5c") or []
                if not isinstance(x5c, list) or len(x5c) != 1:
                    n = len(x5c) if isinstance(x5c, list) else 0
                    raise BundleError(
                        f"bundle: expected a single certificate in x509-svid entry {i}; got {n}"
                    )
                cert = _cert_from_b64(x5c[0], i)
                _check_key_matches(key, cert.public_key(), i)
                if cert not in x509s:
                    x509s.append(cert)
            elif use == _JWT_SVID_USE:
                kid = key.get("kid", "")
                if not kid:
                    raise BundleError(f"bundle: missing key ID in jwt-svid entry {i}")
                if any(a.key_id == kid for a in jwts):
                    raise BundleError(
                        f'bundle: failed to add jwt-svid entry {i}: duplicate key ID "{kid}"'
                    )
                jwts.append(JWTAuthority(key_id=kid, public_key=_ec_from_jwk(key, i)))
            elif use == "":
                raise BundleError(f"bundle: missing use for key entry {i}")
            else:
                raise BundleError(f'bundle: unrecognized use "{use}" for key entry {i}')
        seq = _non_negative_int(doc.get("spiffe_sequence", 0), "spiffe_sequence")
        hint = _non_negative_int(doc.get("spiffe_refresh_hint", 0), "spiffe_refresh_hint")
        return cls(
            trust_domain=trust_domain,
            x509_authorities=tuple(x509s),
            jwt_authorities=tuple(jwts),
            sequence_number=seq or None,
            refresh_hint=hint or None,
        )

    def to_pem(self) -> str:
        """The X.509 authorities as concatenated PEM (`bundle show -format pem`)."""
        return "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in self.x509_authorities
        )

    @classmethod
    def from_pem(cls, trust_domain: TrustDomain, pem: str | bytes) -> Bundle:
        """A bundle of the certificates in ``pem`` (`bundle set -format pem`)."""
        data = pem.encode() if isinstance(pem, str) else pem
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise BundleError("bundle: no PEM certificate found")
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise BundleError(f"bundle: unable to parse PEM certificates: {exc}") from None
        unique: list[x509.Certificate] = []
        for c in certs:
            if c not in unique:
                unique.append(c)
        return cls(trust_domain=trust_domain, x509_authorities=tuple(unique))

    # -- changes (each returns a new bundle) -------------------------------------------------

    def with_x509_authority(self, cert: x509.Certificate) -> Bundle:
        """Add a root unless present (SPIRE de-duplicates on append)."""
        if cert in self.x509_authorities:
            return self
        return replace(self, x509_authorities=(*self.x509_authorities, cert))

    def with_jwt_authority(self, authority: JWTAuthority) -> Bundle:
        if any(a.key_id == authority.key_id for a in self.jwt_authorities):
            return self
        return replace(self, jwt_authorities=(*self.jwt_authorities, authority))

    def with_sequence_number(self, sequence_number: int | None) -> Bundle:
        return replace(self, sequence_number=sequence_number)

    def with_refresh_hint(self, refresh_hint: int | None) -> Bundle:
        return replace(self, refresh_hint=refresh_hint)

    def same_authorities(self, other: Bundle) -> bool:
        """Whether both hold the same roots and JWT keys, whatever the document fields say."""
        return (
            self.trust_domain == other.trust_domain
            and self.x509_authorities == other.x509_authorities
            and self.jwt_authorities == other.jwt_authorities
        )

    @property
    def x509_fingerprint(self) -> bytes:
        """A digest of the X.509 roots (the part a chain verification depends on)."""
        return self._x509_fp

    def get_bundle_for_trust_domain(self, trust_domain: TrustDomain) -> Bundle | None:
        """A single bundle is a source for its own trust domain only (go-spiffe x509bundle)."""
        return self if trust_domain == self.trust_domain else None


@dataclass(frozen=True, slots=True)
class BundleSet:
    """Bundles keyed by trust domain: the own bundle plus federated ones (never merged)."""

    bundles: tuple[Bundle, ...] = ()
    _index: Mapping[TrustDomain, Bundle] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[TrustDomain, Bundle] = {}
        for b in self.bundles:
            if b.trust_domain in index:
                raise BundleError(f'bundle: two bundles for trust domain "{b.trust_domain}"')
            index[b.trust_domain] = b
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, bundles: Iterable[Bundle]) -> BundleSet:
        return cls(tuple(sorted(bundles, key=lambda b: b.trust_domain.name)))

    def get_bundle_for_trust_domain(self, trust_domain: TrustDomain) -> Bundle | None:
        return self._index.get(trust_domain)

    def trust_domains(self) -> tuple[TrustDomain, ...]:
        return tuple(b.trust_domain for b in self.bundles)

    def __iter__(self) -> Iterator[Bundle]:
        return iter(self.bundles)

    def __len__(self) -> int:
        return len(self.bundles)

    def __contains__(self, trust_domain: object) -> bool:
        return trust_domain in self._index


@dataclass(frozen=True, slots=True)
class PooledRoots:
    """UNSAFE, modelled to teach why it is wrong (failure story E4; go-spiffe#201,
    spiffe/spiffe#375): a verifier that trusts the union of all its bundles' X.509 roots for
    every trust domain, as a TLS stack given one CA file of every bundle does. A leaf claiming
    trust domain A then verifies if it chains to *any* root, so whoever holds the CA key of one
    federated domain can impersonate every other one.

    >>> from sim.spiffeid import TrustDomain
    >>> pool = PooledRoots(BundleSet.of([Bundle(TrustDomain("a.example"))]))
    >>> pool.get_bundle_for_trust_domain(TrustDomain("b.example")) is None  # no roots at all
    True
    """

    bundles: BundleSet

    def get_bundle_for_trust_domain(self, trust_domain: TrustDomain) -> Bundle | None:
        roots: list[x509.Certificate] = []
        for b in self.bundles:
            roots.extend(c for c in b.x509_authorities if c not in roots)
        return Bundle(trust_domain, tuple(roots)) if roots else None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _ec_jwk(public_key: Any) -> dict[str, str]:
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise BundleError(f"bundle: only EC keys are modelled, got {type(public_key).__name__}")
    crv = _CURVE_NAMES.get(public_key.curve.name)
    if crv is None:
        raise BundleError(f"bundle: unsupported curve {public_key.curve.name}")
    size = _CURVES[crv][1]
    nums = public_key.public_numbers()
    # go-jose pads coordinates to the curve size (newFixedSizeBuffer).
    return {
        "kty": "EC",
        "crv": crv,
        "x": _b64url(nums.x.to_bytes(size, "big")),
        "y": _b64url(nums.y.to_bytes(size, "big")),
    }


def _b64url_decode(text: Any, what: str, i: int) -> bytes:
    if not isinstance(text, str):
        raise BundleError(f"bundle: key entry {i}: {what} is not a string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise BundleError(f"bundle: key entry {i}: {what} is not base64url") from None


def _ec_from_jwk(key: Mapping[str, Any], i: int) -> ec.EllipticCurvePublicKey:
    if key.get("kty") != "EC":
        raise BundleError(f'bundle: key entry {i}: unsupported kty "{key.get("kty")}"')
    crv = key.get("crv")
    if crv not in _CURVES:
        raise BundleError(f'bundle: key entry {i}: unsupported crv "{crv}"')
    curve_cls, size = _CURVES[crv]
    x = _b64url_decode(key.get("x"), "x", i)
    y = _b64url_decode(key.get("y"), "y", i)
    if len(x) != size or len(y) != size:
        raise BundleError(f"bundle: key entry {i}: invalid EC key coordinates for {crv}")
    try:
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve_cls()
        ).public_key()
    except ValueError:
        raise BundleError(f"bundle: key entry {i}: point is not on curve {crv}") from None


def _cert_from_b64(text: Any, i: int) -> x509.Certificate:
    if not isinstance(text, str):
        raise BundleError(f"bundle: x509-svid entry {i}: x5c value is not a string")
    try:
        der = base64.b64decode(text, validate=True)
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise BundleError(
            f"bundle: x509-svid entry {i}: invalid certificate in x5c: {exc}"
        ) from None


def _check_key_matches(key: Mapping[str, Any], cert_key: Any, i: int) -> None:
    # go-jose rejects a JWK whose x5c certificate carries another key.
    if "x" in key or "y" in key:
        if _ec_from_jwk(key, i) != cert_key:
            raise BundleError(f"bundle: x509-svid entry {i}: invalid JWK, public keys mismatch")


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BundleError(f'bundle: "{name}" must be a non-negative integer, got {value!r}')
    return value
