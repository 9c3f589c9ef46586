"""``python -m sim`` is the ``spire-sim`` command."""

from sim.cli import main

raise SystemExit(main())
