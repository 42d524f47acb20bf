"""The user's request to stop (Ctrl-C, SIGTERM), as one process-wide event.

The command line sets it on the first signal; solver backends end their solve early with
what they have, long loops (column generation, greedy placement, searches) stop at their
next step, and the command finishes with what it has found, written and checked as on a
time limit.
"""

from __future__ import annotations

import threading

INTERRUPT = threading.Event()
