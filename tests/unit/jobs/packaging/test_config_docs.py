"""The README's configuration reference is the config dataclasses, rendered: it fails here when they disagree."""
import pytest

from jobs.packaging.config_docs import README, settings, undocumented, with_reference


def test_the_committed_reference_matches_the_code():
    assert with_reference(README.read_text()) == README.read_text(), "the README's reference is stale: run make docs"


def test_only_the_text_between_the_markers_is_rewritten():
    readme = README.read_text()
    stale = readme.replace("| `linger_s` |", "| `linger_seconds` |")
    assert stale != readme and with_reference(stale) == readme
    with pytest.raises(ValueError, match="lacks the markers"):
        with_reference("# no markers here\n")


def test_every_setting_has_a_one_line_doc():
    assert undocumented() == []


def test_settings_are_read_from_the_declaration():
    from connectors.kinesis.producer_types import ProducerConfig

    by_name = {s.name: s for s in settings(ProducerConfig)}
    assert by_name["stream_name"].default == "required"
    assert by_name["max_batch_bytes"].default == "5 * 1024 * 1024"  # as written, not 5242880
    assert by_name["aws"].default == "computed when built" and by_name["seed"].type == "int | None"
