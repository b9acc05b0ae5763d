"""What happens to a value once it is known to be PII.

Each action turns the text of a whole field, or of one match inside free text,
into its masked form; ``None`` means "drop it".  Actions are built (and their
keys loaded and checked) when the policy is loaded.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from typing import Any, Callable, Mapping, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipelines.pii.errors import PolicyError
from pipelines.pii.fpe import BASE62, DIGITS, FF31Cipher
from pipelines.pii.keys import KeyLoader, KeyRef
from pipelines.pii.normalize import fold

DEFAULT_REPLACEMENT = "**********"
_DIGIT_RUNS = re.compile("([0-9]+)")  # ASCII digits only: FF3-1's alphabet, not every Unicode digit


_NONCE_BYTES = 12  # the GCM standard nonce size
_MAX_CACHED_ENTITIES = 256  # Redact's filled-in templates (entity types are few; a recognizer's could be many)


class Action(Protocol):
    name: str

    def apply(self, text: str, entity: str) -> str | None:
        """The masked text, or None to drop the value (or the match, inside free text)."""


class Redact:
    name = "redact"

    def __init__(self, replacement: str = DEFAULT_REPLACEMENT) -> None:
        self._template = replacement if "{" in replacement else None
        self._constant = replacement
        self._by_entity: dict[str, str] = {}  # the template filled in, per entity type seen

    def apply(self, text: str, entity: str) -> str:
        if self._template is None:
            return self._constant
        filled = self._by_entity.get(entity)
        if filled is None:
            filled = self._template.format(entity=entity)
            if len(self._by_entity) < _MAX_CACHED_ENTITIES:
                self._by_entity[entity] = filled
        return filled


class Partial:
    """Masks all but ``keep_left``/``keep_right`` characters.

    If keeping them would leave nothing hidden, everything is masked: a short
    value must not pass through whole.  With ``keep_separators`` punctuation
    and spaces stay in place and only letters and digits count and are masked.
    """

    name = "partial"

    def __init__(self, keep_left: int = 0, keep_right: int = 0, mask_char: str = "*",
                 keep_separators: bool = False) -> None:
        self.left, self.right, self.mask, self.keep_separators = keep_left, keep_right, mask_char, keep_separators

    def apply(self, text: str, entity: str) -> str:
        left, right, mask = self.left, self.right, self.mask
        if not self.keep_separators:
            n = len(text)
            if left + right >= n:
                return mask * n
            return text[:left] + mask * (n - left - right) + text[n - right:]
        positions = [i for i, ch in enumerate(text) if ch.isalnum()]
        hidden = positions if left + right >= len(positions) else positions[left:len(positions) - right]
        chars = list(text)
        for i in hidden:
            chars[i] = mask
        return "".join(chars)


class Hash:
    """Keyed HMAC-SHA-256: deterministic per key, so joins still work; never unkeyed.

    HMAC (RFC 2104) is computed from SHA-256 states precomputed for the key's
    inner and outer pads: the result equals ``hmac.digest(key, msg, "sha256")``
    (a test checks it) at about a third of the cost, since OpenSSL's one-shot
    HMAC re-derives the pads on every call.
    """

    name = "hash"

    def __init__(self, key: bytes, output: str = "hex") -> None:
        if len(key) > 64:  # longer keys are hashed first (RFC 2104 section 2)
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._base64 = output == "base64url"

    def digest(self, data: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def apply(self, text: str, entity: str) -> str:
        if self._base64:
            return base64.urlsafe_b64encode(self.digest(text.encode("utf-8"))).rstrip(b"=").decode("ascii")
        inner = self._inner.copy()
        inner.update(text.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class Tokenize:
    """Format-preserving FF3-1: digits stay digits (or alphanumerics stay alphanumerics), punctuation stays put.

    ``keep_bin_last4`` keeps a card's first six and last four digits in clear
    (the middle must still be at least FF3-1's minimum of six digits; on
    shorter numbers only the last four are kept, then none).  Parts shorter
    than FF3-1's minimum domain (6 digits, 4 alphanumerics) get a keyed
    HMAC-derived substitute of the same format instead: deterministic, but not
    reversible.  Longer than FF3-1's maximum (56 / 32) is split into chunks,
    each with its own tweak.

    A token is not made to fail the Luhn check: about one card token in ten passes it, so a
    scanner reading masked output may flag it as a card number.  Forcing failure would take a
    digit out of the cipher's domain, and a 16-digit card that keeps its BIN and last four has
    only FF3-1's minimum of six digits to encrypt.
    """

    name = "tokenize"

    def __init__(self, key: bytes, tweak: bytes | None = None, alphabet: str = "digits",
                 keep_bin_last4: bool = False) -> None:
        self._alphabet = DIGITS if alphabet == "digits" else BASE62
        self._members = frozenset(self._alphabet)
        if tweak is None:
            tweak = hmac.digest(key, b"shardline/pii/tokenize/tweak", "sha256")[:7]
        self._key, self._tweak = key, tweak
        self._ciphers = [FF31Cipher(key, tweak, self._alphabet)]
        self._short_key = hmac.digest(key, b"shardline/pii/tokenize/short", "sha256")
        self.keep_bin_last4 = keep_bin_last4
        self.min_len, self.max_len = self._ciphers[0].min_len, self._ciphers[0].max_len

    def apply(self, text: str, entity: str) -> str:
        if self._alphabet is DIGITS:
            # Other scripts' digits become ASCII first (pipelines.pii.normalize): left out of the runs
            # below, they were left in clear.
            text = fold(text)
            if text.isascii() and text.isdigit():
                return self._tokenize(text)
            # Grouped digits ("4111 1111-1111 1111"): tokenize the digits, then
            # write the token back run by run (split keeps the separators at
            # the even indexes); a few C calls instead of a loop per character.
            parts = _DIGIT_RUNS.split(text)
            if len(parts) == 1:
                return text
            token = self._tokenize("".join(parts[1::2]))
            pos = 0
            for i in range(1, len(parts), 2):
                end = pos + len(parts[i])
                parts[i] = token[pos:end]
                pos = end
            return "".join(parts)
        members = self._members
        positions = [i for i, ch in enumerate(text) if ch in members]
        if not positions:
            return text
        token = self._tokenize("".join(text[i] for i in positions))
        chars = list(text)
        for i, ch in zip(positions, token):
            chars[i] = ch
        return "".join(chars)

    def _tokenize(self, chars: str) -> str:
        n = len(chars)
        left = right = 0
        if self.keep_bin_last4:
            if n - 10 >= self.min_len:
                left, right = 6, 4
            elif n - 4 >= self.min_len:
                right = 4
        return chars[:left] + self._encrypt(chars[left:n - right]) + chars[n - right:]

    def _encrypt(self, s: str) -> str:
        n = len(s)
        if n == 0:
            return s
        if n < self.min_len:
            digest = hmac.digest(self._short_key, s.encode("ascii"), "sha256")
            radix, alphabet = len(self._alphabet), self._alphabet
            return "".join(alphabet[b % radix] for b in digest[:n])
        if n <= self.max_len:
            return self._ciphers[0].encrypt(s)
        chunks = -(-n // self.max_len)
        size, extra = divmod(n, chunks)
        out, pos = [], 0
        for i in range(chunks):
            step = size + (1 if i < extra else 0)
            out.append(self._cipher(i).encrypt(s[pos:pos + step]))
            pos += step
        return "".join(out)

    def _cipher(self, i: int) -> FF31Cipher:
        while len(self._ciphers) <= i:
            j = len(self._ciphers)
            tweak = self._tweak[:6] + bytes((self._tweak[6] ^ (j & 0xFF),))
            self._ciphers.append(FF31Cipher(self._key, tweak, self._alphabet))
        return self._ciphers[i]


class Encrypt:
    """AES-GCM, reversible with the key: ``base64(nonce || ciphertext || tag)``."""

    name = "encrypt"

    def __init__(self, key: bytes, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._aead = AESGCM(key)
        self._random = random_bytes

    def apply(self, text: str, entity: str) -> str:
        nonce = self._random(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), None)
        return base64.b64encode(nonce + sealed).decode("ascii")


def decrypt(token: str, key: bytes) -> str:
    """Reverse ``encrypt``.  Raises ValueError if the token was not made with this key."""
    try:
        raw = base64.b64decode(token, validate=True)
        return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise ValueError("not an encrypt token for this key") from exc


class Drop:
    name = "drop"

    def apply(self, text: str, entity: str) -> None:
        return None


# --- building actions from a policy -------------------------------------------------

#: Options each action accepts (besides ``action`` itself).
ACTION_OPTIONS: dict[str, tuple[str, ...]] = {
    "redact": ("replacement",),
    "partial": ("keep_left", "keep_right", "mask_char", "keep_separators"),
    "hash": ("key", "output"),
    "tokenize": ("key", "tweak", "alphabet", "keep_bin_last4"),
    "encrypt": ("key",),
    "drop": (),
}
_MIN_HMAC_KEY = 16


def build_action(name: Any, options: Mapping[str, Any], path: str, key_refs: Mapping[str, KeyRef],
                 loader: KeyLoader) -> Action:
    """An action from its policy spec; ``path`` is where the spec sits (``fields.ssn``)."""
    if name not in ACTION_OPTIONS:
        raise PolicyError(f"{path}.action", f"unknown action {name!r} (expected one of: "
                                            f"{', '.join(sorted(ACTION_OPTIONS))})")
    known = ACTION_OPTIONS[name]
    for option in options:
        if option not in known:
            hint = f"known: {', '.join(known)}" if known else "it takes none"
            raise PolicyError(f"{path}.{option}", f"unknown option for action '{name}' ({hint})")
    opt = _Options(options, path)
    if name == "redact":
        replacement = opt.string("replacement", DEFAULT_REPLACEMENT)
        try:
            replacement.format(entity="X")
        except (KeyError, IndexError, ValueError):
            raise PolicyError(f"{path}.replacement", "only {entity} may be substituted "
                                                     "(write {{ and }} for literal braces)") from None
        return Redact(replacement)
    if name == "partial":
        mask = opt.string("mask_char", "*")
        if len(mask) != 1:
            raise PolicyError(f"{path}.mask_char", "must be exactly one character")
        return Partial(opt.integer("keep_left", 0), opt.integer("keep_right", 0), mask,
                       opt.boolean("keep_separators", False))
    if name == "drop":
        return Drop()
    key = _key(options, path, name, key_refs, loader)
    if name == "hash":
        if len(key) < _MIN_HMAC_KEY:
            raise PolicyError(f"{path}.key", f"the hash action needs a key of at least {_MIN_HMAC_KEY} "
                                             f"bytes; key '{options['key']}' has {len(key)}")
        return Hash(key, opt.choice("output", ("hex", "base64url"), "hex"))
    if len(key) not in (16, 24, 32):
        raise PolicyError(f"{path}.key", f"the {name} action needs a 16, 24 or 32-byte AES key; "
                                         f"key '{options['key']}' has {len(key)} bytes")
    if name == "encrypt":
        return Encrypt(key)
    tweak, tweak_bytes = opt.string("tweak", ""), None
    if tweak:
        try:
            tweak_bytes = bytes.fromhex(tweak)
        except ValueError:
            pass
        if tweak_bytes is None or len(tweak_bytes) != 7:
            raise PolicyError(f"{path}.tweak", "must be 14 hex digits (FF3-1's 56-bit tweak)")
    return Tokenize(key, tweak_bytes, opt.choice("alphabet", ("digits", "alnum"), "digits"),
                    opt.boolean("keep_bin_last4", False))


def _key(options: Mapping[str, Any], path: str, action: str, key_refs: Mapping[str, KeyRef],
         loader: KeyLoader) -> bytes:
    name = options.get("key")
    if name is None:
        raise PolicyError(f"{path}.key", f"the {action} action needs a key: name one declared under "
                                         "the policy's keys section")
    if not isinstance(name, str) or name not in key_refs:
        declared = ", ".join(sorted(key_refs)) or "none"
        raise PolicyError(f"{path}.key", f"unknown key {name!r} (declared keys: {declared})")
    return loader.load(key_refs[name], action=action, path=f"{path}.key")


class _Options:
    def __init__(self, options: Mapping[str, Any], path: str) -> None:
        self.options, self.path = options, path

    def string(self, name: str, default: str) -> str:
        value = self.options.get(name, default)
        if not isinstance(value, str):
            raise PolicyError(f"{self.path}.{name}", "must be a string")
        return value

    def integer(self, name: str, default: int) -> int:
        value = self.options.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PolicyError(f"{self.path}.{name}", "must be a non-negative integer")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.options.get(name, default)
        if not isinstance(value, bool):
            raise PolicyError(f"{self.path}.{name}", "must be true or false")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.options.get(name, default)
        if value not in choices:
            raise PolicyError(f"{self.path}.{name}", f"unknown value {value!r} (expected one of: "
                                                     f"{', '.join(choices)})")
        return value
