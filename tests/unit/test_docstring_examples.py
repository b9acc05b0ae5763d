"""The examples in the public modules' docstrings run, and say what they print."""
import doctest
import importlib

import pytest

MODULES = ("pipelines.records", "pipelines.pii", "connectors.testing", "scaling.policies")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
