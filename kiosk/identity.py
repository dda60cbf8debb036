"""User-ID rules: turn what an agent typed into the `user@domain` the Call Center expects.

Pure functions, no I/O. Errors are `IdentityError` with a `code`, translated by the UI:

| code | meaning |
| --- | --- |
| `empty` | nothing typed |
| `needs_domain` | only the user part was typed and no domain applies: "enter your full user ID" |
| `bad_character` | a `/`, a blank, a control character, two `@`, or a formula's `=`/`+`/`-` first |
| `empty_user` | nothing before the `@` |
| `bad_domain` | the domain (typed, or from *Show options*) is not a host name |
| `too_long` | more than 80 characters in all |
"""

from __future__ import annotations

import re
import unicodedata

from kiosk.errors import IdentityError

MAX_LENGTH = 80

EMPTY = "empty"
NEEDS_DOMAIN = "needs_domain"
BAD_CHARACTER = "bad_character"
EMPTY_USER = "empty_user"
BAD_DOMAIN = "bad_domain"
TOO_LONG = "too_long"

CODES = (EMPTY, NEEDS_DOMAIN, BAD_CHARACTER, EMPTY_USER, BAD_DOMAIN, TOO_LONG)

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


def is_host_name(domain: str) -> bool:
    """True for a DNS host name: dot-separated labels of letters, digits and inner hyphens."""
    if not domain or len(domain) > 253 or not domain.isascii():
        return False
    return all(_LABEL.fullmatch(label) for label in domain.split("."))


def _bad_char(ch: str) -> bool:
    return ch == "/" or ch.isspace() or unicodedata.category(ch).startswith("C")


#: No user ID starts like a spreadsheet formula: such text is refused before it is kept
#: anywhere (the session log, its CSV exports).
FORMULA_START = ("=", "+", "-", "\uff1d", "\uff0b", "\uff0d")


def normalise_user_id(
    typed: str,
    *,
    option_domain: str = "",
    default_domain: str = "",
    append_domain: bool = True,
) -> str:
    """The full user ID for what the agent typed.

    An ID with `@` is used as typed, but for the domain's case. A bare user part gets
    `option_domain` (typed under *Show options*) if any, else `default_domain` when
    `append_domain` is on; otherwise it is refused with `needs_domain`.
    """
    text = typed.strip()
    if not text:
        raise IdentityError(EMPTY)
    if any(_bad_char(ch) for ch in text) or text.count("@") > 1 or \
            text.startswith(FORMULA_START):
        raise IdentityError(BAD_CHARACTER)
    if "@" in text:
        user, domain = text.split("@")
    else:
        user = text
        domain = option_domain.strip().lstrip("@") or (default_domain if append_domain else "")
        if not domain:
            raise IdentityError(NEEDS_DOMAIN)
    if not user:
        raise IdentityError(EMPTY_USER)
    if not is_host_name(domain):
        raise IdentityError(BAD_DOMAIN)
    full = f"{user}@{domain.lower()}"
    if len(full) > MAX_LENGTH:
        raise IdentityError(TOO_LONG)
    return full


def is_full_user_id(value: str) -> bool:
    """True when `value` is a valid `user@domain` as it stands (no blanks around it)."""
    if "@" not in value or value != value.strip():
        return False
    try:
        normalise_user_id(value, append_domain=False)
    except IdentityError:
        return False
    return True


def user_part(user_id: str) -> str:
    """The part before the `@` (what an agent with an append domain types)."""
    return user_id.split("@", 1)[0]
