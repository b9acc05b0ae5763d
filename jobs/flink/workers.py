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


def _result_row_maker():
    """``result_row`` for this PyFlink: an ``InternalRow`` where its compiled coders are, else a ``Row``."""
    from pyflink.common import Row, RowKind

    try:
        from pyflink.fn_execution.coder_impl_fast import InternalRow
    except ImportError:  # PyFlink without its compiled coders reads Rows only
        return lambda *values: Row(*values)

    class ResultRow(InternalRow):
        """An ``InternalRow`` that thread mode's converters (``embedded.converters``) read as they read a Row."""

        __slots__ = ()

        @property
        def _values(self) -> list:
            return self.values

        def get_row_kind(self):
            return RowKind.INSERT

    return lambda *values: ResultRow(list(values), 0)


result_row = _result_row_maker()
"""``result_row(*values)``: a Python function's ROW result, as a ``Row`` of ``values`` in order.

PyFlink's compiled coder writes an ``InternalRow``'s list as it is; a ``Row`` it first asks for its fields by
name and its kind, and a ``Row`` is slow to build: 3.6 against 0.6 us a row, measured in process, a few
per cent of the PII job's Python time.
"""
