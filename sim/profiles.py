"""A SPIRE version profile: the behaviours and message texts that changed between releases,
chosen once per scenario (``profile: {spire: "0.9"}``) instead of by scattered flags.

Each field cites where the difference comes from (spire-facts.md, and the SPIRE source).

>>> spire_profile("0.9").emits_sequence, spire_profile("1.x").emits_sequence
(False, True)
>>> spire_profile("1.9").refresh_hint
'configured'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SPIRE_VERSIONS", "SpireProfile", "spire_profile"]


@dataclass(frozen=True, slots=True)
class SpireProfile:
    """What one SPIRE release line does differently."""

    version: str
    # 0.x: lowercase/older log texts, `upstream_bundle`, v0.9.2 log fields, go-spiffe pre-1.0
    # in the bundle client, Go 1.13 (unquoted URLs in url.Error).
    legacy: bool
    # `spiffe_sequence` in the served document: from v1.7.2 (PR #4389; spire-facts 4).
    emits_sequence: bool
    # The served refresh hint: "computed" = min root lifetime / 10 (<= v1.7);
    # "computed_warn" = v1.8 (configurable; unset warns and computes);
    # "configured" = v1.9+ (configured, default 5m; spire-facts 4).
    refresh_hint: Literal["computed", "computed_warn", "configured"]
    # X509-SVID rotation at a jittered half-life (45-55 %) and `availability_target`: v1.9.0
    # (#4534, #4599; spire-facts 3). Before: exactly at half-life.
    rotation_jitter: bool
    # "Bundle refreshed" and a store on every successful poll: v1.6.4+ (PR #4045; spire-facts
    # 5.1). Before: only when the fetched bundle differs from the stored copy.
    refresh_every_poll: bool
    # Bundle endpoints with Web PKI (https_web): not in the December 2019 release line.
    https_web: bool


_PROFILES = {
    "0.9": SpireProfile("0.9", True, False, "computed", False, False, False),
    "1.7": SpireProfile("1.7", False, True, "computed", False, True, True),
    "1.8": SpireProfile("1.8", False, True, "computed_warn", False, True, True),
    "1.9": SpireProfile("1.9", False, True, "configured", True, True, True),
    # The latest behaviour (SPIRE v1.15 / HEAD as read for spire-facts).
    "1.x": SpireProfile("1.x", False, True, "configured", True, True, True),
}

SPIRE_VERSIONS: tuple[str, ...] = tuple(_PROFILES)
"""The versions a scenario may name; "1.x" is the latest behaviour and the default."""


def spire_profile(version: str) -> SpireProfile:
    """The profile for ``version`` (one of :data:`SPIRE_VERSIONS`)."""
    try:
        return _PROFILES[version]
    except KeyError:
        raise ValueError(
            f'unknown SPIRE version "{version}" (expected one of: {", ".join(SPIRE_VERSIONS)})'
        ) from None
