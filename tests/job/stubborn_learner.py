"""A learner process that ignores SIGTERM and never ends (``python -m
tests.job.stubborn_learner CONFIG``): it renews its heartbeat once and writes ``ready``
in its folder, then waits for signals. For the tests of a stalled learner that only
SIGKILL stops (as a real learner hung in the kernel); started through
LTTFS_LEARNER_MODULE."""

import os
import signal

from learning.contract import HEARTBEAT_FILE_VARIABLE

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.utime(os.environ[HEARTBEAT_FILE_VARIABLE])
    with open("ready", "w"):
        pass
    while True:
        signal.pause()
