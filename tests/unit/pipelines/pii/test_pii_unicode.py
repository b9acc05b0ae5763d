"""PII written the way real text writes it: other scripts' digits, Unicode separators, invisible characters,
internationalized emails, names and addresses in any script after a cue in English, German, French or Spanish."""
from __future__ import annotations

import pytest

from pipelines.pii import Masker, Scanner, builtin_policy
from pipelines.pii.normalize import fold, folded

KEYS = {"SHARDLINE_PII_HMAC_KEY": "ab" * 32, "SHARDLINE_PII_FPE_KEY": "cd" * 16}
CARD = "4111111111111111"
AMEX = "378282246310005"


def grouped(digits: str, sep: str, sizes=(4, 4, 4, 4)) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(digits[pos:pos + size])
        pos += size
    return sep.join(part for part in out if part)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isdigit() else ch for ch in text)


def script_digits(text: str, zero: int) -> str:
    return "".join(chr(zero + int(ch)) if ch.isdigit() else ch for ch in text)


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner.from_settings(builtin_policy("payments", environ=KEYS).scan)


def spans_of(scanner: Scanner, text: str, entity: str) -> list[str]:
    return [text[m.start:m.end] for m in scanner.scan(text) if m.entity == entity]


# --- the folded view -------------------------------------------------------------------------------------------

def test_fold_maps_digits_separators_and_full_width_forms_one_for_one():
    assert fold("４１１１\u00a0٤٥\u2013१२ a＠b．de") == "4111 45-12 a@b.de"
    assert fold("plain ascii 4111-1111") == "plain ascii 4111-1111"


def test_folded_view_drops_invisible_characters_and_maps_spans_back():
    text = "card 41\u200b11\u00ad1111\u2060 end"
    view = folded(text)
    assert view.text == "card 41111111 end"
    start = view.text.index("4")
    assert text[slice(*view.span(start, start + 8))] == "41\u200b11\u00ad1111"


def test_folded_view_without_invisible_characters_keeps_offsets():
    assert folded("４１１１ é").origins is None


# --- each form, each entity -------------------------------------------------------------------------------------

CARD_FORMS = {
    "full-width digits": grouped(fullwidth(CARD), " "),
    "full-width, ideographic space": grouped(fullwidth(CARD), "\u3000"),
    "full-width, no grouping": fullwidth(CARD),
    "arabic-indic digits": grouped(script_digits(CARD, 0x660), " "),
    "devanagari digits": grouped(script_digits(CARD, 0x966), "-"),
    "no-break space": grouped(CARD, "\u00a0"),
    "narrow no-break space": grouped(CARD, "\u202f"),
    "thin space": grouped(CARD, "\u2009"),
    "en dash": grouped(CARD, "\u2013"),
    "em dash": grouped(CARD, "\u2014"),
    "non-breaking hyphen": grouped(CARD, "\u2011"),
    "dots": grouped(CARD, "."),
    "slashes": grouped(CARD, "/"),
    "amex with dots": grouped(AMEX, ".", (4, 6, 5)),
    "zero-width spaces": "\u200b".join(CARD),
    "zero-width joiners in groups": grouped(CARD, " \u200d"),
    "word joiner": grouped(CARD, "\u2060"),
    "soft hyphens": grouped(CARD, "\u00ad"),
}


@pytest.mark.parametrize("form", CARD_FORMS)
def test_cards_in_every_form(scanner, form):
    value = CARD_FORMS[form]
    text = f"Kartennummer {value} bitte sperren."
    assert spans_of(scanner, text, "CREDIT_CARD") == [value]


SSN_FORMS = {
    "en dash": "536\u201322\u20131234", "no-break space": "536\u00a022\u00a01234",
    "full-width": fullwidth("536-22-1234"), "full-width hyphen": "５３６－２２－１２３４",
    "dots": "536.22.1234", "zero-width in groups": "53\u200b6-22-12\u200c34",
}


@pytest.mark.parametrize("form", SSN_FORMS)
def test_ssns_in_every_form(scanner, form):
    value = SSN_FORMS[form]
    assert spans_of(scanner, f"SSN {value} vérifié.", "US_SSN") == [value]


PHONE_FORMS = {
    "non-breaking hyphens": "+1\u00a0415\u2011555\u20110132", "narrow space and en dash": "(415)\u202f555\u20130132",
    "full-width": fullwidth("+1 415-555-0132"), "dots": "415.555.0132", "slashes": "+33/6/12/54/63/21",
    "german area code slash": "+49 89/1234567", "thin spaces": "+44\u200920\u20097946\u20090958",
    "word joiners": "\u2060".join("+14155550132"),
}


@pytest.mark.parametrize("form", PHONE_FORMS)
def test_phones_in_every_form(scanner, form):
    value = PHONE_FORMS[form]
    assert spans_of(scanner, f"Bitte unter {value} zurückrufen.", "PHONE_NUMBER") == [value]


@pytest.mark.parametrize("cue", ["Telefon", "Tél. :", "téléphone", "teléfono", "Rückruf unter", "llamar al"])
def test_bare_phone_digits_after_cues_in_other_languages(scanner, cue):
    assert spans_of(scanner, f"{cue} 2015556240 morgen.", "PHONE_NUMBER") == ["2015556240"]


IBANS = {"no-break spaces": "DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000",
         "zero-width": "DE89\u200b3704\u200b0044\u200b0532\u200b0130\u200b00",
         "dots": "DE89.3704.0044.0532.0130.00", "dashes": "DE89-3704-0044-0532-0130-00"}


@pytest.mark.parametrize("form", IBANS)
def test_ibans_in_every_form(scanner, form):
    value = IBANS[form]
    assert spans_of(scanner, f"Erstattung auf {value} veranlasst.", "IBAN") == [value]


@pytest.mark.parametrize("value", [
    "josé.garcía@example.com", "иван.петров@пример.рф", "山田太郎@例え.jp", "info@müller.de", "info@xn--mller-kva.de",
    '"john doe"@example.com', "jane+billing@example.com", "jane＠example．com",
])
def test_internationalized_emails(scanner, value):
    assert spans_of(scanner, f"Antwort an {value} gesendet.", "EMAIL") == [value]


def test_an_ascii_domain_run_into_cjk_text_ends_at_the_script_change(scanner):
    assert spans_of(scanner, "メールは taro@example.jpです。", "EMAIL") == ["taro@example.jp"]


@pytest.mark.parametrize("text, name", [
    ("Name: {} hat angerufen.", "Иван Петров"), ("Mein Name ist {} und ich rufe an.", "José Müller-Lüdenscheidt"),
    ("Name des Kunden: {}, Rückruf.", "Γιώργος Παπαδόπουλος"), ("Kunde: {} hat angerufen.", "山田太郎"),
    ("je m'appelle {} et je veux un remboursement.", "محمد أحمد"), ("Nom : {}. Merci.", "Zoé Lefèvre"),
    ("nom du client : {}, rappel demandé.", "Ярослав"), ("me llamo {} y llamo por la factura.", "Íñigo Núñez"),
    ("Nombre: {}.", "李小龍"), ("mi nombre es {}, gracias.", "Álvaro"), ("cliente: {} pide reembolso.", "Ольга Смирнова"),
    ("Name: {}. Pedido enviado.", "Christopher Kennedy"),
])
def test_names_in_any_script_after_cues(scanner, text, name):
    assert spans_of(scanner, text.format(name), "PERSON_NAME") == [name]


@pytest.mark.parametrize("text, address", [
    ("Adresse: {}. Danke.", "Hauptstraße 5, 10115 Berlin"), ("adresse : {}. Merci", "12 rue de la Paix, 75002 Paris"),
    ("dirección: {}; gracias", "Calle Mayor 12, 28013 Madrid"), ("address: {}。ありがとう", "東京都千代田区千代田1-1"),
    ("Anschrift: {}. Bitte prüfen.", "ул. Ленина, д. 5, Москва"), ("domicilio: {}", "Av. de Mayo 1370, Buenos Aires"),
])
def test_addresses_in_any_script_after_cues(scanner, text, address):
    assert spans_of(scanner, text.format(address), "ADDRESS") == [address]


@pytest.mark.parametrize("text", [
    "Lieferung am 2024\u201305\u201312 bestätigt.", "Öffnungszeiten 09:00\u201317:00.", "Siehe pp. 123\u2013145.",
    "Update auf version 10.0.19045 und v2.14.3 erledigt.", "注文番号 ２０２４０５１２３４ を確認しました。",
    "Betrag ￥１２，３４５ bezahlt.", "Release 1.2.3-beta am 12\u201305\u20132024.",
])
def test_hard_negatives_of_the_same_shapes(scanner, text):
    assert scanner.scan(text) == []


def test_a_cjk_full_stop_ends_the_sentence_a_cue_belongs_to(scanner):
    # "SSN" is in the sentence before: the order number after the 。 is not an SSN.
    assert spans_of(scanner, "SSN 確認済み。注文番号 536808725 を確認しました。", "US_SSN") == []


# --- masking replaces exactly the original span -------------------------------------------------------------------

def test_masking_replaces_the_original_span_and_leaves_the_rest_byte_identical():
    masker = Masker(builtin_policy("generic", environ=KEYS))
    value = "4\u200b111 1111\u00a01111 １１１１"
    before, after = "Zoë paid with ", " — merci 🙂"
    masked = masker.mask({"note": before + value + after}).payload["note"]
    assert masked.startswith(before) and masked.endswith(after)
    middle = masked[len(before):len(masked) - len(after)]
    assert "1111" not in middle and "１" not in middle and middle


def test_a_full_width_card_is_tokenized_like_its_ascii_form():
    masker = Masker(builtin_policy("payments", environ=KEYS))
    ascii_note = masker.mask({"notes": f"card {grouped(CARD, ' ')} ok"}).payload["notes"]
    wide_note = masker.mask({"notes": f"card {grouped(fullwidth(CARD), ' ')} ok"}).payload["notes"]
    assert wide_note == ascii_note
    assert ascii_note != f"card {grouped(CARD, ' ')} ok"
