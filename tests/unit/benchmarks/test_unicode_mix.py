"""The Unicode PII mix (benchmarks/pii/unicode_mix.py) and its evaluation (evaluate_unicode.py).

The ground truth is what is checked here; the detectors' figures are measured by
the benchmark, never asserted (the goals are met by changing the detectors).
"""
import json
import unicodedata

import phonenumbers
import pytest
from stdnum import iban, luhn
from typer.testing import CliRunner

from benchmarks.pii import evaluate_unicode, unicode_mix
from benchmarks.pii.generator import LabelledRecord, Span
from benchmarks.pii.unicode_mix import DIGIT_SCRIPTS, FORMS, IDEOGRAPHIC, INVISIBLES, SEPARATORS, UnicodeRecordGenerator
from jobs.cli import app

NAME_CUES = ("Name:", "my name is", "Mein Name ist", "Name des Kunden:", "Kunde:", "je m'appelle", "Nom :",
             "nom du client :", "me llamo", "Nombre:", "mi nombre es", "cliente:")
ADDRESS_CUES = ("address:", "Adresse:", "Anschrift:", "adresse :", "dirección:", "domicilio:")


@pytest.fixture(scope="module")
def mix():
    return UnicodeRecordGenerator(seed=3).records(2000)


def text_of(rec, span):
    return rec.payload["notes"][span.start:span.end]


def ascii_digits(text):
    return "".join(str(unicodedata.decimal(ch)) for ch in text if unicodedata.decimal(ch, None) is not None)


def test_the_same_seed_gives_the_same_records():
    assert UnicodeRecordGenerator(seed=5).records(200) == UnicodeRecordGenerator(seed=5).records(200)
    assert UnicodeRecordGenerator(seed=5).records(50) != UnicodeRecordGenerator(seed=6).records(50)


def test_spans_sit_exactly_on_the_values_written(monkeypatch):
    written = []

    def recording(clauses, fillers, rng, target):
        notes, spans, negatives = compose(clauses, fillers, rng, target)
        written.append(([c[1] for c in clauses if c[1]], notes, spans + negatives))  # clauses: shuffled in place
        return notes, spans, negatives

    compose = unicode_mix.compose_note
    monkeypatch.setattr(unicode_mix, "compose_note", recording)
    UnicodeRecordGenerator(seed=8).records(500)
    assert sum(len(values) for values, _, _ in written) > 500
    for values, notes, spans in written:
        assert [notes[s.start:s.end] for s in sorted(spans, key=lambda s: s.start)] == values


def test_every_form_and_every_hard_negative_style_appears_in_2000_records(mix):
    seen = {}
    for rec in mix:
        for span in rec.spans:
            seen.setdefault(span.entity, set()).add(span.variant)
    assert seen == {entity: set(forms) for entity, forms in FORMS.items()}
    styles = {neg.variant for rec in mix for neg in rec.negatives}
    assert styles == {f"{kind}:{style}" for kind, by_style in unicode_mix._NEGATIVES.items() for style in by_style}


def test_values_are_valid_and_written_in_their_form(mix):
    for rec in mix:
        notes = rec.payload["notes"]
        for span in rec.spans:
            value, form = text_of(rec, span), span.variant
            assert value == value.strip() and value
            if form == "ascii":
                assert value.isascii()
            elif form in DIGIT_SCRIPTS:
                zero = DIGIT_SCRIPTS[form]
                assert all(zero <= ord(ch) <= zero + 9 for ch in value if ch.isdigit()), value
            elif form == IDEOGRAPHIC:
                assert "\u3000" in value and all(0xFF10 <= ord(ch) <= 0xFF19 for ch in value if ch.isdigit())
            elif form in SEPARATORS:
                assert SEPARATORS[form] in value
            elif form in INVISIBLES:
                assert INVISIBLES[form] in value
            digits = ascii_digits(value)
            if span.entity == "CREDIT_CARD":
                assert luhn.is_valid(digits), value
            elif span.entity == "US_SSN":
                assert len(digits) == 9 and digits[:3] not in ("000", "666") and digits[0] != "9", value
            elif span.entity == "IBAN":
                assert iban.is_valid(evaluate_unicode.stripped(value)), value
            elif span.entity == "PHONE_NUMBER" and form != "ascii":  # ascii: values.phone(), extensions and all
                plain = ("+" if value[0] in "+＋" else "") + digits
                assert any(phonenumbers.is_valid_number(phonenumbers.parse(plain, region)) for region in ("US", "GB"))
            elif span.entity == "EMAIL":
                local, _, domain = value.rpartition("@")
                assert local and "." in domain and not value.endswith(".")
                assert form != "punycode-domain" or "xn--" in domain
            elif span.entity == "PERSON_NAME":
                assert any(notes[:span.start].endswith(cue + " ") for cue in NAME_CUES), notes
                assert 1 <= len(value.split(" ")) <= 3 and (form != "cjk" or " " not in value)
                assert span.end == len(notes) or not notes[span.end].isalpha()
            elif span.entity == "ADDRESS":
                assert any(notes[:span.start].endswith(cue + " ") for cue in ADDRESS_CUES), notes
                end = notes[span.end:span.end + 2]
                assert end[:1] in (";", "\n") or end in (".", ". "), repr(end)


def test_hard_negatives_overlap_no_pii_and_card_like_ones_fail_luhn(mix):
    for rec in mix:
        marked = sorted(rec.spans + rec.negatives, key=lambda s: s.start)
        assert all(a.end <= b.start for a, b in zip(marked, marked[1:]))
        for neg in rec.negatives:
            if neg.variant.startswith("invalid-luhn:"):
                assert not luhn.is_valid(ascii_digits(text_of(rec, neg)))


def test_stripped_leaks_see_through_separators_invisibles_and_scripts():
    assert evaluate_unicode.stripped("４１１１\u00a0１１\u200b11–22.3/4") == "4111111122" + "34"
    notes = "Card ４１１１\u00a0１１１１\u00a0１１１１\u00a0１１１１ declined."
    rec = LabelledRecord({"notes": notes}, (Span("CREDIT_CARD", 5, 24, "nbsp"),), ())
    leaked = evaluate_unicode.leaks([rec], ["Card 4111 1111 1111 1111 declined."])  # re-spaced, digits read as ASCII
    assert leaked["stripped"] == leaked["any"] == {"CREDIT_CARD": 1} and leaked["verbatim"] == {}
    assert evaluate_unicode.leaks([rec], ["Card <CREDIT_CARD> declined."])["any"] == {}


def test_run_reports_figures_per_entity_and_per_form(tmp_path):
    result = evaluate_unicode.run(records=300, out_dir=tmp_path, plot=False)

    assert json.loads((tmp_path / "unicode_eval.json").read_text()) == result
    for entity in FORMS:
        figures = result["entities"][entity]
        assert {"recall", "covered_recall", "precision", "truth"} <= set(figures)
        assert figures["forms"] and set(figures["forms"]) <= set(FORMS[entity])
        assert sum(f["truth"] for f in figures["forms"].values()) == figures["truth"]
        for f in figures["forms"].values():
            assert {"recall", "covered_recall", "precision", "detections"} <= set(f)
    assert all(v["count"] > 0 for v in result["negatives_by_style"].values())
    assert {"verbatim", "digits_only", "stripped", "any", "by_form"} <= set(result["leaks"])
    assert set(result["goals"]) == {"recall_0.995", "precision_0.95"}
    assert "fullwidth-digits" in evaluate_unicode.table(result)


def test_the_cli_runs_it(tmp_path):
    out = CliRunner().invoke(app, ["bench", "pii-unicode", "--records", "60", "--out-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "unicode_eval.json").is_file() and (tmp_path / "unicode_eval.png").is_file()
    assert "goal recall_0.995" in out.output
