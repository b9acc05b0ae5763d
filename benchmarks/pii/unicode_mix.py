"""A seeded mix of real-world Unicode free text for the PII evaluation: PII in the forms people paste.

    gen = UnicodeRecordGenerator(seed=11)
    for labelled in gen.records(1000):
        labelled.payload["notes"]  # "Kunde: Иван Петров bittet um Rückruf. Kreditkarte ４１１１ １１１１ … wurde abgelehnt."
        labelled.spans             # Span("CREDIT_CARD", 58, 77, "fullwidth-digits"): the variant names the FORM
        labelled.negatives         # Span("NEGATIVE", ..., "order-number:fullwidth-hash"): must NOT be detected

``FORMS`` lists the forms of each entity: other scripts' decimal digits (all of
which Python's ``\\d`` matches), Unicode separators, invisible characters
pasted between digits, internationalized emails (RFC 6531), and names and
addresses in other scripts after a cue word.  A fifth of the values are plain
ASCII (form ``"ascii"``) so the mix is not only exotic.  Values are valid by
their own rules (Luhn, SSA, libphonenumber, the IBAN checksum), from
``ValueFactory``; notes are built by ``generator.compose_note`` like the ASCII
mix, with the same number of values and hard negatives a note.

Every template carries a cue word ("card", "Karte", "SSN", "Tél."): the
question here is the form a value is written in, not whether bare digits are
PII (generator.py covers that).  An address ends where its sentence does
(``.``, ``;`` or a newline), but Russian and US ones hold ". " inside
("ул. Ленина", "Apt. 4"): an end rule of ". " alone cuts them short.
"""
from __future__ import annotations

import random
import re
import string
from typing import Callable

import phonenumbers
from stdnum import iban as stdnum_iban

from benchmarks.pii.generator import EVALUATION_MIX, NEGATIVE, LabelledRecord, NoteMix, Span, compose_note
from benchmarks.pii.values import NATIONAL_REGIONS, PHONE_REGIONS, ValueFactory, group_digits

# --- forms ------------------------------------------------------------------------------------
#: Decimal digits of other scripts, by their zero: each is Unicode category Nd, so ``re``'s ``\d`` matches it.
DIGIT_SCRIPTS = {"fullwidth-digits": 0xFF10, "arabic-indic-digits": 0x0660, "devanagari-digits": 0x0966}
#: Full-width digits grouped by the ideographic space U+3000, as a Japanese IME writes them.
IDEOGRAPHIC = "fullwidth-ideographic-space"
SEPARATORS = {"nbsp": "\u00a0", "narrow-nbsp": "\u202f", "thin-space": "\u2009", "en-dash": "\u2013",
              "em-dash": "\u2014", "nb-hyphen": "\u2011", "dots": ".", "slashes": "/"}
INVISIBLES = {"zero-width-space": "\u200b", "zero-width-non-joiner": "\u200c", "zero-width-joiner": "\u200d",
              "word-joiner": "\u2060", "soft-hyphen": "\u00ad"}
_DIGIT_FORMS = (*DIGIT_SCRIPTS, IDEOGRAPHIC)
FORMS: dict[str, tuple[str, ...]] = {
    "CREDIT_CARD": ("ascii", *_DIGIT_FORMS, *SEPARATORS, *INVISIBLES),
    "PHONE_NUMBER": ("ascii", *_DIGIT_FORMS, *SEPARATORS, *INVISIBLES),
    "US_SSN": ("ascii", *_DIGIT_FORMS, *(s for s in SEPARATORS if s != "slashes"), *INVISIBLES),
    "IBAN": ("ascii", "nbsp", "narrow-nbsp", "thin-space", *INVISIBLES),  # IBANs are grouped by spaces only
    "EMAIL": ("ascii", "accented-local", "cyrillic-local", "cjk-local", "unicode-domain", "punycode-domain",
              "quoted-local", "plus-addressed"),
    "PERSON_NAME": ("ascii", "accented-latin", "cyrillic", "greek", "cjk", "arabic"),
    "ADDRESS": ("ascii", "de", "fr", "es", "ja", "ru"),
}
ASCII_SHARE = 0.2
_ENTITY_WEIGHTS = {"CREDIT_CARD": 22, "PHONE_NUMBER": 20, "US_SSN": 18, "EMAIL": 14, "IBAN": 10,
                   "PERSON_NAME": 8, "ADDRESS": 8}
# Full-width punctuation too: an IME that writes "４" writes "－", "，" and "＋" beside it.
_FULLWIDTH = str.maketrans("0123456789+-,.", "０１２３４５６７８９＋－，．")
_IBAN_BBANS = {"DE": "18n", "AT": "16n", "NL": "4a10n", "GB": "4a14n", "CH": "17n", "FR": "23n", "IT": "1a22n"}

# --- sentence templates (EN, DE, FR, ES): "{}" is the value, always after a cue word ----------------
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "CREDIT_CARD": ("Customer read card {} over the phone.", "Card no. {} declined at checkout.",
                    "Kreditkarte {} wurde abgelehnt.", "Kartennummer {} bitte sperren.",
                    "Carte bancaire {} refusée au paiement.", "Numéro de carte : {} à bloquer.",
                    "Tarjeta {} rechazada en la caja.", "Número de tarjeta {} bloqueado."),
    "US_SSN": ("Verified SSN {} with the caller.", "SSN: {} on file.", "Sozialversicherungsnummer (SSN) {} geprüft.",
               "SSN {} laut Antrag.", "Numéro SSN {} vérifié.", "SSN : {} confirmé par téléphone.",
               "Número SSN {} verificado.", "SSN: {} confirmado."),
    "PHONE_NUMBER": ("Please call back on {} after lunch.", "Customer phone changed to {}.",
                     "Rückruf unter Telefon {} erbeten.", "Tel. {} (mobil).", "Rappeler au téléphone {} demain.",
                     "Tél. : {}.", "Llamar al teléfono {} mañana.", "Tel. {} (móvil)."),
    "IBAN": ("Refund to IBAN {} approved.", "Erstattung auf IBAN {} veranlasst.",
             "Remboursement sur l'IBAN {} validé.", "Reembolso a la cuenta IBAN {} aprobado."),
    "EMAIL": ("Reply sent to {} with the receipt.", "Login email: {}.", "Antwort an {} gesendet.",
              "E-Mail des Kunden: {}.", "Réponse envoyée à {} hier.", "Courriel : {}.",
              "Respuesta enviada a {} con el recibo.", "Correo: {}."),
    "PERSON_NAME": ("Name: {}, callback requested.", "The caller said my name is {} and asked for a refund.",
                    "Anrufer sagte: Mein Name ist {}.", "Name des Kunden: {}.", "Kunde: {} bittet um Rückruf.",
                    "Il a dit : je m'appelle {} et veut un avoir.", "Nom : {}.", "nom du client : {}, dossier ouvert.",
                    "Dijo: me llamo {} y pidió un reembolso.", "Nombre: {}.", "Escribió: mi nombre es {}.",
                    "cliente: {} pide la factura."),
    "ADDRESS": ("New address: {}.", "Billing address: {}; confirmed by the courier.", "Neue Adresse: {}.",
                "Anschrift: {}; bitte prüfen.", "Lieferung an Anschrift: {}\n", "Nouvelle adresse : {}.",
                "adresse : {}\n", "Nueva dirección: {}.", "domicilio: {}; verificado."),
}
_FILLERS = (
    "Customer contacted support about a delayed refund.", "Escalated to tier 2 for review.",
    "Kunde bittet um schnelle Bearbeitung.", "Rückerstattung wurde veranlasst.", "Paket beim Nachbarn abgegeben.",
    "Le client a été très aimable.", "Dossier transmis au service fraude.", "Merci de rappeler avant vendredi.",
    "Se ofreció un cupón de descuento.", "Caso cerrado tras la llamada.", "Envío urgente por mensajería.",
)

# --- hard negatives: kind -> style -> templates ------------------------------------------------------
_NEGATIVES: dict[str, dict[str, tuple[str, ...]]] = {
    "order-number": {"fullwidth-cjk": ("注文番号 {} を確認しました。", "注文番号：{}（発送済み）"),
                     "fullwidth-hash": ("Order #{} shipped.", "Bestellung #{} versandt.", "Pedido #{} enviado."),
                     "arabic-indic": ("رقم الطلب {} تم شحنه.",)},
    "date": {style: ("Delivery promised for {}.", "Lieferung am {} zugesagt.", "Livraison prévue le {}.",
                     "Entrega prevista el {}.") for style in ("en-dash-iso", "en-dash-dmy", "fullwidth-cjk")},
    "range": {"time": ("Open {} on weekdays.", "Erreichbar {} Uhr.", "Horario {} de lunes a viernes."),
              "years": ("Contract {} renewed.", "Vertrag {} verlängert.", "Contrat {} prolongé."),
              "dates": ("Covered period {}.", "Période {} vérifiée.", "Periodo {} revisado."),
              "pages": ("See {} of the contract.", "Siehe {} der AGB.", "Voir {} du contrat.")},
    "version": {"v-prefix": ("App {} crashed at checkout.", "Update auf {} installiert."),
                "windows": ("Windows version {} on the terminal.", "Windows-Version {} erkannt."),
                "semver-pre": ("Client {} rolled out.", "Versión {} instalada.")},
    "amount": {"fullwidth-yen": ("合計 {} をお支払い済み。", "Charged {} in Tokyo."),
               "fullwidth-euro": ("Gebühr {} erstattet.", "Frais de {} remboursés.")},
    "invalid-luhn": {sep: ("Reference {} failed validation.", "Referenz {} ungültig.", "Référence {} rejetée.",
                           "Referencia {} rechazada.") for sep in ("nbsp", "narrow-nbsp", "thin-space")},
    "prose": {lang: ("{}",) for lang in ("de", "fr", "es", "ru", "el", "ja", "ar", "zh")},
}
_PROSE = {
    "de": ("Der Kunde möchte die Rechnung künftig per Post erhalten.", "Bitte die Gutschrift im Kundendienst prüfen."),
    "fr": ("Le client souhaite être rappelé après le déjeuner.", "Colis arrivé abîmé, échange accepté."),
    "es": ("El cliente pidió el reembolso por daños en el envío.", "Pedido entregado tarde, se ofreció descuento."),
    "ru": ("Клиент просит вернуть деньги за поврежденный товар.", "Посылка доставлена с опозданием."),
    "el": ("Ο πελάτης ζήτησε επιστροφή χρημάτων.", "Η παραγγελία παραδόθηκε με καθυστέρηση."),
    "ja": ("お客様は返金を希望しています。", "商品は破損した状態で届きました。"),
    "ar": ("طلب العميل استرداد المبلغ.", "تم تسليم الطلب متأخرا."),
    "zh": ("客户要求退款。", "包裹已按时送达。"),
}

# --- names, emails and addresses -----------------------------------------------------------------
# (first names, last names, middle names): three-word names put a middle name (a patronymic in Russian) between.
_NAMES = {
    "accented-latin": (("José", "Zoë", "François", "Jürgen", "Søren", "Łukasz", "Inés", "Renée", "Ángel", "Björn"),
                       ("Müller-Lüdenscheidt", "García", "Dvořák", "Núñez", "Gonçalves", "Ødegård", "Çelik",
                        "Lefèvre", "Wójcik", "Ibáñez"), ("María", "Håkon", "Élodie", "Jürgen")),
    "cyrillic": (("Иван", "Ольга", "Дмитрий", "Наталья", "Сергей", "Анна"),
                 ("Петров", "Смирнова", "Иванов", "Кузнецова", "Соколов", "Попова"),
                 ("Иванович", "Сергеевна", "Петрович", "Алексеевна")),
    "greek": (("Γιώργος", "Μαρία", "Νίκος", "Ελένη", "Δημήτρης"),
              ("Παπαδόπουλος", "Οικονόμου", "Γεωργίου", "Νικολάου"), ("Κωνσταντίνος", "Αικατερίνη")),
    "arabic": (("محمد", "أحمد", "فاطمة", "علي", "ليلى"), ("العلي", "حسن", "الأحمد", "منصور"), ("خالد", "يوسف")),
}
_CJK_NAMES = ("山田太郎", "佐藤花子", "王伟", "李娜", "张伟", "鈴木一郎", "田中美咲", "陈静", "김민준")
_LOCALS = {
    "accented-local": (("josé", "zoë", "françois", "jürgen", "søren", "inés", "renée"),
                       ("garcía", "dubois", "lefèvre", "müller", "ødegård", "núñez", "côté")),
    "cyrillic-local": (("иван", "ольга", "дмитрий", "наталья"), ("петров", "смирнова", "иванов", "кузнецова")),
}
_CJK_LOCALS = ("山田太郎", "佐藤花子", "王伟", "李娜", "鈴木一郎", "김민준")
_IDN_DOMAINS = {"accented-local": ("müller.de", "bücher.example", "café.fr", "españa.es", "zürich.ch"),
                "cyrillic-local": ("пример.рф", "почта.рф"), "cjk-local": ("例え.jp", "メール.jp", "例子.中国")}
_ASCII_DOMAINS = ("example.com", "mail.example.org", "shop.example.net", "example.de")
_ADDRESS_PARTS = {
    "de": (("Hauptstraße", "Bahnhofstraße", "Königsallee", "Schloßstraße", "Am Güterbahnhof", "Müllerstraße"),
           ("Berlin", "München", "Köln", "Düsseldorf", "Nürnberg")),
    "fr": (("rue de la Paix", "avenue des Champs-Élysées", "boulevard Saint-Germain", "place de l'Hôtel-de-Ville"),
           ("Paris", "Besançon", "Orléans", "Nîmes")),
    "es": (("Calle Mayor", "Avenida de la Constitución", "Plaza de España", "Calle de Alcalá"),
           ("Madrid", "Sevilla", "Málaga", "A Coruña", "Logroño")),
    "ja": (("東京都千代田区千代田", "大阪府大阪市北区梅田", "京都府京都市中京区河原町", "北海道札幌市中央区北一条西",
            "神奈川県横浜市西区みなとみらい"), ()),
    "ru": (("Ленина", "Пушкина", "Тверская", "Садовая", "Гагарина"),
           ("Москва", "Санкт-Петербург", "Казань", "Новосибирск")),
}


class UnicodeRecordGenerator:
    """Seeded labelled records whose only field is ``notes``: ``records(n)``."""

    def __init__(self, seed: int = 11, note_chars: int = 150, mix: NoteMix = EVALUATION_MIX) -> None:
        self.values = ValueFactory(seed)
        self.rng: random.Random = self.values.rng
        self.note_chars = note_chars
        self.mix = mix
        self._draw: dict[str, Callable[[str], str]] = {
            "CREDIT_CARD": self._card, "PHONE_NUMBER": self._phone, "US_SSN": self._ssn, "IBAN": self._iban,
            "EMAIL": self._email, "PERSON_NAME": self._name, "ADDRESS": self._address,
        }
        self._negative_kinds = tuple(_NEGATIVES)

    def records(self, count: int) -> list[LabelledRecord]:
        return [self.record() for _ in range(count)]

    def record(self) -> LabelledRecord:
        notes, spans, negatives = self.note()
        return LabelledRecord({"notes": notes}, spans, negatives)

    def note(self) -> tuple[str, tuple[Span, ...], tuple[Span, ...]]:
        rng = self.rng
        clauses = []
        for _ in range(rng.choices((0, 1, 2), self.mix.pii)[0]):
            entity = rng.choices(tuple(_ENTITY_WEIGHTS), tuple(_ENTITY_WEIGHTS.values()))[0]
            form = "ascii" if rng.random() < ASCII_SHARE else rng.choice(FORMS[entity][1:])
            before, after = rng.choice(_TEMPLATES[entity]).split("{}")
            clauses.append((before, self._draw[entity](form), after, entity, form))
        for _ in range(rng.choices((0, 1, 2), self.mix.negatives)[0]):
            kind = rng.choice(self._negative_kinds)
            style = rng.choice(tuple(_NEGATIVES[kind]))
            before, after = rng.choice(_NEGATIVES[kind][style]).split("{}")
            clauses.append((before, self._negative(kind, style), after, NEGATIVE, f"{kind}:{style}"))
        target = rng.randint(self.note_chars - 50, self.note_chars + 10)
        return compose_note(clauses, _FILLERS, rng, target)

    # --- digit-bearing values: ASCII groups, then written in a form -----------------------------
    def _written(self, groups: list[str], form: str, native: str) -> str:
        """``groups`` joined and written in ``form``; ``native`` is the entity's own ASCII separator."""
        if form in DIGIT_SCRIPTS:
            zero = DIGIT_SCRIPTS[form]
            text = native.join(groups)
            if zero == 0xFF10:
                return text.translate(_FULLWIDTH)
            return text.translate(str.maketrans(string.digits, "".join(chr(zero + i) for i in range(10))))
        if form == IDEOGRAPHIC:
            return "\u3000".join(groups).translate(_FULLWIDTH)
        if form in SEPARATORS:
            return SEPARATORS[form].join(groups)
        # Invisible characters: pasted into a grouped or a compact value, between two digits.
        text = native.join(groups) if self.rng.random() < 0.5 else "".join(groups)
        slots = [i for i in range(1, len(text)) if text[i - 1].isdigit() and text[i].isdigit()]
        for i in sorted(self.rng.sample(slots, min(len(slots), self.rng.randint(1, 3))), reverse=True):
            text = text[:i] + INVISIBLES[form] + text[i:]
        return text

    def _card(self, form: str) -> str:
        if form == "ascii":
            return self.values.card()[0]
        digits, _, _ = self.values.card_digits()
        return self._written(group_digits(digits, "space").split(" "), form, " ")

    def _ssn(self, form: str) -> str:
        if form == "ascii":
            return self.values.ssn()[0]
        return self._written(self.values.ssn("-")[0].split("-"), form, "-")

    def _phone(self, form: str) -> str:
        if form == "ascii":
            return self.values.phone()[0]
        # International numbers of any region; national ones only of the regions the payments policy reads.
        # ValueFactory's own draw of a valid number: its public phone() picks the format too.
        if self.rng.random() < 0.6:
            number = self.values._phone_number(self.rng.choice(PHONE_REGIONS))
            text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        else:
            number = self.values._phone_number(self.rng.choice(NATIONAL_REGIONS))
            text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL).replace("(", "")
        return self._written(re.split(r"\)? |-", text), form, " ")

    def _iban(self, form: str) -> str:
        rng = self.rng
        country = rng.choice(tuple(_IBAN_BBANS))
        bban = "".join(rng.choice(string.ascii_uppercase if kind == "a" else string.digits)
                       for n, kind in re.findall(r"(\d+)([an])", _IBAN_BBANS[country]) for _ in range(int(n)))
        value = country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban
        groups = [value[i:i + 4] for i in range(0, len(value), 4)]
        if form == "ascii":
            return " ".join(groups) if rng.random() < 0.5 else value
        return self._written(groups, form, " ")

    # --- text values -----------------------------------------------------------------------------
    def _email(self, form: str) -> str:
        rng, fake = self.rng, self.values.fake
        ascii_domain = rng.choice(_ASCII_DOMAINS)
        if form == "ascii":
            return self.values.email()[0]
        if form in _LOCALS:
            firsts, lasts = _LOCALS[form]
            local = f"{rng.choice(firsts)}.{rng.choice(lasts)}"
        elif form == "cjk-local":
            local = rng.choice(_CJK_LOCALS)
        elif form == "quoted-local":
            return f'"{fake.first_name().lower()} {fake.last_name().lower()}"@{ascii_domain}'
        elif form == "plus-addressed":
            return f"{fake.user_name()}+{rng.choice(('billing', 'orders', 'news'))}@{ascii_domain}"
        else:  # unicode-domain, punycode-domain: an ASCII local part at an internationalized domain
            domain = rng.choice(sum(_IDN_DOMAINS.values(), ()))
            if form == "punycode-domain":
                domain = domain.encode("idna").decode("ascii")  # "xn--mller-kva.de", as mail headers carry it
            return f"{fake.user_name()}@{domain}"
        return f"{local}@{rng.choice(_IDN_DOMAINS[form]) if rng.random() < 0.5 else ascii_domain}"

    def _name(self, form: str) -> str:
        rng = self.rng
        if form == "ascii":
            return self.values.name()[0]
        if form == "cjk":  # one word: CJK names are written without a space
            return rng.choice(_CJK_NAMES)
        firsts, lasts, middles = _NAMES[form]
        first, last = rng.choice(firsts), rng.choice(lasts)
        words = rng.choices((1, 2, 3), (2, 6, 2))[0]
        if words == 1:
            return first
        return f"{first} {last}" if words == 2 else f"{first} {rng.choice(middles)} {last}"

    def _address(self, form: str) -> str:
        rng, fake = self.rng, self.values.fake
        if form == "ascii":
            return f"{fake.street_address()}, {fake.city()}, {fake.state_abbr()} {fake.zipcode()}"
        streets, cities = _ADDRESS_PARTS[form]
        street, n = rng.choice(streets), rng.randint(1, 120)
        if form == "de":
            return f"{street} {n}{rng.choice(('', '', 'a'))}, {rng.randint(10115, 99998):05d} {rng.choice(cities)}"
        if form == "fr":
            return f"{n} {street}, {rng.randint(1000, 95999):05d} {rng.choice(cities)}"
        if form == "es":
            return f"{street} {n}, {rng.randint(1000, 52999):05d} {rng.choice(cities)}"
        if form == "ja":
            postcode = f"〒{rng.randint(100, 999)}-{rng.randint(0, 9999):04d} " if rng.random() < 0.4 else ""
            return f"{postcode}{street}{rng.randint(1, 9)}-{rng.randint(1, 20)}-{rng.randint(1, 30)}"
        flat = f", кв. {rng.randint(1, 200)}" if rng.random() < 0.4 else ""
        return f"ул. {street}, д. {n}{flat}, {rng.choice(cities)}"

    # --- hard negatives --------------------------------------------------------------------------
    def _negative(self, kind: str, style: str) -> str:
        rng, v = self.rng, self.values
        if kind == "order-number":
            digits = v.digits(rng.randint(8, 12) if style == "fullwidth-cjk" else rng.randint(6, 9))
            return self._written([digits], "arabic-indic-digits" if style == "arabic-indic" else "fullwidth-digits", "")
        if kind == "date":
            y, m, d = rng.randint(2019, 2026), rng.randint(1, 12), rng.randint(1, 28)
            return {"en-dash-iso": f"{y}–{m:02d}–{d:02d}", "en-dash-dmy": f"{d:02d}–{m:02d}–{y}",
                    "fullwidth-cjk": f"{y}年{m}月{d}日".translate(_FULLWIDTH)}[style]
        if kind == "range":
            a = rng.randint(1, 400)
            return {"time": f"{rng.randint(6, 10):02d}:00–{rng.randint(16, 20):02d}:{rng.choice(('00', '30'))}",
                    "years": f"{rng.randint(2015, 2023)}–{rng.randint(2024, 2026)}",
                    "dates": f"2024-{rng.randint(1, 6):02d}-{rng.randint(1, 28):02d}–2024-{rng.randint(7, 12):02d}-"
                             f"{rng.randint(1, 28):02d}",
                    "pages": f"pp. {a}–{a + rng.randint(2, 60)}"}[style]
        if kind == "version":
            return {"v-prefix": f"v{rng.randint(1, 5)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                    "windows": f"10.0.{rng.randint(17763, 26100)}",
                    "semver-pre": f"{rng.randint(0, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}-"
                                  f"{rng.choice(('beta', 'rc.1', 'alpha.2'))}"}[style]
        if kind == "amount":
            if style == "fullwidth-yen":
                return f"￥{rng.randint(100, 999_999):,}".translate(_FULLWIDTH)
            return f"{rng.uniform(1, 999):.2f}".translate(_FULLWIDTH) + " €"
        if kind == "invalid-luhn":
            digits, _, _ = v.card_digits(valid=False)
            return group_digits(digits, "space").replace(" ", SEPARATORS[style])
        return rng.choice(_PROSE[style])
