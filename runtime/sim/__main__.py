"""`python -m runtime.sim`: the hardware simulation process and its control CLI."""

from __future__ import annotations

import sys

from runtime.sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
