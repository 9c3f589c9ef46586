"""spire-sim: a discrete-event simulator of multi-trust-domain SPIRE federation.

The public surface is small; everything else is reachable through its module.

>>> from sim import SpiffeID
>>> str(SpiffeID.parse("spiffe://foo.example.com/http-server").trust_domain)
'foo.example.com'
"""

from sim.bundle import Bundle, BundleSet, JWTAuthority
from sim.spiffeid import SpiffeID, TrustDomain
from sim.x509svid import X509SVID, VerifyStyle

__version__ = "0.1.0"

__all__ = [
    "Bundle",
    "BundleSet",
    "JWTAuthority",
    "SpiffeID",
    "TrustDomain",
    "VerifyStyle",
    "X509SVID",
    "__version__",
]
