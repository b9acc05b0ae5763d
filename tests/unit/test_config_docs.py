"""docs/configuration.md is the config dataclasses, rendered: it fails here when they disagree."""
from jobs.config_docs import OUTPUT, render, settings, undocumented


def test_the_committed_reference_matches_the_code():
    assert OUTPUT.read_text() == render(), "docs/configuration.md is stale: run .venv/bin/python -m jobs.config_docs"


def test_every_setting_has_a_one_line_doc():
    assert undocumented() == []


def test_settings_are_read_from_the_declaration():
    from connectors.kinesis.producer_types import ProducerConfig

    by_name = {s.name: s for s in settings(ProducerConfig)}
    assert by_name["stream_name"].default == "required"
    assert by_name["max_batch_bytes"].default == "5 * 1024 * 1024"  # as written, not 5242880
    assert by_name["aws"].default == "computed when built" and by_name["seed"].type == "int | None"
