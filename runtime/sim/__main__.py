"""`python -m runtime.sim`: the hardware simulation process and its control CLI."""

from __future__ import annotations

import signal
import sys

from runtime.sim.cli import main

if __name__ == "__main__":
    # `python -m runtime.sim status | head -1` ends quietly, as a shell tool should.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
