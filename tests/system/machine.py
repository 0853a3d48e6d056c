"""What the two stateful tests share (test_state_machine.py, one source;
test_federation_machine.py, three): the soak switch and a bridge SIGKILLed inside a cycle.
(Each test writes its hypothesis settings itself: with `derandomize`, the test function's
source seeds the examples, so moving them would change the CI profile's steps.)"""

from __future__ import annotations

import os
import signal
import time

from bridge import config as config_mod
from tests.system.helpers import cycle

# CI: a fixed seed and a time budget; `ZYB_SOAK=1` (make soak): random and longer
SOAK = os.environ.get("ZYB_SOAK") == "1"


def sigkill_a_cycle(cfg: config_mod.Config, delay_s: float) -> bool:
    """Fork a bridge that runs one cycle; SIGKILL it after `delay_s`. True when the kill
    landed while the cycle was still running."""
    pid = os.fork()
    if pid == 0:  # the bridge
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        code = 0
        try:
            cycle(cfg)
        except BaseException:
            code = 1
        os._exit(code)
    time.sleep(delay_s)
    landed = os.waitpid(pid, os.WNOHANG) == (0, 0)
    if landed:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return landed
