"""The ``spire-sim`` command line: the only module that prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import sim

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spire-sim",
        description="Discrete-event simulator of multi-trust-domain SPIRE federation.",
    )
    parser.add_argument("--version", action="version", version=f"spire-sim {sim.__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stdout)
        return 0
    return 0
