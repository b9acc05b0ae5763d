"""Reading payload values as text, the one way every part of the masker does it."""
from __future__ import annotations

from typing import Any

from pipelines.pii.errors import MaskingError

#: Returned for values with nothing to mask in them (None, booleans).
NOT_TEXT: Any = object()


def text_of(name: str, value: Any) -> Any:
    """The text to scan or mask in ``value``, or ``NOT_TEXT``; raises for values that cannot be read.

    Numbers are read as their decimal text (a card number stored as an integer
    is still a card number); bytes must be UTF-8.
    """
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return NOT_TEXT
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MaskingError(name, f"bytes value is not valid UTF-8 (invalid byte at offset {exc.start}); "
                                     "PII cannot be detected or masked in undecodable bytes") from None
    if isinstance(value, (int, float)):
        return str(value)
    raise MaskingError(name, f"{type(value).__name__} values cannot be masked; payload fields must be "
                             "scalars (string, number, boolean, bytes or null)")
