"""What every Python worker of our Flink jobs does once its functions are open."""
from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Move every object alive now (modules, the policy, PyFlink's own) out of the garbage collector's sight.

    The worker allocates many short-lived objects a record, so the collector runs often, and each full pass
    walked the hundreds of thousands of objects that start-up left and that live as long as the worker:
    frozen, they are never walked (bench pii-job's PII job, two runs each way: 86.3 -> 80.6 us of Python a
    record).  Objects made later are collected as before.
    """
    gc.freeze()
