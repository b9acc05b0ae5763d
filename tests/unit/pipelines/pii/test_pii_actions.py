"""Each masking action, on whole values and on spans."""
import base64
import hmac

import pytest

from pipelines.pii.actions import Drop, Encrypt, Hash, Partial, Redact, Tokenize, decrypt

KEY16, KEY32 = bytes(range(16)), bytes(range(32))


def test_redact_default_and_template():
    assert Redact().apply("123-45-6789", "US_SSN") == "**********"
    assert Redact("[{entity}]").apply("a@b.com", "EMAIL") == "[EMAIL]"


@pytest.mark.parametrize(("options", "text", "expected"), [
    ({"keep_right": 4}, "4111111111111111", "************1111"),
    ({"keep_left": 2}, "62704", "62***"),
    ({"keep_left": 1, "keep_right": 1}, "Smith", "S***h"),
    ({"keep_right": 4, "keep_separators": True}, "(415) 555-0132", "(***) ***-0132"),
    ({"keep_left": 3, "keep_right": 3}, "abcde", "*****"),          # nothing would stay hidden: hide all
    ({"keep_right": 2, "mask_char": "#"}, "12345", "###45"),
])
def test_partial(options, text, expected):
    assert Partial(**options).apply(text, "X") == expected


def test_hash_is_keyed_hmac_sha256_and_deterministic_per_key():
    value = "jane@example.com"
    digest = Hash(KEY32).apply(value, "EMAIL")
    assert digest == hmac.digest(KEY32, value.encode(), "sha256").hex()
    assert Hash(KEY32).apply(value, "EMAIL") == digest                       # same key: joins work
    assert Hash(bytes(reversed(KEY32))).apply(value, "EMAIL") != digest     # other key: other digest
    long_key = bytes(100)  # hashed first, as RFC 2104 says
    assert Hash(long_key).apply(value, "EMAIL") == hmac.digest(long_key, value.encode(), "sha256").hex()
    b64 = Hash(KEY32, output="base64url").apply(value, "EMAIL")
    assert base64.urlsafe_b64decode(b64 + "=") == bytes.fromhex(digest)


def test_tokenize_preserves_format_and_is_deterministic_per_key():
    tokenize = Tokenize(KEY16)
    for value in ("123-45-6789", "4111 1111 1111 1111", "(415) 555-0132", "987654321"):
        token = tokenize.apply(value, "X")
        assert token != value
        assert len(token) == len(value)
        assert [c.isdigit() for c in token] == [c.isdigit() for c in value]
        assert [c for c in token if not c.isdigit()] == [c for c in value if not c.isdigit()]
        assert Tokenize(KEY16).apply(value, "X") == token
        assert Tokenize(bytes(16)).apply(value, "X") != token


def test_tokenize_can_keep_a_cards_bin_and_last_four():
    token = Tokenize(KEY16, keep_bin_last4=True).apply("4111 1111 1111 1111", "CREDIT_CARD")
    assert token[:7] == "4111 11" and token[-4:] == "1111" and token != "4111 1111 1111 1111"
    # 13 digits leave a 3-digit middle, under FF3-1's minimum: only the last four stay.
    short = Tokenize(KEY16, keep_bin_last4=True).apply("4222222222222", "CREDIT_CARD")
    assert short[-4:] == "2222" and short[:9] != "422222222"


def test_tokenize_alnum_short_and_long_values():
    alnum = Tokenize(KEY16, alphabet="alnum").apply("jane.doe@example.com", "EMAIL")
    assert alnum.count("@") == 1 and alnum.count(".") == 2 and alnum != "jane.doe@example.com"
    short = Tokenize(KEY16).apply("123", "X")  # below FF3-1's domain: keyed substitute, same shape
    assert short.isdigit() and len(short) == 3 and Tokenize(KEY16).apply("123", "X") == short
    long_value = "1234567890" * 7  # over FF3-1's 56 digits: chunked
    token = Tokenize(KEY16).apply(long_value, "X")
    assert token.isdigit() and len(token) == 70 and token != long_value
    assert Tokenize(KEY16, tweak=bytes(7)).apply("123456789", "X") != Tokenize(KEY16).apply("123456789", "X")


def test_encrypt_round_trip_and_wrong_key():
    encrypt = Encrypt(KEY32)
    token = encrypt.apply("221 Baker Street", "ADDRESS")
    assert token != encrypt.apply("221 Baker Street", "ADDRESS")  # fresh nonce each time
    assert decrypt(token, KEY32) == "221 Baker Street"
    raw = base64.b64decode(token)
    assert len(raw) == 12 + len("221 Baker Street") + 16  # nonce, ciphertext, tag
    with pytest.raises(ValueError, match="not an encrypt token"):
        decrypt(token, bytes(32))


def test_drop():
    assert Drop().apply("anything", "X") is None



@pytest.mark.parametrize("card", ["４１１１１１１１１１１１１１１１", "４１１１ １１１１ １１１１ １１１１", "٤١١١١١١١١١١١١١١١"])
def test_tokenize_reads_other_scripts_digits_instead_of_leaving_them_in_clear(card):
    token = Tokenize(KEY16, keep_bin_last4=True).apply(card, "CREDIT_CARD")
    assert token.isascii() and token != card
    assert token == Tokenize(KEY16, keep_bin_last4=True).apply(card.replace("１", "1").replace("４", "4")
                                                                .replace("١", "1").replace("٤", "4"), "CREDIT_CARD")
