"""A supervised service dies with its supervisor, however the supervisor dies (kill -9 included).

Each service calls ``die_with_supervisor()`` first thing: the kernel then sends it SIGKILL when its parent
exits (Linux ``PR_SET_PDEATHSIG``). Set in the child itself, not in a ``preexec_fn`` between fork and exec,
which is unsafe in a parent with threads. Every service runs as one process, so this covers all of them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

ENV = "CSBOT_SUPERVISOR_PID"


def die_with_supervisor() -> None:
    supervisor = os.environ.get(ENV)
    if not supervisor or not sys.platform.startswith("linux"):
        return  # not started by `csbot run`
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(supervisor):  # the supervisor died before we asked: don't linger
        os._exit(1)
