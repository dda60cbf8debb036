"""A password that cannot leak by accident.

A `Secret` prints as ``***`` in `str()`, `repr()`, f-strings and tracebacks' locals, refuses to be
pickled, and is known to the log formatter (`kiosk.logs`), which scrubs the value of every live
secret from every line it writes. Code that really needs the value calls `reveal()`, at the one
place it hands it to the wire.
"""

from __future__ import annotations

import hmac
import weakref
from typing import ClassVar

#: Values shorter than this are not scrubbed from log lines: blanking every "a" would make logs
#: unreadable. The Call Center refuses such passwords anyway.
MIN_SCRUB_LENGTH = 3


class Secret:
    """A string held in memory only. `reveal()` gives the value; nothing else does."""

    __slots__ = ("__weakref__", "_value")
    _live: ClassVar[weakref.WeakSet[Secret]] = weakref.WeakSet()

    def __init__(self, value: str):
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("a Secret holds a str")
        self._value = value
        Secret._live.add(self)

    def reveal(self) -> str:
        """The value, for the one call that must send it."""
        return self._value

    def wipe(self) -> None:
        """Forget the value (Python cannot overwrite a string; this drops our reference)."""
        self._value = ""
        Secret._live.discard(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            other = other._value
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other.encode())

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __reduce__(self):
        raise TypeError("a Secret cannot be pickled")

    @classmethod
    def live_values(cls) -> list[str]:
        """The values of every secret still in memory, longest first (for scrubbing)."""
        values = {s._value for s in list(cls._live) if len(s._value) >= MIN_SCRUB_LENGTH}
        return sorted(values, key=len, reverse=True)


def scrub(text: str) -> str:
    """`text` with the value of every live secret replaced by ``***``."""
    for value in Secret.live_values():
        if value in text:
            text = text.replace(value, "***")
    return text
