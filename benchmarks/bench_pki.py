"""Cost of minting one X509-SVID and of one chain verification, next to the raw cryptography cost
of the same operations (the floor). Prints medians of several repeats.

    python benchmarks/bench_pki.py [--repeat 7] [--number 200]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import timeit
from datetime import UTC, datetime, timedelta

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sim import ca, rng
from sim.bundle import Bundle, BundleSet
from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import VerificationCache, verify

NOW = datetime(2019, 12, 17, tzinfo=UTC)


def median_us(fn, *, repeat: int, number: int) -> float:
    runs = timeit.repeat(fn, repeat=repeat, number=number)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--number", type=int, default=200)
    args = ap.parse_args()
    kw = {"repeat": args.repeat, "number": args.number}

    foo = TrustDomain.parse("foo.example.com")
    r = rng.stream(1, "bench")
    upstream = ca.UpstreamAuthority.generate("foo root", now=NOW, rng=r)
    spire_ca = ca.upstream_sign_x509_ca(upstream, trust_domain=foo, ttl=43200, now=NOW, rng=r)
    sid = SpiffeID.parse("spiffe://foo.example.com/http-server")
    dns = ["http-server", "http-server.foo.svc.cluster.local"]
    svid = ca.mint_x509_svid(
        spire_ca,
        spiffe_id=sid,
        private_key=ca.new_ec_key(r),
        ttl=3600,
        now=NOW,
        rng=r,
        dns_names=dns,
    )
    bundles = BundleSet.of([Bundle(foo, spire_ca.roots)])
    at = NOW + timedelta(minutes=5)

    # Raw floor: the same key derivation, a minimal leaf build+sign, and the two signature checks
    # a leaf -> intermediate -> root verification needs.
    raw_ca_key = spire_ca.private_key
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIRE")])

    def raw_mint() -> None:
        key = ec.derive_private_key(r.randrange(1, 2**255), ec.SECP256R1())
        (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(spire_ca.certificate.subject)
            .public_key(key.public_key())
            .serial_number(r.randrange(1, 2**128))
            .not_valid_before(NOW)
            .not_valid_after(NOW + timedelta(hours=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(sid))]),
                critical=False,
            )
            .sign(raw_ca_key, hashes.SHA256(), ecdsa_deterministic=True)
        )

    def raw_verify() -> None:
        svid.leaf.verify_directly_issued_by(spire_ca.certificate)
        spire_ca.certificate.verify_directly_issued_by(upstream.certificate)

    def sim_mint() -> None:
        ca.mint_x509_svid(
            spire_ca,
            spiffe_id=sid,
            private_key=ca.new_ec_key(r),
            ttl=3600,
            now=NOW,
            rng=r,
            dns_names=dns,
        )

    def sim_verify() -> None:
        verify(svid.certificates, bundles, at=at)

    cache = VerificationCache()
    verify(svid.certificates, bundles, at=at, cache=cache)

    def sim_verify_memo() -> None:
        verify(svid.certificates, bundles, at=at, cache=cache)

    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"cryptography {cryptography.__version__}, {platform.machine()}; "
        f"median of {args.repeat} x {args.number}"
    )
    rows = [
        ("mint X509-SVID (key + leaf, spire-sim)", median_us(sim_mint, **kw)),
        ("  raw cryptography: derive key + build/sign leaf", median_us(raw_mint, **kw)),
        ("verify chain leaf->CA->root (spire-sim, uncached)", median_us(sim_verify, **kw)),
        ("  raw cryptography: 2 signature checks", median_us(raw_verify, **kw)),
        ("verify chain (spire-sim, memoized verdict)", median_us(sim_verify_memo, **kw)),
    ]
    for label, us in rows:
        print(f"{label:<55} {us:9.1f} us")


if __name__ == "__main__":
    main()
