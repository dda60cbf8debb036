"""The HD-AT/1 codec (V.250 AT commands for desk phones): pure functions over bytes and text.

Encoding follows the contract's string rules: inside a quoted string, `"`, `\\` and every byte
below 0x20 or equal to 0x7F are written `\\HH`, so that no argument -- a display name holding
quotes, CR, LF or `AT+HDREL` -- can ever end the line or start a second command.

Decoding splits the byte stream into lines (`LineSplitter`) and sorts each line into an echo of
what we sent, an information line, a final result code, or an unsolicited result code (URC).
The phone simulator parses commands with `parse_command`, the same rules read from the other end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

MAX_LINE = 256  # bytes, CR included: a longer command line gets ERROR
URC_PREFIXES = ("+HDHOOK", "+HDREG", "+HDBOOT")


class ATSyntaxError(ValueError):
    """A command or argument list that breaks the V.250 rules."""


# --- strings ------------------------------------------------------------------------------


def _needs_escape(byte: int) -> bool:
    return byte < 0x20 or byte == 0x7F or byte in (0x22, 0x5C)


def quote(text: str) -> str:
    """`text` as a quoted AT string argument, escaped so it stays one argument on one line."""
    out = []
    for ch in text:
        encoded = ch.encode("utf-8")
        if len(encoded) == 1 and _needs_escape(encoded[0]):
            out.append(f"\\{encoded[0]:02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _unescape(raw: bytes) -> str:
    """The text of a quoted string's inside (`\\HH` resolved); refuses bare control bytes."""
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x5C:
            pair = raw[i + 1:i + 3]
            if len(pair) != 2 or not re.fullmatch(rb"[0-9A-Fa-f]{2}", pair):
                raise ATSyntaxError("a backslash must be followed by two hex digits")
            out.append(int(pair, 16))
            i += 3
            continue
        if byte < 0x20 or byte == 0x7F or byte == 0x22:
            raise ATSyntaxError("unescaped control byte or quote inside a string")
        out.append(byte)
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ATSyntaxError("string is not UTF-8") from None


def parse_arguments(raw: bytes) -> list[str | int | list]:
    """Split an argument list (`1,"a\\22b",,("x","y")`) into strings, numbers and lists.

    An empty argument is the empty string. Raises `ATSyntaxError`.
    """
    args: list[str | int | list] = []
    i = 0
    if raw == b"":
        return args
    while True:
        if raw[i:i + 1] == b'"':
            end = raw.find(b'"', i + 1)
            if end < 0:
                raise ATSyntaxError("unterminated string")
            args.append(_unescape(raw[i + 1:end]))
            i = end + 1
        elif raw[i:i + 1] == b"(":
            end = raw.find(b")", i)
            if end < 0:
                raise ATSyntaxError("unterminated list")
            args.append(parse_arguments(raw[i + 1:end]))
            i = end + 1
        else:
            m = re.compile(rb"[0-9]*").match(raw, i)
            token = m.group(0)
            args.append(int(token) if token else "")
            i = m.end()
        if i == len(raw):
            return args
        if raw[i:i + 1] != b",":
            raise ATSyntaxError(f"unexpected {raw[i:i + 1]!r} in arguments")
        i += 1
        if i == len(raw):
            args.append("")
            return args


# --- commands -----------------------------------------------------------------------------


def encode_command(name: str, *args: str | int, query: bool = False, test: bool = False) -> bytes:
    """One command line: `AT` + name [+ `=args` | `?` | `=?`] + CR.

    `name` is the command after `AT` (`+HDLINE`, `E0`, `""` for plain `AT`). Strings are quoted
    and escaped; numbers are written in decimal. Raises `ValueError` when the line would be
    longer than the phone accepts (256 bytes).
    """
    if not re.fullmatch(r"(\+[A-Z]+|[A-Z]?[0-9]?|)", name):
        raise ValueError(f"not an AT command name: {name!r}")
    line = "AT" + name
    if test:
        line += "=?"
    elif query:
        line += "?"
    elif args:
        parts = []
        for arg in args:
            if isinstance(arg, bool) or not isinstance(arg, int | str):
                raise TypeError(f"AT arguments are str or int, not {type(arg).__name__}")
            parts.append(str(arg) if isinstance(arg, int) else quote(arg))
        line += "=" + ",".join(parts)
    data = line.encode("utf-8") + b"\r"
    if len(data) > MAX_LINE:
        raise ValueError(f"command line of {len(data)} bytes is longer than {MAX_LINE}")
    return data


class Form(Enum):
    ACTION = "action"  # AT+CMD
    SET = "set"  # AT+CMD=args
    READ = "read"  # AT+CMD?
    TEST = "test"  # AT+CMD=?


@dataclass(frozen=True)
class Command:
    name: str  # "+HDLINE", "E0", "Z", "" for plain AT
    form: Form
    args: tuple = ()


def parse_command(line: bytes) -> Command:
    """A received command line (without its CR) as the phone reads it. Raises `ATSyntaxError`."""
    if len(line) + 1 > MAX_LINE:
        raise ATSyntaxError("line too long")
    if line[:2].upper() != b"AT":
        raise ATSyntaxError("not an AT command")
    rest = line[2:]
    m = re.match(rb"\+[A-Za-z]+", rest)
    if m is None:
        if re.fullmatch(rb"[A-Za-z]?[0-9]?", rest):
            return Command(rest.decode("ascii").upper(), Form.ACTION)
        raise ATSyntaxError("unknown basic command")
    name = m.group(0).decode("ascii").upper()
    tail = rest[m.end():]
    if tail == b"":
        return Command(name, Form.ACTION)
    if tail == b"?":
        return Command(name, Form.READ)
    if tail == b"=?":
        return Command(name, Form.TEST)
    if tail.startswith(b"="):
        return Command(name, Form.SET, tuple(parse_arguments(tail[1:])))
    raise ATSyntaxError("bad command form")


# --- responses ----------------------------------------------------------------------------


class Kind(Enum):
    ECHO = "echo"
    INFO = "info"
    FINAL = "final"
    URC = "urc"
    GARBAGE = "garbage"


@dataclass(frozen=True)
class Line:
    kind: Kind
    text: str

    @property
    def ok(self) -> bool:
        return self.kind is Kind.FINAL and self.text == "OK"

    @property
    def cme_error(self) -> int | None:
        """The `n` of a `+CME ERROR: n` final result, else None."""
        m = re.fullmatch(r"\+CME ERROR: ?(\d+)", self.text)
        return int(m.group(1)) if m and self.kind is Kind.FINAL else None


_FINAL = re.compile(r"OK|ERROR|\+CME ERROR: ?\d+")


def classify(raw: bytes, *, sent: bytes | None = None) -> Line:
    """Sort one received line. `sent` is the command line in flight (for recognising its echo)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Line(Kind.GARBAGE, raw.decode("utf-8", "replace"))
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return Line(Kind.GARBAGE, text)
    if sent is not None and raw == sent.rstrip(b"\r\n"):
        return Line(Kind.ECHO, text)
    if _FINAL.fullmatch(text):
        return Line(Kind.FINAL, text)
    if text.startswith(URC_PREFIXES) and (text in URC_PREFIXES or text.split(":")[0]
                                          in URC_PREFIXES):
        return Line(Kind.URC, text)
    return Line(Kind.INFO, text)


def info_arguments(text: str, name: str) -> list | None:
    """The arguments of an information line `+NAME: args`, or None when it is another line."""
    prefix = name + ":"
    if not text.startswith(prefix):
        return None
    try:
        return parse_arguments(text[len(prefix):].strip().encode("utf-8"))
    except ATSyntaxError:
        return None


class LineSplitter:
    """Cuts a byte stream into lines at CR or LF; empty lines are dropped.

    A line that grows past `max_line` bytes without an end is cut there and returned as is
    (it will classify as garbage or info), so a babbling device cannot eat memory.
    """

    def __init__(self, max_line: int = 1024):
        self.max_line = max_line
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        lines = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._buffer:
                    lines.append(bytes(self._buffer))
                    self._buffer.clear()
            else:
                self._buffer.append(byte)
                if len(self._buffer) >= self.max_line:
                    lines.append(bytes(self._buffer))
                    self._buffer.clear()
        return lines

    def reset(self) -> None:
        self._buffer.clear()
