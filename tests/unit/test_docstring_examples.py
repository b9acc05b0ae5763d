"""The examples in the public modules' docstrings run, and say what they print."""
import doctest
import importlib

import pytest

MODULES = ("pipelines.records", "pipelines.pii", "connectors.testing", "scaling.policies",
           "pipelines.video.ladder", "pipelines.video.plans", "pipelines.video.graph", "pipelines.video.segments",
           "pipelines.video.assembly", "pipelines.video.hls", "pipelines.video.governor", "pipelines.engine",
           "pipelines.wrapping", "pipelines.examples.clicks", "pipelines.pii.field_scan",
           "pipelines.timeseries.config", "pipelines.timeseries.readings", "pipelines.timeseries.windows",
           "pipelines.timeseries.detect", "pipelines.timeseries.enrich", "pipelines.timeseries.pattern",
           "pipelines.times", "pipelines.eventsourcing.events", "pipelines.eventsourcing.domain",
           "pipelines.eventsourcing.bank", "pipelines.eventsourcing.config", "pipelines.eventsourcing.aggregates",
           "pipelines.eventsourcing.pattern", "pipelines.eventsourcing.outputs", "pipelines.eventsourcing.synthetic",
           "pipelines.eventsourcing.snapshots", "jobs.local.dlq")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
