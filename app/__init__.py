"""refdata: reference data served from an INIT-scope cache."""

import time

__version__ = "0.1.0"

# The first line of the package to run: INIT duration is measured from here.
INIT_STARTED = time.perf_counter()
