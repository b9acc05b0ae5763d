"""Key references: a policy names where a key lives, never the key.

    keys:
      hmac: {env: SHARDLINE_PII_HMAC_KEY}                 # hex by default
      aead: {file: /run/secrets/pii-aead.key, encoding: base64}

Keys are loaded when the policy is loaded, so a missing or malformed key stops
the job at start-up with a message naming the variable or file and the action
that needs it, not at the first record.  Messages never include key material.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from pipelines.pii.errors import MissingKeyError, PolicyError

ENCODINGS = ("hex", "base64", "raw")


@dataclass(frozen=True, slots=True)
class KeyRef:
    """Where one named key lives."""

    name: str
    #: Environment variable holding the key (exactly one of env/file is set).
    env: str | None = None
    #: File holding the key; a relative path is relative to the policy file's folder.
    file: str | None = None
    #: How the key is written: hex, base64 or raw bytes (file only).
    encoding: str = "hex"

    @property
    def where(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"


def parse_key_refs(raw: object, path: str = "keys") -> dict[str, KeyRef]:
    """Validate the policy's ``keys`` section."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PolicyError(path, "must be a mapping of key names to {env: VAR} or {file: PATH}")
    refs = {}
    for name, spec in raw.items():
        where = f"{path}.{name}"
        if not isinstance(spec, Mapping):
            raise PolicyError(where, "must be {env: VAR} or {file: PATH}; "
                                     "the key itself never goes in a policy")
        unknown = set(spec) - {"env", "file", "encoding"}
        if unknown:
            raise PolicyError(f"{where}.{sorted(unknown)[0]}", "unknown option (known: env, file, encoding)")
        env, file = spec.get("env"), spec.get("file")
        if (env is None) == (file is None):
            raise PolicyError(where, "give exactly one of env or file")
        for option, value in (("env", env), ("file", file)):
            if value is not None and (not isinstance(value, str) or not value):
                raise PolicyError(f"{where}.{option}", "must be a non-empty string")
        encoding = spec.get("encoding", "hex")
        if encoding not in ENCODINGS or (encoding == "raw" and env is not None):
            allowed = ENCODINGS if file is not None else ENCODINGS[:2]
            raise PolicyError(f"{where}.encoding", f"unknown encoding {encoding!r} (expected one of: "
                                                   f"{', '.join(allowed)})")
        refs[str(name)] = KeyRef(str(name), env=env, file=file, encoding=encoding)
    return refs


class KeyLoader:
    """Loads key bytes for references; ``environ`` and ``read_file`` are injectable for tests."""

    def __init__(self, environ: Mapping[str, str], base_dir: Path | None = None,
                 read_file: Callable[[Path], bytes] = Path.read_bytes) -> None:
        self._environ = environ
        self._base_dir = base_dir
        self._read_file = read_file
        self._cache: dict[str, bytes] = {}

    def load(self, ref: KeyRef, *, action: str, path: str) -> bytes:
        """The key's bytes, or ``MissingKeyError`` naming the variable/file, the action and ``path``."""
        if ref.name in self._cache:
            return self._cache[ref.name]
        if ref.env is not None:
            text = self._environ.get(ref.env)
            if text is None or not text.strip():
                raise MissingKeyError(path, f"the {action} action needs key '{ref.name}', but environment "
                                            f"variable {ref.env} is not set")
            data: bytes = text.strip().encode("ascii", "replace")
        else:
            file = Path(ref.file)  # type: ignore[arg-type]
            if not file.is_absolute() and self._base_dir is not None:
                file = self._base_dir / file
            try:
                data = self._read_file(file)
            except FileNotFoundError:
                raise MissingKeyError(path, f"the {action} action needs key '{ref.name}', but file {file} "
                                            "does not exist") from None
            except OSError as exc:
                raise MissingKeyError(path, f"the {action} action needs key '{ref.name}', but file {file} "
                                            f"cannot be read ({exc.strerror or type(exc).__name__})") from None
            if ref.encoding != "raw":
                data = data.strip()
        key = _decode(data, ref, action, path)
        self._cache[ref.name] = key
        return key


def _decode(data: bytes, ref: KeyRef, action: str, path: str) -> bytes:
    try:
        if ref.encoding == "hex":
            return binascii.unhexlify(data)
        if ref.encoding == "base64":
            return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise MissingKeyError(path, f"key '{ref.name}' for the {action} action: {ref.where} does not hold "
                                    f"valid {ref.encoding}") from None
    return data
