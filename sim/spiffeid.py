"""A SPIFFE ID names a workload as ``spiffe://<trust domain><path>``, and its trust domain names
the authority (and bundle) that vouches for it.

Parsing follows go-spiffe v2's ``spiffeid`` package rule for rule and error text for error text,
and adds the length limits of SPIFFE-ID.md section 2.3, so an instance that exists is valid.

>>> sid = SpiffeID.parse("spiffe://foo.example.com/http-server")
>>> str(sid.trust_domain), sid.path
('foo.example.com', '/http-server')
>>> sid.member_of(TrustDomain.parse("spiffe://foo.example.com"))
True
>>> print(SpiffeID.from_path(TrustDomain("bar.example.com"), "/db"))
spiffe://bar.example.com/db
>>> try:
...     SpiffeID.parse("spiffe://foo.example.com/a/../b")
... except SpiffeIDError as exc:
...     print(exc)
path cannot contain dot segments
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SpiffeID", "SpiffeIDError", "TrustDomain"]

_SCHEME_PREFIX = "spiffe://"

# Error texts are go-spiffe v2's, verbatim (go-spiffe v2.8.1, spiffeid/errors.go), so that
# modules wrapping them print what a real go-spiffe peer would.
_ERR_BAD_TRUST_DOMAIN_CHAR = (
    "trust domain characters are limited to lowercase letters, numbers, dots, dashes, "
    "and underscores"
)
_ERR_BAD_PATH_SEGMENT_CHAR = (
    "path segment characters are limited to letters, numbers, dots, dashes, and underscores"
)
_ERR_DOT_SEGMENT = "path cannot contain dot segments"
_ERR_NO_LEADING_SLASH = "path must have a leading slash"
_ERR_EMPTY = "cannot be empty"
_ERR_EMPTY_SEGMENT = "path cannot contain empty segments"
_ERR_MISSING_TRUST_DOMAIN = "trust domain is missing"
_ERR_TRAILING_SLASH = "path cannot have a trailing slash"
_ERR_WRONG_SCHEME = "scheme is missing or invalid"

# The limits are from SPIFFE-ID.md section 2.3 ("Maximum SPIFFE ID Length"); go-spiffe does not
# enforce them, so the texts below are ours, written in go-spiffe's style. The spec only says
# implementations MUST accept up to 2048 bytes and SHOULD NOT generate more; rejecting longer
# IDs keeps the simulator from ever minting one.
_MAX_TRUST_DOMAIN_BYTES = 255
_MAX_ID_BYTES = 2048

# Explicit ASCII sets rather than str.isalnum(), which would let non-ASCII letters through. The
# trust domain set is go-spiffe's default build (spiffeid/trustdomain.go, isValidTrustDomainChar;
# the spiffeid_charset_backcompat build tag is not modelled).
_TRUST_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_")
# spiffeid/path.go, isValidPathSegmentChar (default build): the trust domain set plus uppercase.
_PATH_SEGMENT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ") | _TRUST_DOMAIN_CHARS


class SpiffeIDError(ValueError):
    """An invalid SPIFFE ID, trust domain or path; ``str(exc)`` is the bare go-spiffe text."""


def _check_trust_domain_chars(name: str) -> None:
    # Every character outside the set is rejected, so ':' (port), '@' (userinfo), '?' (query),
    # '#' (fragment), '%' (percent-encoding) and non-ASCII all get go-spiffe's charset error.
    if not _TRUST_DOMAIN_CHARS.issuperset(name):
        raise SpiffeIDError(_ERR_BAD_TRUST_DOMAIN_CHAR)


def _check_trust_domain_length(name: str) -> None:
    # Only called on names that passed the charset check, so characters are bytes.
    if len(name) > _MAX_TRUST_DOMAIN_BYTES:
        raise SpiffeIDError(
            f"trust domain is too long: {len(name)} bytes, the limit is {_MAX_TRUST_DOMAIN_BYTES}"
        )


def _check_path(path: str) -> None:
    """Validate ``path`` the way go-spiffe's ``ValidatePath`` does (spiffeid/path.go).

    go-spiffe scans left to right and reports the first problem it meets. Within one segment a
    charset error and an empty/dot error cannot both occur, so checking segment by segment, in
    order, yields the same error as its byte scan.
    """
    if path == "":
        return
    if path[0] != "/":
        raise SpiffeIDError(_ERR_NO_LEADING_SLASH)
    segments = path[1:].split("/")
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == "":
            raise SpiffeIDError(_ERR_TRAILING_SLASH if index == last else _ERR_EMPTY_SEGMENT)
        if segment in (".", ".."):
            raise SpiffeIDError(_ERR_DOT_SEGMENT)
        if not _PATH_SEGMENT_CHARS.issuperset(segment):
            raise SpiffeIDError(_ERR_BAD_PATH_SEGMENT_CHAR)


def _require_str(value: object, what: str) -> None:
    # A wrong type is a programming error, not bad input, hence TypeError, not SpiffeIDError.
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")


@dataclass(frozen=True, slots=True, order=True)
class TrustDomain:
    """The trust domain part of a SPIFFE ID, e.g. ``foo.example.com`` (go-spiffe ``TrustDomain``).

    The constructor takes a bare name; ``parse`` also accepts a SPIFFE ID.
    """

    name: str

    def __post_init__(self) -> None:
        _require_str(self.name, "trust domain name")
        if self.name == "":
            raise SpiffeIDError(_ERR_MISSING_TRUST_DOMAIN)
        _check_trust_domain_chars(self.name)
        _check_trust_domain_length(self.name)

    @classmethod
    def parse(cls, text: str) -> TrustDomain:
        """Parse a trust domain name or a SPIFFE ID (go-spiffe ``TrustDomainFromString``).

        >>> TrustDomain.parse("spiffe://foo.example.com/web") == TrustDomain("foo.example.com")
        True
        """
        _require_str(text, "trust domain")
        if text == "":
            raise SpiffeIDError(_ERR_MISSING_TRUST_DOMAIN)
        # go-spiffe (spiffeid/trustdomain.go) looks for ":/" rather than "://" so that a typo such
        # as "spiffe:/foo" is reported as a bad scheme rather than as a bad character.
        if ":/" in text:
            return SpiffeID.parse(text).trust_domain
        return cls(text)

    def id_string(self) -> str:
        """The SPIFFE ID of the trust domain itself, e.g. ``spiffe://foo.example.com``."""
        return _SCHEME_PREFIX + self.name

    def id(self) -> SpiffeID:
        """The SPIFFE ID of the trust domain itself (no path), as a signing authority carries."""
        return SpiffeID(self, "")

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True, order=True)
class SpiffeID:
    """A SPIFFE ID: a trust domain and a path that is ``""`` or ``/seg/seg``.

    Ordering is field-wise (trust domain name, then path): total, deterministic and consistent
    with equality, though not always the order of the string forms.
    """

    trust_domain: TrustDomain
    path: str

    def __post_init__(self) -> None:
        if not isinstance(self.trust_domain, TrustDomain):
            raise TypeError(
                f"trust_domain must be a TrustDomain, not {type(self.trust_domain).__name__}"
            )
        _require_str(self.path, "path")
        _check_path(self.path)
        # Only ASCII survives the checks above, so len() counts bytes.
        size = len(_SCHEME_PREFIX) + len(self.trust_domain.name) + len(self.path)
        if size > _MAX_ID_BYTES:
            # Ours, not go-spiffe's: SPIFFE-ID.md section 2.3.
            raise SpiffeIDError(
                f"SPIFFE ID is too long: {size} bytes, the limit is {_MAX_ID_BYTES}"
            )

    @classmethod
    def parse(cls, text: str) -> SpiffeID:
        """Parse ``spiffe://<trust domain><path>`` (go-spiffe ``FromString``, spiffeid/id.go).

        Checks run in go-spiffe's order (empty, scheme, trust domain characters, missing trust
        domain, path); our length limits come last so that whenever go-spiffe rejects an input we
        give its reason.
        """
        _require_str(text, "SPIFFE ID")
        if text == "":
            raise SpiffeIDError(_ERR_EMPTY)
        # Case-sensitive on purpose: go-spiffe rejects "SPIFFE://" and "Spiffe://".
        if not text.startswith(_SCHEME_PREFIX):
            raise SpiffeIDError(_ERR_WRONG_SCHEME)
        rest = text[len(_SCHEME_PREFIX) :]
        slash = rest.find("/")
        name, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        _check_trust_domain_chars(name)
        if name == "":
            raise SpiffeIDError(_ERR_MISSING_TRUST_DOMAIN)
        _check_path(path)
        return cls(TrustDomain(name), path)

    @classmethod
    def from_path(cls, td: TrustDomain, path: str) -> SpiffeID:
        """The SPIFFE ID with ``path`` in ``td`` (go-spiffe ``FromPath``); ``path`` is validated.

        >>> print(SpiffeID.from_path(TrustDomain("foo.example.com"), "/ns/prod/sa/web"))
        spiffe://foo.example.com/ns/prod/sa/web
        """
        return cls(td, path)

    def member_of(self, td: TrustDomain) -> bool:
        """Whether this ID belongs to ``td`` (go-spiffe ``ID.MemberOf``)."""
        return self.trust_domain == td

    def __str__(self) -> str:
        return _SCHEME_PREFIX + self.trust_domain.name + self.path
