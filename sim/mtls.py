"""A mutual-TLS handshake verdict between two SPIFFE peers at a simulated instant, with what each
side's TLS stack reports, the way Go's crypto/tls and ghostunnel see it.

The client verifies the server's chain first (the server's Certificate message comes first);
a rejection makes Go send a ``bad_certificate`` alert, so the other side reads
``remote error: tls: bad certificate`` (spire-facts 7.1). When the *server* rejects the client
under TLS 1.3, the client's handshake has already completed (the client speaks last), so the
client only meets the alert on its first read; under TLS 1.2 its handshake fails.

>>> from datetime import datetime, timezone
>>> from sim import ca, rng
>>> from sim.bundle import Bundle, BundleSet
>>> from sim.spiffeid import SpiffeID, TrustDomain
>>> now = datetime(2019, 12, 17, 5, 26, 35, tzinfo=timezone.utc)
>>> r = rng.stream(1, "doc")
>>> foo, bar = TrustDomain.parse("foo.example.com"), TrustDomain.parse("bar.example.com")
>>> cas = {td: ca.self_sign_x509_ca(trust_domain=td, ttl=86400, now=now, rng=r)
...        for td in (foo, bar)}
>>> def svid(td, path):
...     return ca.mint_x509_svid(cas[td], spiffe_id=SpiffeID.from_path(td, path),
...                              private_key=ca.new_ec_key(r), ttl=3600, now=now, rng=r)
>>> server = Peer(svid=svid(foo, "/http-server"),
...               bundles=BundleSet.of([Bundle(foo, cas[foo].roots), Bundle(bar, cas[bar].roots)]),
...               authorizer=ghostunnel_acl(["spiffe://bar.example.com/client"], server=True))
>>> client = Peer(svid=svid(bar, "/client"), bundles=BundleSet.of([Bundle(bar, cas[bar].roots)]),
...               authorizer=ghostunnel_acl(["spiffe://foo.example.com/http-server"], server=False),
...               style=VerifyStyle.PRE1)
>>> v = handshake(client, server, at=now)
>>> v.client_handshake_error
'no roots for peer trust domain "spiffe://foo.example.com"'
>>> v.server_handshake_error
'remote error: tls: bad certificate'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sim.bundle import BundleSource
from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import X509SVID, VerificationCache, VerifyStyle, X509SVIDError, verify

__all__ = [
    "Authorizer",
    "HandshakeVerdict",
    "Peer",
    "VerifyStyle",
    "authorize_any",
    "authorize_id",
    "authorize_member_of",
    "ghostunnel_acl",
    "handshake",
]

# What Go's crypto/tls reports on the side that receives a bad_certificate alert
# (crypto/tls alert.go: "remote error: tls: " + alert text).
REMOTE_BAD_CERTIFICATE = "remote error: tls: bad certificate"
# ghostunnel auth/auth.go (v1.5.2 and HEAD): the ACL's only rejection text.
GHOSTUNNEL_UNAUTHORIZED = "unauthorized: invalid principal, or principal not allowed"

Authorizer = Callable[[SpiffeID], str | None]
"""Given the verified peer ID, return None to accept or the rejection text."""


def authorize_any() -> Authorizer:
    """go-spiffe v2 tlsconfig.AuthorizeAny."""
    return lambda _peer: None


def authorize_id(expected: SpiffeID) -> Authorizer:
    """go-spiffe v2 tlsconfig.AuthorizeID: `unexpected ID %q`."""
    return lambda peer: None if peer == expected else f'unexpected ID "{peer}"'


def authorize_member_of(td: TrustDomain) -> Authorizer:
    """go-spiffe v2 tlsconfig.AuthorizeMemberOf: `unexpected trust domain %q`."""
    return lambda peer: (
        None if peer.member_of(td) else f'unexpected trust domain "{peer.trust_domain}"'
    )


def ghostunnel_acl(allowed_uris: Iterable[str], *, server: bool) -> Authorizer:
    """ghostunnel's URI ACL (auth/auth.go): `--allow-uri` on a server, `--verify-uri` on a client.

    An empty server ACL denies everyone; an empty client ACL accepts any verified peer.
    """
    allowed = frozenset(allowed_uris)
    if not allowed and not server:
        return authorize_any()

    def check(peer: SpiffeID) -> str | None:
        return None if str(peer) in allowed else GHOSTUNNEL_UNAUTHORIZED

    return check


@dataclass(frozen=True, slots=True)
class Peer:
    """One side at the moment of a handshake: the SVID it presents, the bundles it trusts, who it
    accepts, and which go-spiffe generation judges (its error texts)."""

    svid: X509SVID
    bundles: BundleSource
    authorizer: Authorizer
    style: VerifyStyle = VerifyStyle.V2


@dataclass(frozen=True, slots=True)
class HandshakeVerdict:
    """The outcome, with each side's errors where its code meets them.

    ``*_handshake_error`` is what ``tls.Conn.Handshake`` returns on that side (ghostunnel:
    `error on dial: ...` on a client, `error on TLS handshake from ...: ...` on a server);
    ``client_read_error`` is what the client meets on its first read when the server rejected
    it after a TLS 1.3 handshake had completed on the client (`error during copy: ...`).
    ``rejected_by`` is "client", "server" or None; ``kind`` names the cause for metrics.
    """

    ok: bool
    rejected_by: str | None = None
    kind: str = "ok"
    client_handshake_error: str | None = None
    server_handshake_error: str | None = None
    client_read_error: str | None = None
    client_saw: SpiffeID | None = None
    server_saw: SpiffeID | None = None


def _judge(
    judge: Peer, presented: X509SVID, at: datetime, cache: VerificationCache | None
) -> tuple[SpiffeID | None, str | None, str]:
    try:
        verified = verify(
            presented.certificates, judge.bundles, at=at, style=judge.style, cache=cache
        )
    except X509SVIDError as exc:
        return None, str(exc), exc.kind
    denial = judge.authorizer(verified.spiffe_id)
    if denial is not None:
        return verified.spiffe_id, denial, "unauthorized"
    return verified.spiffe_id, None, "ok"


def handshake(
    client: Peer,
    server: Peer,
    *,
    at: datetime,
    client_clock: datetime | None = None,
    server_clock: datetime | None = None,
    tls13: bool = True,
    cache: VerificationCache | None = None,
) -> HandshakeVerdict:
    """Judge an mTLS handshake at instant ``at``.

    Each side checks validity by its own clock (``client_clock`` / ``server_clock``, default
    ``at``), which is how node clock skew bites. Go 1.13+ negotiates TLS 1.3 by default; pass
    ``tls13=False`` for a peer pinned to TLS 1.2.
    """
    client_now = client_clock or at
    server_now = server_clock or at
    server_id, client_err, client_kind = _judge(client, server.svid, client_now, cache)
    if client_err is not None:
        return HandshakeVerdict(
            ok=False,
            rejected_by="client",
            kind=client_kind,
            client_handshake_error=client_err,
            server_handshake_error=REMOTE_BAD_CERTIFICATE,
            client_saw=server_id,
        )
    client_id, server_err, server_kind = _judge(server, client.svid, server_now, cache)
    if server_err is not None:
        return HandshakeVerdict(
            ok=False,
            rejected_by="server",
            kind=server_kind,
            client_handshake_error=None if tls13 else REMOTE_BAD_CERTIFICATE,
            server_handshake_error=server_err,
            client_read_error=REMOTE_BAD_CERTIFICATE if tls13 else None,
            client_saw=server_id,
            server_saw=client_id,
        )
    return HandshakeVerdict(ok=True, client_saw=server_id, server_saw=client_id)
