"""SPIFFE federation between SPIRE servers: the bundle client that polls a peer's bundle
endpoint over the network, authenticates it with the stored copy of the peer's bundle
(https_spiffe), stores what it fetched and schedules the next poll.

Strings and timing: spire@v0.9.2 and spire@HEAD pkg/server/bundle/client/manager.go
(`Bundle refreshed`, `Scheduling next bundle refresh` with `at=`, `Error updating bundle`),
next poll = refresh hint / 4 with the hint floored at 1 minute, 1 minute when no local copy
exists (spire-facts 5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import simpy

from sim.bundle import Bundle, BundleError
from sim.clock import Clock
from sim.eventlog import Logger
from sim.history import FetchAttempt
from sim.mtls import authorize_id
from sim.network import Connection, DialError
from sim.server import SpireServer
from sim.spiffeid import SpiffeID, TrustDomain
from sim.webpki import WebPKIError, verify_server
from sim.x509svid import VerificationCache, VerifyStyle, X509SVIDError, verify

__all__ = ["BundleClient", "Relationship", "next_refresh_in"]

MINIMUM_REFRESH_HINT = 60.0  # bundleutil.MinimumRefreshHint
ATTEMPTS_PER_REFRESH_HINT = 4  # client/manager.go attemptsPerRefreshHint
REFRESH_HINT_LEEWAY_FACTOR = 10  # bundleutil.refreshHintLeewayFactor


@dataclass(frozen=True, slots=True)
class Relationship:
    """`federates_with "<td>" { bundle_endpoint_url, bundle_endpoint_profile ... }`: with
    ``https_spiffe`` the endpoint must present ``endpoint_spiffe_id``'s SVID; with ``https_web``
    a certificate for ``address`` from the server's system roots."""

    trust_domain: TrustDomain
    address: str
    port: int
    endpoint_spiffe_id: SpiffeID | None
    profile: str = "https_spiffe"


def calculate_refresh_hint(bundle: Bundle) -> float:
    """bundleutil.CalculateRefreshHint: the stored hint, else min root lifetime / 10; >= 1m."""
    hint = float(bundle.refresh_hint or 0)
    if hint <= 0 and bundle.x509_authorities:
        hint = (
            min(
                (c.not_valid_after_utc - c.not_valid_before_utc).total_seconds()
                for c in bundle.x509_authorities
            )
            / REFRESH_HINT_LEEWAY_FACTOR
        )
    return max(hint, MINIMUM_REFRESH_HINT)


def next_refresh_in(bundle: Bundle | None) -> float:
    """Seconds until the next poll given the bundle the decision is based on."""
    if bundle is None:
        return MINIMUM_REFRESH_HINT
    return calculate_refresh_hint(bundle) / ATTEMPTS_PER_REFRESH_HINT


def _proto_equal(a: Bundle, b: Bundle) -> bool:
    # <= v1.6.3 compared the stored proto (roots, JWT keys, refresh hint, sequence).
    return (
        a.same_authorities(b)
        and (a.refresh_hint or 0) == (b.refresh_hint or 0)
        and (a.sequence_number or 0) == (b.sequence_number or 0)
    )


@dataclass
class BundleClient:
    """One relationship's poller on a server. ``dial`` opens a connection from the server pod;
    ``endpoint_at`` finds the server whose bundle endpoint accepted a connection."""

    env: simpy.Environment
    server: SpireServer
    relationship: Relationship
    dial: Callable[[str, int], Connection | DialError]
    endpoint_at: Callable[[Connection], SpireServer | None]
    clock: Clock
    log: Logger
    cache: VerificationCache
    failures: int = 0
    last_error: str | None = None
    last_refresh: float | None = None  # sim time of the last "Bundle refreshed"
    last_success: float | None = None  # sim time of the last successful fetch
    next_poll: float | None = None

    @property
    def legacy(self) -> bool:
        return self.server.config.legacy

    def _url(self) -> str:
        url = f"https://{self.relationship.address}:{self.relationship.port}"
        # Go 1.14 started quoting the URL in url.Error; SPIRE 0.9 was built with Go 1.13.
        return url if self.legacy else f'"{url}"'

    def _fail(self, text: str) -> None:
        self.failures += 1
        self.last_error = text
        self.log.error(
            self.env.now,
            "Error updating bundle",
            error=text,
            subsystem_name="bundle_client",
            trust_domain=self.relationship.trust_domain.name,
        )

    def _fetch_error(self, cause: str) -> str:
        prefix = (
            "failed to fetch endpoint bundle: failed to fetch bundle"
            if self.legacy
            else "failed to fetch federated bundle from endpoint: failed to fetch bundle"
        )
        return f"{prefix}: Get {self._url()}: {cause}"

    def _check_spiffe(self, certs, bundle: Bundle, at) -> str | None:  # noqa: ANN001
        """SPIFFE authentication (client.go NewClient: the local copy of the endpoint's trust
        domain's bundle as roots, tlsconfig.AuthorizeID(endpoint_spiffe_id))."""
        style = VerifyStyle.PRE1 if self.legacy else VerifyStyle.V2
        try:
            verified = verify(certs, bundle, at=at, style=style, cache=self.cache)
        except X509SVIDError as exc:
            return self._fetch_error(str(exc))
        assert self.relationship.endpoint_spiffe_id is not None
        denial = authorize_id(self.relationship.endpoint_spiffe_id)(verified.spiffe_id)
        return None if denial is None else self._fetch_error(denial)

    def _check_web(self, certs, at) -> str | None:  # noqa: ANN001
        """Web PKI: Go's default TLS verification against the system roots with a hostname
        check. Go 1.20+ wraps it as `tls: failed to verify certificate: ...`; a hostname error
        on a certificate carrying a SPIFFE ID gets SPIRE's hint (client.go FetchBundle)."""
        try:
            verify_server(
                certs, self.server.config.web_roots, hostname=self.relationship.address, at=at
            )
        except WebPKIError as exc:
            cause = f"Get {self._url()}: tls: failed to verify certificate: {exc}"
            prefix = "failed to fetch federated bundle from endpoint"
            if exc.kind == "hostname" and exc.spiffe_id is not None:
                return (
                    f"{prefix}: failed to authenticate bundle endpoint using web authentication "
                    f'but the server certificate contains SPIFFE ID "{exc.spiffe_id}": maybe use '
                    f"https_spiffe instead of https_web: {cause}"
                )
            return f"{prefix}: failed to fetch bundle: {cause}"
        return None

    def _update(self) -> float:
        """One poll; returns the seconds until the next one."""
        td = self.relationship.trust_domain
        self.log.debug(
            self.env.now,
            "Polling for bundle update",
            subsystem_name="bundle_client",
            trust_domain=td.name,
        )
        local = self.server.federated.get(td)
        stored, error = self._update_bundle()
        if error is not None:
            self._fail(error)
            return next_refresh_in(local)
        if stored is None:
            return next_refresh_in(local)
        self.last_refresh = self.env.now
        self.log.info(
            self.env.now, "Bundle refreshed", subsystem_name="bundle_client", trust_domain=td.name
        )
        return next_refresh_in(stored)

    def refresh_now(self) -> str | None:
        """`spire-server federation refresh`: the manager's RefreshBundleFor runs the updater
        once, outside the polling loop: no poll lines, no "Bundle refreshed", the next poll
        stays scheduled (spire@HEAD pkg/server/bundle/client/manager.go RefreshBundleFor).
        Returns the error text, or None."""
        stored, error = self._update_bundle(cause="federation_refresh")
        if error is not None:
            self.failures += 1
            self.last_error = error
        elif stored is not None:
            self.last_refresh = self.env.now
        self._record_poll(self.next_poll if self.next_poll is not None else self.env.now)
        return error

    def _record_poll(self, next_poll: float) -> None:
        self.server.history.fetches.append(
            FetchAttempt(
                self.env.now,
                self.server.trust_domain.name,
                self.relationship.trust_domain.name,
                self.last_error is None,
                self.last_error or "",
                next_poll,
            )
        )

    def _update_bundle(self, cause: str = "bundle_client") -> tuple[Bundle | None, str | None]:
        """updater.go UpdateBundle: fetch and authenticate the peer's bundle and store it when
        it changed. Returns (the stored endpoint bundle or None, the error text or None)."""
        td = self.relationship.trust_domain
        local = self.server.federated.get(td)
        web = self.relationship.profile == "https_web"
        auth_bundle = None
        if not web:
            assert self.relationship.endpoint_spiffe_id is not None
            auth_bundle = self.server.bundle_for(self.relationship.endpoint_spiffe_id.trust_domain)
            if auth_bundle is None:
                return None, (
                    "local bundle not found"
                    if self.legacy
                    else "can't perform SPIFFE Authentication: local copy of bundle not found"
                )
        conn = self.dial(self.relationship.address, self.relationship.port)
        if isinstance(conn, DialError):
            return None, self._fetch_error(conn.text)
        peer = self.endpoint_at(conn)
        if peer is None or peer.svid is None or peer.bundle is None:
            return None, self._fetch_error(
                f"dial tcp {conn.remote_addr}: connect: connection refused"
            )
        at = self.clock.to_datetime(self.env.now)
        if web:
            failure = self._check_web(peer.endpoint_certificates(), at)
        else:
            assert auth_bundle is not None
            failure = self._check_spiffe(peer.endpoint_certificates(), auth_bundle, at)
        if failure is not None:
            return None, failure
        document = peer.served_document()
        memo = getattr(self, "_parsed_memo", None)
        if memo is not None and memo[0] == document:
            fetched = memo[1]  # the same bytes as last time parse to the same bundle
        else:
            try:
                fetched = Bundle.from_jwks(td, document)
            except BundleError as exc:
                return None, self._fetch_error(str(exc))
            self._parsed_memo = (document, fetched)
        self.last_error = None
        self.last_success = self.env.now
        every_poll = self.server.config.profile.refresh_every_poll
        if not every_poll and local is not None and _proto_equal(local, fetched):
            return None, None
        if every_poll:
            # >= v1.6.4: Decode drops the sequence, so every poll stores and logs (spire-facts 5.1).
            fetched = fetched.with_sequence_number(None)
        self.server.set_federated_bundle(fetched, cause=cause)
        return fetched, None

    def run(self):  # noqa: ANN201 - a SimPy process
        epoch = self.server.epoch  # a stopped server's poller ends; its next start polls anew
        while self.server.epoch == epoch and self.server.running:
            wait = self._update()
            self.next_poll = self.env.now + wait
            self._record_poll(self.next_poll)
            self.log.debug(
                self.env.now,
                "Scheduling next bundle refresh",
                at=self.clock.rfc3339(self.env.now + wait),
                subsystem_name="bundle_client",
                trust_domain=self.relationship.trust_domain.name,
            )
            yield self.env.timeout(wait)
