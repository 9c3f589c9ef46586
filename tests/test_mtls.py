"""Tests for sim.mtls: handshake verdicts between SPIFFE peers with both sides' error lines, as
ghostunnel v1.5.2 (go-spiffe pre-1.0, Go 1.13, TLS 1.3 by default) and go-spiffe v2 see them
(spire-facts 7.1, 7.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sim.bundle import BundleSet
from sim.mtls import (
    HandshakeVerdict,
    Peer,
    authorize_any,
    authorize_id,
    authorize_member_of,
    ghostunnel_acl,
    handshake,
)
from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import VerificationCache, VerifyStyle

PRE1, V2 = VerifyStyle.PRE1, VerifyStyle.V2
NOW = datetime(2019, 12, 17, 0, 0, 0, tzinfo=UTC)
FOO = TrustDomain("foo.example.com")
BAR = TrustDomain("bar.example.com")
SERVER_ID = SpiffeID.parse("spiffe://foo.example.com/http-server")
CLIENT_ID = SpiffeID.parse("spiffe://bar.example.com/client")

BAD_CERT = "remote error: tls: bad certificate"
UNAUTHORIZED = "unauthorized: invalid principal, or principal not allowed"
EXPIRED = "x509: certificate has expired or is not yet valid"


@pytest.fixture(scope="module")
def world(foo, bar, mint):
    """The seed's pair: foo's http-server behind a ghostunnel server, bar's client behind a
    ghostunnel client, both federated, for each CA kind."""
    out = {}
    for kind in ("self", "upstream"):
        out[kind] = {
            "server_svid": mint(foo.x509ca(kind), "/http-server"),
            "client_svid": mint(bar.x509ca(kind), "/client"),
            "both": BundleSet.of([foo.bundle(kind), bar.bundle(kind)]),
            "foo_only": BundleSet.of([foo.bundle(kind)]),
            "bar_only": BundleSet.of([bar.bundle(kind)]),
        }
    return out


def peers(
    world,
    kind="self",
    *,
    server_bundles="both",
    client_bundles="both",
    allow=(str(CLIENT_ID),),
    verify_uri=(str(SERVER_ID),),
    style=PRE1,
):
    w = world[kind]
    server = Peer(
        svid=w["server_svid"],
        bundles=w[server_bundles],
        authorizer=ghostunnel_acl(allow, server=True),
        style=style,
    )
    client = Peer(
        svid=w["client_svid"],
        bundles=w[client_bundles],
        authorizer=ghostunnel_acl(verify_uri, server=False),
        style=style,
    )
    return client, server


@pytest.mark.parametrize("style", [PRE1, V2])
@pytest.mark.parametrize("kind", ["self", "upstream"])
def test_federated_handshake_succeeds(world, kind, style):
    client, server = peers(world, kind, style=style)
    assert handshake(client, server, at=NOW) == HandshakeVerdict(
        ok=True, client_saw=SERVER_ID, server_saw=CLIENT_ID
    )


@pytest.mark.parametrize("kind", ["self", "upstream"])
def test_federated_handshake_succeeds_the_other_way(world, kind):
    # foo dials bar: swap the roles, each side still judges the other with its own TD's bundle.
    w = world[kind]
    client = Peer(svid=w["server_svid"], bundles=w["both"], authorizer=authorize_any())
    server = Peer(
        svid=w["client_svid"],
        bundles=w["both"],
        authorizer=ghostunnel_acl([str(SERVER_ID)], server=True),
    )
    v = handshake(client, server, at=NOW)
    assert (v.ok, v.client_saw, v.server_saw) == (True, CLIENT_ID, SERVER_ID)


@pytest.mark.parametrize(
    ("style", "client_error"),
    [
        (PRE1, 'no roots for peer trust domain "spiffe://foo.example.com"'),
        (
            V2,
            "x509svid: could not get X509 bundle: x509bundle: no X.509 bundle for trust "
            'domain "foo.example.com"',
        ),
    ],
)
def test_client_without_servers_bundle(world, style, client_error):
    # The seed's failure once the client's entry loses federatesWith foo.
    client, server = peers(world, client_bundles="bar_only", style=style)
    assert handshake(client, server, at=NOW) == HandshakeVerdict(
        ok=False,
        rejected_by="client",
        kind="no_bundle",
        client_handshake_error=client_error,
        server_handshake_error=BAD_CERT,
        client_read_error=None,
        client_saw=None,
        server_saw=None,
    )


@pytest.mark.parametrize("tls13", [True, False])
def test_server_without_clients_bundle(world, tls13):
    client, server = peers(world, server_bundles="foo_only")
    v = handshake(client, server, at=NOW, tls13=tls13)
    assert (v.ok, v.rejected_by, v.kind) == (False, "server", "no_bundle")
    assert v.server_handshake_error == 'no roots for peer trust domain "spiffe://bar.example.com"'
    assert v.client_handshake_error == (None if tls13 else BAD_CERT)
    assert v.client_read_error == (BAD_CERT if tls13 else None)
    assert v.client_saw == SERVER_ID


def test_client_judges_first(world):
    # Neither side has the other's bundle: the server's certificate is judged first.
    client, server = peers(world, server_bundles="foo_only", client_bundles="bar_only")
    v = handshake(client, server, at=NOW)
    assert (v.rejected_by, v.server_handshake_error) == ("client", BAD_CERT)
    assert v.client_handshake_error == 'no roots for peer trust domain "spiffe://foo.example.com"'


@pytest.mark.parametrize(
    ("tls13", "client_handshake_error", "client_read_error"),
    [(True, None, BAD_CERT), (False, BAD_CERT, None)],
)
def test_server_acl_rejects_client(world, tls13, client_handshake_error, client_read_error):
    client, server = peers(world, allow=("spiffe://bar.example.com/someone-else",))
    assert handshake(client, server, at=NOW, tls13=tls13) == HandshakeVerdict(
        ok=False,
        rejected_by="server",
        kind="unauthorized",
        client_handshake_error=client_handshake_error,
        server_handshake_error=UNAUTHORIZED,
        client_read_error=client_read_error,
        client_saw=SERVER_ID,
        server_saw=CLIENT_ID,
    )


def test_client_acl_rejects_server(world):
    client, server = peers(world, verify_uri=("spiffe://foo.example.com/not-this-one",))
    v = handshake(client, server, at=NOW)
    assert (v.rejected_by, v.kind) == ("client", "unauthorized")
    assert (v.client_handshake_error, v.server_handshake_error) == (UNAUTHORIZED, BAD_CERT)
    assert v.client_saw == SERVER_ID


@pytest.mark.parametrize(
    ("allowed", "server", "peer", "result"),
    [
        ((), True, CLIENT_ID, UNAUTHORIZED),  # --allow-uri none: deny all
        ((), True, SERVER_ID, UNAUTHORIZED),
        ((), False, CLIENT_ID, None),  # --verify-uri none: any valid SVID
        ((), False, SERVER_ID, None),
        ((str(CLIENT_ID),), True, CLIENT_ID, None),
        (
            (str(CLIENT_ID),),
            True,
            SpiffeID.parse("spiffe://bar.example.com/client/x"),
            UNAUTHORIZED,
        ),
        ((str(SERVER_ID),), False, SERVER_ID, None),
        ((str(SERVER_ID),), False, SpiffeID.parse("spiffe://foo.example.com/other"), UNAUTHORIZED),
        ((str(SERVER_ID), str(CLIENT_ID)), True, CLIENT_ID, None),
    ],
)
def test_ghostunnel_acl(allowed, server, peer, result):
    assert ghostunnel_acl(allowed, server=server)(peer) == result


def test_empty_server_acl_denies_in_a_handshake(world):
    client, server = peers(world, allow=())
    v = handshake(client, server, at=NOW)
    assert (v.rejected_by, v.server_handshake_error) == ("server", UNAUTHORIZED)


def test_empty_client_acl_accepts_any_server(world):
    client, server = peers(world, verify_uri=())
    assert handshake(client, server, at=NOW).ok


@pytest.mark.parametrize(
    ("authorizer", "peer", "result"),
    [
        (authorize_any(), CLIENT_ID, None),
        (authorize_id(CLIENT_ID), CLIENT_ID, None),
        (
            authorize_id(CLIENT_ID),
            SERVER_ID,
            'unexpected ID "spiffe://foo.example.com/http-server"',
        ),
        (authorize_member_of(BAR), CLIENT_ID, None),
        (authorize_member_of(BAR), SERVER_ID, 'unexpected trust domain "foo.example.com"'),
        (
            authorize_member_of(FOO),
            SpiffeID.parse("spiffe://bar.example.com/x/y"),
            'unexpected trust domain "bar.example.com"',
        ),
    ],
)
def test_go_spiffe_authorizers(authorizer, peer, result):
    assert authorizer(peer) == result


def test_authorizer_text_reaches_the_handshake(world):
    w = world["self"]
    server = Peer(
        svid=w["server_svid"], bundles=w["both"], authorizer=authorize_member_of(FOO), style=V2
    )
    client = Peer(svid=w["client_svid"], bundles=w["both"], authorizer=authorize_any(), style=V2)
    v = handshake(client, server, at=NOW)
    assert v.server_handshake_error == 'unexpected trust domain "bar.example.com"'
    assert v.client_read_error == BAD_CERT


# -- clocks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "server_error"),
    [
        (PRE1, EXPIRED),
        (
            V2,
            "x509svid: could not verify leaf certificate: "
            + EXPIRED
            + ": current time 2019-12-17T03:00:00Z is after 2019-12-17T01:00:00Z",
        ),
    ],
)
def test_server_clock_far_ahead_rejects_a_valid_client(world, style, server_error):
    client, server = peers(world, style=style)
    at = NOW + timedelta(minutes=30)
    assert handshake(client, server, at=at).ok
    v = handshake(client, server, at=at, server_clock=NOW + timedelta(hours=3))
    assert (v.ok, v.rejected_by, v.kind) == (False, "server", "expired")
    assert v.server_handshake_error == server_error
    assert (v.client_handshake_error, v.client_read_error) == (None, BAD_CERT)


@pytest.mark.parametrize(
    ("style", "client_error"),
    [
        (PRE1, EXPIRED),
        (
            V2,
            "x509svid: could not verify leaf certificate: "
            + EXPIRED
            + ": current time 2019-12-16T23:00:00Z is before 2019-12-16T23:59:50Z",
        ),
    ],
)
def test_client_clock_behind_rejects_a_fresh_server(world, style, client_error):
    client, server = peers(world, style=style)
    v = handshake(client, server, at=NOW, client_clock=NOW - timedelta(hours=1))
    assert (v.rejected_by, v.kind) == ("client", "expired")
    assert (v.client_handshake_error, v.server_handshake_error) == (client_error, BAD_CERT)


def test_small_skew_is_absorbed_by_the_not_before_cushion(world):
    # SPIRE backdates notBefore by 10 s, so a peer whose clock is 9 s behind accepts a fresh cert.
    client, server = peers(world)
    assert handshake(client, server, at=NOW, client_clock=NOW - timedelta(seconds=9)).ok
    v = handshake(client, server, at=NOW, client_clock=NOW - timedelta(seconds=11))
    assert v.client_handshake_error == EXPIRED


def test_handshake_with_a_shared_cache(world):
    cache = VerificationCache()
    client, server = peers(world, "upstream")
    first = handshake(client, server, at=NOW, cache=cache)
    second = handshake(client, server, at=NOW + timedelta(minutes=1), cache=cache)
    assert first == second == handshake(client, server, at=NOW)
    assert (cache.hits, cache.misses) == (2, 2)
    late = handshake(client, server, at=NOW + timedelta(hours=2), cache=cache)
    assert late.client_handshake_error == EXPIRED
    assert (cache.hits, cache.misses) == (2, 3)
