"""Named random streams derived from a run seed, so every consumer of randomness is reproducible.

Each stream is an independent ``random.Random`` seeded from the run seed and a stable name
(``zlib.crc32`` of the name, never ``hash()``, which changes between interpreter runs). Adding a new
consumer therefore never shifts the numbers another consumer sees.

>>> a = stream(1, "ca/foo.example.com")
>>> b = stream(1, "ca/foo.example.com")
>>> a.getrandbits(64) == b.getrandbits(64)
True
>>> stream(1, "x").getrandbits(64) == stream(2, "x").getrandbits(64)
False
"""

from __future__ import annotations

import random
import zlib

__all__ = ["stream"]


def stream(seed: int, name: str) -> random.Random:
    """Return a fresh random stream for ``name`` under the run ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"rng: seed must be a non-negative integer, got {seed!r}")
    # The seed occupies the high bits and the name's CRC the low 32, so (seed, name) pairs never
    # collide for seeds below 2**32 and streams of different names are unrelated.
    return random.Random((seed << 32) | zlib.crc32(name.encode("utf-8")))
