"""An X509-SVID (a SPIFFE ID proven by an X.509 chain and its key), and its verification at a
given instant exactly in the order and words of go-spiffe.

Verification order (go-spiffe v2 svid/x509svid/verify.go Verify; pre-1.0 spiffe/tls_verify.go
VerifyPeerCertificate): the leaf's SPIFFE ID; (v2 only) the leaf must not be a CA; the bundle
of *that* trust domain, never a pool of several; then the chain, checked by ``cryptography``'s
RFC 5280 verifier at the simulated instant against that bundle's roots only. Go's x509 error
texts are reproduced by replaying Go's path building (crypto/x509 verify.go buildChains) when
the chain fails.

>>> from datetime import datetime, timedelta, timezone
>>> from sim import ca, rng
>>> from sim.bundle import Bundle
>>> from sim.spiffeid import SpiffeID, TrustDomain
>>> now = datetime(2019, 12, 17, tzinfo=timezone.utc)
>>> r = rng.stream(1, "doc")
>>> foo = TrustDomain.parse("foo.example.com")
>>> x509ca = ca.self_sign_x509_ca(trust_domain=foo, ttl=86400, now=now, rng=r)
>>> svid = ca.mint_x509_svid(x509ca, spiffe_id=SpiffeID.parse("spiffe://foo.example.com/a"),
...                          private_key=ca.new_ec_key(r), ttl=3600, now=now, rng=r)
>>> verify(svid.certificates, Bundle(foo, x509ca.roots), at=now).spiffe_id
SpiffeID(trust_domain=TrustDomain(name='foo.example.com'), path='/a')
>>> try:
...     verify(svid.certificates, Bundle(foo, x509ca.roots), at=now + timedelta(hours=2))
... except X509SVIDError as err:
...     for part in str(err).split(": "):
...         print(part)
x509svid
could not verify leaf certificate
x509
certificate has expired or is not yet valid
current time 2019-12-17T02:00:00Z is after 2019-12-17T01:00:00Z
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from sim.bundle import Bundle, BundleSource
from sim.spiffeid import SpiffeID, SpiffeIDError, TrustDomain

__all__ = [
    "Verified",
    "VerificationCache",
    "VerifyStyle",
    "X509SVID",
    "X509SVIDError",
    "go_chain_error",
    "go_time",
    "id_from_cert",
    "verify",
]


class VerifyStyle(enum.Enum):
    """Which go-spiffe generation's texts (and checks) to reproduce.

    ``PRE1``: go-spiffe 018e7197 (2019-09), used by ghostunnel v1.5.2, built with Go 1.13.4,
    whose x509 expiry errors carry no detail. ``V2``: go-spiffe v2 with a current Go.
    """

    PRE1 = "pre1"
    V2 = "v2"


class X509SVIDError(Exception):
    """An SVID could not be parsed or did not verify. ``kind`` names the cause for metrics."""

    def __init__(self, message: str, *, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


def go_time(t: datetime) -> str:
    """Go's ``time.RFC3339`` rendering of a UTC instant (whole seconds, ``Z``)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def id_from_cert(cert: x509.Certificate) -> SpiffeID:
    """The SPIFFE ID in the certificate's single URI SAN (go-spiffe v2 x509svid.IDFromCert)."""
    uris = _uris(cert)
    if not uris:
        raise X509SVIDError("certificate contains no URI SAN", kind="no_uri_san")
    if len(uris) > 1:
        raise X509SVIDError("certificate contains more than one URI SAN", kind="multi_uri_san")
    try:
        return SpiffeID.parse(uris[0])
    except SpiffeIDError as exc:
        raise X509SVIDError(str(exc), kind="invalid_id") from None


def _uris(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.UniformResourceIdentifier)


@dataclass(frozen=True, slots=True)
class X509SVID:
    """A SPIFFE ID, its certificate chain (leaf first, then intermediates) and private key."""

    spiffe_id: SpiffeID
    certificates: tuple[x509.Certificate, ...]
    private_key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.certificates:
            raise X509SVIDError("x509svid: no certificates found")

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def not_before(self) -> datetime:
        return self.leaf.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.leaf.not_valid_after_utc

    @property
    def serial_number(self) -> int:
        return self.leaf.serial_number

    def chain_pem(self) -> bytes:
        """Leaf then intermediates, as spiffe-helper writes `svid.pem`."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.certificates)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (`svid_key.pem`)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def parse(cls, chain_pem: bytes, key_pem: bytes) -> X509SVID:
        """Read an SVID from PEM with go-spiffe v2's checks and texts (svid/x509svid/svid.go
        Parse, validateCertificates, validatePrivateKey)."""
        certs = _pem_certificates(chain_pem)
        key = _pem_private_key(key_pem)
        if not certs:
            raise X509SVIDError("x509svid: certificate validation failed: no certificates found")
        problem = _parse_validation_error(certs)
        if problem is not None:
            raise X509SVIDError(f"x509svid: certificate validation failed: {problem}")
        if key is None:
            raise X509SVIDError("x509svid: private key validation failed: no private key found")
        if (
            not isinstance(key, ec.EllipticCurvePrivateKey)
            or key.public_key() != certs[0].public_key()
        ):
            raise X509SVIDError(
                "x509svid: private key validation failed: leaf certificate does not match "
                "private key"
            )
        return cls(spiffe_id=id_from_cert(certs[0]), certificates=certs, private_key=key)


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    return [(m.group(1).decode("ascii"), m.group(0)) for m in _PEM_BLOCK.finditer(data)]


def _pem_certificates(data: bytes) -> tuple[x509.Certificate, ...]:
    # go-spiffe internal/pemutil: every block must be a CERTIFICATE, and there must be one.
    blocks = _pem_blocks(data)
    if not blocks:
        raise X509SVIDError("x509svid: cannot parse PEM encoded certificate: no PEM blocks found")
    certs = []
    for label, block in blocks:
        if label != "CERTIFICATE":
            raise X509SVIDError(
                f'x509svid: cannot parse PEM encoded certificate: PEM type not supported: "{label}"'
            )
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise X509SVIDError(f"x509svid: cannot parse PEM encoded certificate: {exc}") from None
    return tuple(certs)


def _pem_private_key(data: bytes) -> object | None:
    # pemutil.ParsePrivateKey takes PKCS#8 `PRIVATE KEY` blocks only and skips other types, so a
    # SEC1 `EC PRIVATE KEY` yields no key (then: "private key validation failed: no private key
    # found").
    blocks = _pem_blocks(data)
    if not blocks:
        raise X509SVIDError("x509svid: cannot parse PEM encoded private key: no PEM blocks found")
    for label, block in blocks:
        if label == "PRIVATE KEY":
            try:
                return serialization.load_pem_private_key(block, password=None)
            except (ValueError, TypeError) as exc:
                raise X509SVIDError(
                    f"x509svid: cannot parse PEM encoded private key: {exc}"
                ) from None
    return None


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _parse_validation_error(certs: Sequence[x509.Certificate]) -> str | None:
    leaf = certs[0]
    try:
        sid = id_from_cert(leaf)
    except X509SVIDError as exc:
        return f"cannot get leaf certificate SPIFFE ID: {exc}"
    if not sid.path:
        return "leaf certificate SPIFFE ID must have a non-root path"
    if _is_ca(leaf):
        return "leaf certificate must not have CA flag set to true"
    ku = _key_usage(leaf)
    if ku is None or not ku.digital_signature:
        return "leaf certificate must have 'digitalSignature' set as key usage"
    if ku.key_cert_sign:
        return "leaf certificate must not have 'keyCertSign' set as key usage"
    if ku.crl_sign:
        return "leaf certificate must not have 'cRLSign' set as key usage"
    for signer in certs[1:]:
        if not _is_ca(signer):
            return "signing certificate must have CA flag set to true"
        sku = _key_usage(signer)
        if sku is None or not sku.key_cert_sign:
            return "signing certificate must have 'keyCertSign' set as key usage"
    return None


@dataclass(frozen=True, slots=True)
class Verified:
    """A successful verification: the peer's ID and the chain up to a root of its bundle."""

    spiffe_id: SpiffeID
    chain: tuple[x509.Certificate, ...]


def _leaf_constraint_error(leaf: x509.Certificate) -> str | None:
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            return "leaf certificate with CA flag set to true"
    except x509.ExtensionNotFound:
        pass
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if ku.key_cert_sign:
        return "leaf certificate with KeyCertSign key usage"
    if ku.crl_sign:
        return "leaf certificate with KeyCrlSign key usage"
    return None


# -- Go's x509 errors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Failure:
    """A verdict that does not depend on the instant except through the expiry detail."""

    kind: str
    text: str
    # For Go's Expired error: ("after" | "before", the bound), rendered with the instant.
    expiry: tuple[str, datetime] | None = None

    def message(self, at: datetime, detail: bool) -> str:
        if self.expiry is None or not detail:
            return self.text
        direction, bound = self.expiry
        return f"{self.text}: current time {go_time(at)} is {direction} {go_time(bound)}"


_EXPIRED = "x509: certificate has expired or is not yet valid"
_UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"


def _time_failure(cert: x509.Certificate, at: datetime) -> _Failure | None:
    # Go (crypto/x509 verify.go isValid): invalid if now.Before(NotBefore) or now.After(NotAfter).
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    if at < nb:
        return _Failure("expired", _EXPIRED, ("before", nb))
    if at > na:
        return _Failure("expired", _EXPIRED, ("after", na))
    return None


def _subject_ki(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _authority_ki(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier
        ).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _check_signature_from(child: x509.Certificate, parent: x509.Certificate) -> str | None:
    """Go's Certificate.CheckSignatureFrom, returning its error text or None."""
    if not _is_ca(parent):
        return "x509: invalid signature: parent certificate cannot sign this kind of certificate"
    try:
        ku = parent.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.key_cert_sign:
            return (
                "x509: invalid signature: parent certificate cannot sign this kind of certificate"
            )
    except x509.ExtensionNotFound:
        pass
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError):
        return "x509: ECDSA verification failure"
    return None


def _candidates(child: x509.Certificate, pool: Sequence[x509.Certificate]) -> list:
    # Go's CertPool.findVerifiedParents: by AKI -> SKI first, else by issuer name.
    aki = _authority_ki(child)
    found = [c for c in pool if aki is not None and _subject_ki(c) == aki]
    if not found:
        found = [c for c in pool if c.subject == child.issuer]
    return found


def _hint_name(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if cns:
        return str(cns[0].value)
    orgs = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    if orgs:
        return str(orgs[0].value)
    return f"serial:{cert.serial_number}"


def _go_chain_failure(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
) -> _Failure | None:
    """Replay Go's Verify (leaf isValid, then buildChains) to find the error Go would report.

    Returns None when Go would build a chain.
    """
    leaf_time = _time_failure(leaf, at)
    if leaf_time is not None:
        return leaf_time

    def build(
        cert: x509.Certificate, chain: list[x509.Certificate]
    ) -> tuple[bool, _Failure | None]:
        err: _Failure | None = None
        hint: tuple[str, x509.Certificate] | None = None
        ok = False
        for pool, is_root in ((roots, True), (intermediates, False)):
            for cand in _candidates(cert, pool):
                if any(cand == c for c in chain):
                    continue
                sig_err = _check_signature_from(cert, cand)
                if sig_err is not None:
                    if hint is None:
                        hint = (sig_err, cand)
                    continue
                invalid = _time_failure(cand, at)
                if invalid is None and not is_root and not _is_ca(cand):
                    invalid = _Failure(
                        "not_authorized_to_sign",
                        "x509: certificate is not authorized to sign other certificates",
                    )
                if invalid is not None:
                    err = invalid
                    continue
                if is_root:
                    return True, None
                sub_ok, sub_err = build(cand, [*chain, cand])
                if sub_ok:
                    ok = True
                    break
                err = sub_err
            if ok:
                return True, None
        if err is None:
            text = _UNKNOWN_AUTHORITY
            if hint is not None:
                text += (
                    f' (possibly because of "{hint[0]}" while trying to verify candidate '
                    f'authority certificate "{_hint_name(hint[1])}")'
                )
            err = _Failure("unknown_authority", text)
        return False, err

    ok, failure = build(leaf, [leaf])
    return None if ok else failure


def go_chain_error(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    at: datetime,
    detail: bool = True,
) -> tuple[str, str] | None:
    """What Go's ``Certificate.Verify`` chain building reports, as (kind, text), or None when
    Go would find a chain. ``detail`` adds Go 1.14+'s ``current time ... is after ...``."""
    failure = _go_chain_failure(leaf, intermediates, roots, at)
    return None if failure is None else (failure.kind, failure.message(at, detail))


# -- the real verifier ---------------------------------------------------------------------------

# Go verifies SPIFFE chains with ExtKeyUsageAny and no name checks, and does not require AKI/SKI
# on CAs; WebPKI defaults would reject valid SPIRE deployments. So: accept any extensions, but
# keep RFC 5280's core (signatures, validity, CA:TRUE on issuers, path length).
_CA_POLICY = ExtensionPolicy.permit_all().require_present(
    x509.BasicConstraints, Criticality.AGNOSTIC, None
)
_EE_POLICY = ExtensionPolicy.permit_all()


def _crypto_verify(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
) -> tuple[x509.Certificate, ...] | str:
    """Verify with cryptography's RFC 5280 path validation; the chain, or the failure reason."""
    if not roots:
        return "no roots"
    # cryptography validates at whole-second resolution; sub-second edges are judged by Go's rule
    # in _go_chain_failure, which runs first.
    whole = at.replace(microsecond=0)
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(whole)
        .max_chain_depth(8)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf, list(intermediates))
    except VerificationError as exc:
        return str(exc)
    return tuple(verified.chain)


def _time_bounds(certs: Sequence[x509.Certificate]) -> list[tuple[datetime, datetime]]:
    return [(c.not_valid_before_utc, c.not_valid_after_utc) for c in certs]


class VerificationCache:
    """Reuse verdicts for an unchanged (chain, bundle, style) until one could change.

    A verdict depends on the instant only through which certificates are inside their validity
    window, so the key includes that "phase" of every certificate involved; nothing can go stale
    (DESIGN.md section 5). ``hits`` and ``misses`` count lookups.
    """

    def __init__(self) -> None:
        self._memo: dict[tuple, Verified | _Failure] = {}
        self._ids: dict[tuple[x509.Certificate, bool], SpiffeID | X509SVIDError] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._memo)


def _phase(bounds: Sequence[tuple[datetime, datetime]], at: datetime) -> tuple[int, ...]:
    return tuple(0 if at < nb else (2 if at > na else 1) for nb, na in bounds)


def _pre1_peer_id(leaf: x509.Certificate) -> SpiffeID:
    """The peer ID as go-spiffe pre-1.0 reads it (spiffe/id.go getIDsFromCertificate and
    ValidateURI with AllowAny): scheme, user info, host, port, fragment and query checks only."""
    uris = _uris(leaf)
    if not uris:
        raise X509SVIDError("peer certificate contains no URI SAN", kind="no_uri_san")
    if len(uris) > 1:
        raise X509SVIDError("peer certificate contains more than one URI SAN", kind="multi_uri_san")
    uri = uris[0]
    parts = urlsplit(uri)
    problem = None
    if parts.scheme.lower() != "spiffe":
        problem = "invalid scheme"
    elif "@" in parts.netloc:
        problem = "user info is not allowed"
    elif not parts.hostname:
        problem = "trust domain is empty"
    elif ":" in parts.netloc:
        problem = "port is not allowed"
    elif parts.fragment:
        problem = "fragment is not allowed"
    elif parts.query:
        problem = "query is not allowed"
    if problem is not None:
        raise X509SVIDError(f'invalid SPIFFE ID "{uri}": {problem}', kind="invalid_id")
    try:
        return SpiffeID.parse(uri)
    except SpiffeIDError as exc:
        # Pre-1.0 looked the host up as written, so a host our (spec-strict) TrustDomain cannot
        # hold can only miss the roots map. Other oddities (dot segments, trailing slash) that
        # pre-1.0 let through are reported with the spec's reason: a documented limit.
        host = parts.netloc
        try:
            TrustDomain(host)
        except SpiffeIDError:
            raise X509SVIDError(
                f'no roots for peer trust domain "spiffe://{host}"', kind="no_bundle"
            ) from None
        raise X509SVIDError(f'invalid SPIFFE ID "{uri}": {exc}', kind="invalid_id") from None


def _leaf_identity(leaf: x509.Certificate, pre1: bool) -> SpiffeID:
    """The leaf's SPIFFE ID, after the checks go-spiffe makes before it looks at bundles."""
    if pre1:
        return _pre1_peer_id(leaf)
    try:
        spiffe_id = id_from_cert(leaf)
    except X509SVIDError as exc:
        raise X509SVIDError(
            f"x509svid: could not get leaf SPIFFE ID: {exc}", kind=exc.kind
        ) from None
    # go-spiffe v2 rejects CA leaves before looking at bundles; pre-1.0 never checked.
    leaf_error = _leaf_constraint_error(leaf)
    if leaf_error is not None:
        raise X509SVIDError(f"x509svid: {leaf_error}", kind="leaf_constraint")
    return spiffe_id


def verify(
    certificates: Sequence[x509.Certificate],
    source: BundleSource,
    *,
    at: datetime,
    style: VerifyStyle = VerifyStyle.V2,
    cache: VerificationCache | None = None,
) -> Verified:
    """Verify a peer's chain (leaf first) against ``source`` at instant ``at``.

    Raises :class:`X509SVIDError` with the exact text the chosen go-spiffe generation gives.
    """
    if at.tzinfo is None:
        raise ValueError("x509svid: the verification instant must be timezone-aware")
    pre1 = style is VerifyStyle.PRE1
    if not certificates:
        raise X509SVIDError(
            "no peer certificates" if pre1 else "x509svid: empty certificates chain",
            kind="no_certificates",
        )
    leaf = certificates[0]
    if cache is None:
        spiffe_id = _leaf_identity(leaf, pre1)
    else:
        # The leaf's identity checks do not depend on the instant: remember them per leaf.
        known = cache._ids.get((leaf, pre1))
        if known is None:
            try:
                known = _leaf_identity(leaf, pre1)
            except X509SVIDError as exc:
                known = exc
            cache._ids[(leaf, pre1)] = known
        if isinstance(known, X509SVIDError):
            raise X509SVIDError(str(known), kind=known.kind)
        spiffe_id = known
    td = spiffe_id.trust_domain
    bundle = source.get_bundle_for_trust_domain(td)
    if bundle is None:
        if pre1:
            text = f'no roots for peer trust domain "{td.id_string()}"'
        elif isinstance(source, Bundle):
            # A single x509bundle.Bundle as the source (bundle/x509bundle/bundle.go).
            text = (
                "x509svid: could not get X509 bundle: x509bundle: no X.509 bundle found for "
                f'trust domain: "{td}"'
            )
        else:
            # x509bundle.Set (bundle/x509bundle/set.go GetX509BundleForTrustDomain).
            text = (
                "x509svid: could not get X509 bundle: x509bundle: no X.509 bundle for trust "
                f'domain "{td}"'
            )
        raise X509SVIDError(text, kind="no_bundle")

    roots = bundle.x509_authorities
    intermediates = tuple(certificates[1:])
    involved = (*certificates, *roots)
    key: tuple | None = None
    outcome: Verified | _Failure | None = None
    if cache is not None:
        key = (
            # Certificates hash and compare by their DER, so the chain itself is the key.
            tuple(certificates),
            bundle.x509_fingerprint,
            _phase(_time_bounds(involved), at),
        )
        outcome = cache._memo.get(key)
        if outcome is None:
            cache.misses += 1
        else:
            cache.hits += 1
    if outcome is None:
        outcome = _verify_chain(spiffe_id, leaf, intermediates, roots, at)
        if cache is not None and key is not None:
            cache._memo[key] = outcome
    if isinstance(outcome, Verified):
        return outcome
    text = outcome.message(at, detail=not pre1)
    if not pre1:
        text = f"x509svid: could not verify leaf certificate: {text}"
    raise X509SVIDError(text, kind=outcome.kind)


def _verify_chain(
    spiffe_id: SpiffeID,
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
) -> Verified | _Failure:
    # Go checks the leaf's validity before building any chain.
    leaf_time = _time_failure(leaf, at)
    if leaf_time is not None:
        return leaf_time
    result = _crypto_verify(leaf, intermediates, roots, at)
    if not isinstance(result, str) and all(_time_failure(c, at) is None for c in result):
        return Verified(spiffe_id=spiffe_id, chain=result)
    # Only on failure: replay Go's path building for the text Go would print.
    go_failure = _go_chain_failure(leaf, intermediates, roots, at)
    if go_failure is not None:
        return go_failure
    # Go would accept a chain that RFC 5280 validation rejects: say what cryptography found, in
    # Go's error style, so the difference is visible rather than hidden.
    return _Failure("policy", f"x509: {result}")
