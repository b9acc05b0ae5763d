"""Presidio (analyzer + anonymizer) as the baseline, run with a blank spaCy pipeline.

No spaCy model can be downloaded here, so the NLP engine is Presidio's own
``SpacyNlpEngine`` loading ``spacy.blank("en")`` saved to a temporary folder
(``model_name`` may be a path; Presidio only downloads names that are neither an
installed package nor an existing path).  A blank pipeline tokenizes but has no
NER, lemmas or vectors: Presidio's pattern recognizers (cards, SSNs, emails,
phones, IPs, IBANs, ...) run as usual; names and locations are not found, and
context words (matched on lemmas) boost nothing.

    baseline = PresidioBaseline()                       # raises PresidioUnavailable with the reason
    masked = baseline.mask(payload, fields)             # analyze + anonymize each field
    detections = baseline.detect(text)                  # [(our entity type, start, end)]
"""
from __future__ import annotations

import logging
import tempfile
from importlib import metadata
from typing import Any, Mapping, Sequence

# Presidio entity types -> ours (types with no counterpart are reported under their own name).
ENTITY_MAP = {
    "US_SSN": "US_SSN", "CREDIT_CARD": "CREDIT_CARD", "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE_NUMBER",
    "IP_ADDRESS": "IP_ADDRESS", "IBAN_CODE": "IBAN", "PERSON": "PERSON_NAME", "LOCATION": "ADDRESS",
    "MAC_ADDRESS": "MAC_ADDRESS",
}
INSTALL_HINT = "pip install presidio-analyzer presidio-anonymizer (the dev extra)"


class PresidioUnavailable(RuntimeError):
    """Presidio cannot run here; the message says why."""


def versions() -> dict[str, str]:
    out = {}
    for dist in ("presidio-analyzer", "presidio-anonymizer", "spacy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


class PresidioBaseline:
    def __init__(self, language: str = "en") -> None:
        try:
            import spacy
            import tldextract
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import NlpEngineProvider
            from presidio_anonymizer import AnonymizerEngine
        except ImportError as exc:
            raise PresidioUnavailable(f"{exc.name} is not installed: {INSTALL_HINT}") from None
        # Presidio's email recognizer calls tldextract, whose default extractor
        # fetches the public suffix list over the network on first use; use the
        # snapshot bundled with tldextract instead (nothing here reaches the internet).
        tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        self._model_dir = tempfile.TemporaryDirectory(prefix="shardline-blank-spacy-")
        spacy.blank(language).to_disk(self._model_dir.name)
        provider = NlpEngineProvider(nlp_configuration={
            "nlp_engine_name": "spacy", "models": [{"lang_code": language, "model_name": self._model_dir.name}]})
        self.language = language
        self.analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=[language])
        self.anonymizer = AnonymizerEngine()

    def mask(self, payload: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
        """The payload with each of ``fields`` analyzed and anonymized (Presidio's defaults: "<ENTITY>")."""
        out = dict(payload)
        analyze, anonymize, language = self.analyzer.analyze, self.anonymizer.anonymize, self.language
        for name in fields:
            text = payload.get(name)
            if isinstance(text, str) and text:
                out[name] = anonymize(text, analyze(text, language=language)).text
        return out

    def detect(self, text: str) -> list[tuple[str, int, int]]:
        """Presidio's findings at its default threshold, with entity types mapped to ours."""
        return [(ENTITY_MAP.get(r.entity_type, r.entity_type), r.start, r.end)
                for r in self.analyzer.analyze(text, language=self.language)]

    def close(self) -> None:
        self._model_dir.cleanup()
