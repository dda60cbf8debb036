"""Badge → user ID: a local table facilities manage, and optionally the site's LDAP directory.

A badge number is an identifier, not a secret, but a leaked prox number can be cloned, and
these are door badges. The table keeps neither the number nor any of its digits: each number
is a keyed, deliberately slow hash (scrypt, with the unit's 32-byte key as its salt). The key
is root's alone (`/etc/hotdesk/badge-key`, mode 0600), handed to the kiosk as the systemd
credential `badge-key`: a local user, the `hotdesk` group included, cannot test guesses
against the table; a thief holding the SD card (key and all) pays one scrypt per guess.

```python
table = BadgeTable("/etc/hotdesk/badges.json", key_file="/etc/hotdesk/badge-key")
table.add("0004521788", "mai@corp.example.au")
table.lookup("0004521788")                  # "mai@corp.example.au", or None
directory = BadgeDirectory(connect, base=…, filter_template="(employeeNumber={badge})",
                           attribute="mail")
resolve = BadgeResolver(table, directory)   # the table first, then the directory (cached)
```
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import hmac
import io
import json
import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

WELL_FORMED = re.compile(r"[0-9A-F]+")
SEPARATORS = re.compile(r"[\s:.\-]")  # A1:B2:C3:D4, A1-B2-C3-D4, 0004 5217 88
MAX_NUMBER = 64
KEY_CREDENTIAL = "badge-key"
#: scrypt's cost: 8 MiB and ~30 ms a number on a desktop core (`make bench` prints it)
SCRYPT = {"n": 2 ** 13, "r": 8, "p": 1}
#: `badges import`: the largest file and the most rows taken in one go
MAX_IMPORT_BYTES = 4 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
FORMAT = 2


class BadgeError(ValueError):
    """A badge number, a table or a CSV file that cannot be used; the message says which."""


def normalise(number: str) -> str:
    """A badge number as one string: digits or hex, upper case, no spaces or separators;
    `0xA1B2C3D4` and `A1:B2:C3:D4` (as readers and access-control exports print them) are
    `A1B2C3D4`."""
    text = SEPARATORS.sub("", number.strip()).upper()
    if text.startswith("0X") and len(text) > 2:
        text = text[2:]
    if not text or not WELL_FORMED.fullmatch(text):
        raise BadgeError("a badge number is digits or hexadecimal digits (0x…, A1:B2:… "
                         "accepted)")
    if len(text) > MAX_NUMBER:
        raise BadgeError(f"a badge number has at most {MAX_NUMBER} digits")
    return text


def mask(number: str) -> str:
    """What a person setting a reader up sees of a number just read (never stored): its
    last four characters."""
    return "••••" + number[-4:] if len(number) > 4 else "••••"


def key_path(key_file: str | Path, environ: Mapping[str, str] = os.environ) -> Path:
    """Where the key is read from: the service's credential, else `key_file` (root)."""
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / KEY_CREDENTIAL).exists():
        return Path(credentials) / KEY_CREDENTIAL
    return Path(key_file)


class BadgeTable:
    """The unit's badge table, a JSON file written atomically (`badges.json`, mode 0640, the
    kiosk's group): scrypt hash → user ID and the day it was added. Tables written by
    earlier versions (HMAC-SHA256 and the last four digits) still match; any write drops
    their digits, and `kiosk badges import --replace` re-hashes them."""

    def __init__(self, path: str | Path, *, key_file: str | Path,
                 environ: Mapping[str, str] = os.environ):
        self.path = Path(path)
        self.key_file = Path(key_file)
        self.environ = environ
        self._lock = threading.Lock()
        self._cache: tuple[int, dict] | None = None

    # --- the key ----------------------------------------------------------------------------

    def key(self, *, create: bool = False) -> bytes | None:
        """The key, or None when there is none yet (made by root's first write, 0600)."""
        path = key_path(self.key_file, self.environ)
        try:
            return bytes.fromhex(path.read_text().strip())
        except FileNotFoundError:
            if not create:
                return None
        except PermissionError:
            raise BadgeError(f"cannot read the badge key {path}: permission denied (it is "
                             "root's: use sudo)") from None
        except ValueError:
            raise BadgeError(f"{path} does not hold a key") from None
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        return bytes.fromhex(self.key_file.read_text().strip())

    def hashed(self, number: str, key: bytes) -> str:
        return hashlib.scrypt(normalise(number).encode(), salt=key, dklen=32,
                              maxmem=64 * 1024 * 1024, **SCRYPT).hex()

    def reference(self, number: str) -> str | None:
        """What the session log and the screen say of a badge: `#` and eight hex digits of
        its hash, the same for the same badge, meaningless without the key."""
        key = self.key()
        return "#" + self.hashed(number, key)[:8] if key else None

    # --- the table --------------------------------------------------------------------------

    def _read(self) -> dict:
        """{"badges": {hash: entry}, "legacy": {hmac: entry}}; re-read when the file changed."""
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {"badges": {}, "legacy": {}}
        with self._lock:
            if self._cache is not None and self._cache[0] == stamp:
                return self._cache[1]
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("format") == FORMAT:
                    table = {"badges": data["badges"], "legacy": data.get("legacy", {})}
                else:  # version 1: HMAC-SHA256, with the last four digits
                    table = {"badges": {}, "legacy": {
                        keyed: {"user_id": entry["user_id"]}
                        for keyed, entry in data.get("badges", {}).items()}}
            except PermissionError:
                raise BadgeError(f"cannot read the badge table {self.path}: permission denied "
                                 "(use sudo)") from None
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise BadgeError(f"cannot read the badge table {self.path}: {exc}") from None
            self._cache = (stamp, table)
            return table

    def lookup(self, number: str) -> str | None:
        """The user ID for a badge number, or None."""
        return self.lookup_with_reference(number)[0]

    def lookup_with_reference(self, number: str) -> tuple[str | None, str]:
        """The user ID (or None) and the badge's reference, from one hash."""
        key = self.key()
        table = self._read()
        if key is None:
            return None, "#?"
        keyed = self.hashed(number, key)
        entry = table["badges"].get(keyed)
        if entry is None and table["legacy"]:
            legacy = hmac.new(key, normalise(number).encode(), hashlib.sha256).hexdigest()
            entry = table["legacy"].get(legacy)
        return (entry["user_id"] if entry else None), "#" + keyed[:8]

    def listing(self) -> list[dict]:
        """Every badge: its reference, user ID, the day it was added, and whether it still
        has the old hash (re-import to strengthen it)."""
        table = self._read()
        rows = [{"ref": "#" + k[:8], "user_id": e["user_id"], "added": e.get("added"),
                 "old_hash": False} for k, e in table["badges"].items()]
        rows += [{"ref": "#" + k[:8], "user_id": e["user_id"], "added": None, "old_hash": True}
                 for k, e in table["legacy"].items()]
        return sorted(rows, key=lambda r: (r["user_id"], r["ref"]))

    def __len__(self) -> int:
        table = self._read()
        return len(table["badges"]) + len(table["legacy"])

    def _write(self, table: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"format": FORMAT, "scrypt": SCRYPT, "badges": table["badges"],
                       "legacy": table["legacy"]}, out, ensure_ascii=False, indent=1,
                      sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        _group_of_folder(temporary)
        temporary.replace(self.path)

    def _copy(self) -> dict:
        table = self._read()
        return {"badges": dict(table["badges"]), "legacy": dict(table["legacy"])}

    def _drop_legacy(self, table: dict, key: bytes, number: str) -> None:
        legacy = hmac.new(key, normalise(number).encode(), hashlib.sha256).hexdigest()
        table["legacy"].pop(legacy, None)

    def add(self, number: str, user_id: str) -> bool:
        """Map a badge to a user ID; True when it was new (else it is re-mapped)."""
        key = self.key(create=True)
        table = self._copy()
        keyed = self.hashed(number, key)
        new = keyed not in table["badges"]
        self._drop_legacy(table, key, number)
        table["badges"][keyed] = {"user_id": user_id, "added": date.today().isoformat()}
        self._write(table)
        return new

    def remove(self, number: str) -> bool:
        key = self.key()
        if key is None:
            return False
        table = self._copy()
        before = len(table["badges"]) + len(table["legacy"])
        table["badges"].pop(self.hashed(number, key), None)
        self._drop_legacy(table, key, number)
        if len(table["badges"]) + len(table["legacy"]) == before:
            return False
        self._write(table)
        return True

    def remove_user(self, user_id: str, same: Callable[[str, str], bool]) -> int:
        """Forget every badge of one agent (who left, or lost a badge); returns how many."""
        table = self._copy()
        gone = 0
        for part in ("badges", "legacy"):
            for keyed in [k for k, e in table[part].items() if same(e["user_id"], user_id)]:
                del table[part][keyed]
                gone += 1
        if gone:
            self._write(table)
        return gone

    def import_csv(self, path: str | Path, *, check_user: Callable[[str], str],
                   replace: bool = False, min_length: int = 1, max_length: int = MAX_NUMBER,
                   same: Callable[[str, str], bool] = str.__eq__,
                   progress: Callable[[int, int], None] = lambda done, total: None) -> int:
        """Rows of `badge,user_id` (with that header); `check_user` normalises a user ID or
        raises ValueError. Every problem is found, each named by its line, before anything is
        written; returns how many badges were imported."""
        rows = read_import(path, check_user=check_user, min_length=min_length,
                           max_length=max_length)
        key = self.key(create=True)
        hashes: list[str] = []
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for done, keyed in enumerate(pool.map(lambda row: self.hashed(row[1], key), rows),
                                         start=1):
                hashes.append(keyed)
                if done % 200 == 0 or done == len(rows):
                    progress(done, len(rows))
        table = {"badges": {}, "legacy": {}} if replace else self._copy()
        problems, seen = [], {}
        for (line, _number, user_id), keyed in zip(rows, hashes, strict=True):
            if keyed in seen:
                problems.append(f"line {line}: the same badge as line {seen[keyed]}")
                continue
            seen[keyed] = line
            mapped = table["badges"].get(keyed)
            if mapped is not None and not same(mapped["user_id"], user_id):
                problems.append(f"line {line}: that badge is already {mapped['user_id']}'s "
                                "(kiosk badges remove it first, or import with --replace)")
        _raise_problems(path, problems)
        today = date.today().isoformat()
        for (_line, number, user_id), keyed in zip(rows, hashes, strict=True):
            self._drop_legacy(table, key, number)
            table["badges"][keyed] = {"user_id": user_id, "added": today}
        self._write(table)
        return len(rows)


def read_import(path: str | Path, *, check_user: Callable[[str], str], min_length: int = 1,
                max_length: int = MAX_NUMBER) -> list[tuple[int, str, str]]:
    """The rows of an import file as (line, number, user ID): at most `MAX_IMPORT_BYTES` and
    `MAX_IMPORT_ROWS`, UTF-8, every bad row named by its line (`BadgeError`)."""
    try:
        with open(path, "rb") as source:
            data = source.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise BadgeError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_IMPORT_BYTES:
        raise BadgeError(f"{path} is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB: "
                         f"split it (at most {MAX_IMPORT_ROWS:,} badges a file)")
    try:
        text = codecs.decode(data, "utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise BadgeError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02X}); "
                         "save the file as CSV UTF-8") from None
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise BadgeError(f"{path}: line {line}: a NUL character: this is not a CSV file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = next(reader, None)
    if header is None or [f.strip().lower() for f in header] != ["badge", "user_id"]:
        raise BadgeError(f"{path}: the first line must be the header badge,user_id")
    rows, problems = [], []
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a field of megabytes, a stray quote
            raise BadgeError(f"{path}: line {reader.line_num}: {exc}") from None
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue  # a blank line
        if len(rows) >= MAX_IMPORT_ROWS:
            raise BadgeError(f"{path}: more than {MAX_IMPORT_ROWS:,} badges: split the file")
        if len(fields) != 2:
            problems.append(f"line {line}: {len(fields)} fields where badge,user_id is two")
            continue
        badge, user_id = (f.strip() for f in fields)
        try:
            number = normalise(badge)
            if not min_length <= len(number) <= max_length:
                raise BadgeError(f"{len(number)} digits: no read can match it (the reader "
                                 f"takes {min_length} to {max_length}: badge.min_length, "
                                 "badge.max_length)")
            rows.append((line, number, check_user(user_id[:256])))
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
    _raise_problems(path, problems)
    return rows


def _raise_problems(path, problems: list[str]) -> None:
    if problems:
        raise BadgeError(f"{path}: nothing imported; " + "; ".join(problems[:10]) +
                         (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))


def _group_of_folder(path: Path) -> None:
    """Written by root (under sudo) into /etc/hotdesk: the file takes the folder's group
    (`hotdesk`), so that the kiosk may read it; others may not (mode 0640)."""
    if os.geteuid() == 0:
        os.chown(path, -1, path.parent.stat().st_gid)


class DirectoryUnavailable(Exception):
    """The site's directory could not be asked (down, unreachable, TLS refused, bind refused):
    an outage, not an unknown badge. The message never holds the bind password."""


class BadgeDirectory:
    """Badge numbers looked up in the site's directory over LDAP (ldap3): `filter_template`
    with `{badge}` (escaped), the user ID in `attribute`, checked by `check_user` (a value
    that is no user ID counts as no answer, and is logged). Answers are cached for `cache_s`
    (unknown badges for at most a minute, failures never), at most `cache_size` of them.
    `connect()`: an ldap3 Connection, bound (the seam: tests pass ldap3's mock)."""

    NEGATIVE_CACHE_S = 60

    def __init__(self, connect: Callable[[], object], *, base: str, filter_template: str,
                 attribute: str, cache_s: float = 3600, cache_size: int = 1024,
                 check_user: Callable[[str], str] | None = None, clock=time.monotonic):
        self.connect = connect
        self.base = base
        self.filter_template = filter_template
        self.attribute = attribute
        self.cache_s = cache_s
        self.cache_size = cache_size
        self.check_user = check_user
        self.clock = clock
        self.asked = 0  # how many searches went to the directory
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, number: str) -> str | None:
        """The user ID the directory gives this badge, or None; `DirectoryUnavailable` when
        the directory could not be asked."""
        from ldap3.core.exceptions import LDAPException
        from ldap3.utils.conv import escape_filter_chars

        number = normalise(number)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(number)
            if hit is not None:
                kept = self.cache_s if hit[1] else min(self.cache_s, self.NEGATIVE_CACHE_S)
                if now - hit[0] < kept:
                    self._cache.move_to_end(number)
                    return hit[1]
                del self._cache[number]
        search = self.filter_template.replace("{badge}", escape_filter_chars(number))
        self.asked += 1
        try:
            connection = self.connect()
            try:
                connection.search(self.base, search, attributes=[self.attribute], size_limit=2)
                entries = list(connection.entries)
            finally:
                connection.unbind()
        except (LDAPException, OSError) as exc:
            raise DirectoryUnavailable(_ldap_reason(exc)) from None
        user_id = self._user_id(entries)
        with self._lock:
            self._cache[number] = (now, user_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return user_id

    def _user_id(self, entries: list) -> str | None:
        if len(entries) != 1 or self.attribute not in entries[0]:
            return None  # none, or two people with one badge: not ours to choose
        values = entries[0][self.attribute].values
        if len(values) != 1:
            return None
        value = str(values[0])
        if self.check_user is None:
            return value.strip() or None
        try:
            return self.check_user(value)
        except ValueError:
            log.warning("the directory's %s for a badge is no usable user ID (%s): ignored",
                        self.attribute, ascii(value[:40]))
            return None

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def _ldap_reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


def ldap_connector(url: str, *, bind_dn: str, password: str, ca_bundle: str | None = None,
                   timeout_s: float = 5):
    """A `connect()` for `BadgeDirectory`: TLS verified (ldaps://, or StartTLS on ldap://),
    referrals never followed (a referral could send the bind to any host, in clear). A new
    `Server` each time, so that a blip is forgotten as soon as the directory is back."""
    import ssl

    from ldap3 import Connection, Server, Tls

    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_bundle or None)

    def connect():
        server = Server(url, use_ssl=url.startswith("ldaps://"), tls=tls,
                        connect_timeout=timeout_s)
        connection = Connection(server, user=bind_dn or None, password=password or None,
                                receive_timeout=timeout_s, raise_exceptions=True,
                                auto_referrals=False, read_only=True)
        if not url.startswith("ldaps://"):
            connection.open()
            connection.start_tls()
        connection.bind()
        return connection

    return connect


class TapLimit:
    """At most `burst` badge reads at once, then one every `every_s`; a reader that keeps
    going past that is ignored for `backoff_s`, doubling (to `max_backoff_s`) while it keeps
    going. `allow()` says whether a read is taken; `first_refused()` whether this refusal is
    the first of its back-off (the only one worth a line in the log)."""

    def __init__(self, *, burst: int = 5, every_s: float = 2.0, backoff_s: float = 10.0,
                 max_backoff_s: float = 300.0, clock=time.monotonic):
        self.burst, self.every_s = burst, every_s
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._blocked_until = 0.0
        self._penalty = backoff_s
        self.refused = 0  # refused since the last read taken
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) / self.every_s)
            self._at = now
            if now < self._blocked_until:
                self.refused += 1
                if now >= self._blocked_until - self._penalty / 2:  # still at it: longer
                    self._penalty = min(self._penalty * 2, self.max_backoff_s)
                    self._blocked_until = now + self._penalty
                return False
            if self._tokens >= 1:
                self._tokens -= 1
                if self._tokens >= 1:
                    self._penalty = self.backoff_s  # calm again
                self.refused = 0
                return True
            self.refused += 1
            self._blocked_until = now + self._penalty
            return False

    @property
    def blocked_for_s(self) -> float:
        return max(0.0, self._blocked_until - self.clock())


class ReferencedError(Exception):
    """A lookup that failed (`error`), with the badge's reference already known (`ref`)."""

    def __init__(self, ref: str, error: Exception):
        super().__init__(str(error))
        self.ref, self.error = ref, error


class BadgeResolver:
    """A badge number → (user ID, where it was found), or None: the table first, then the
    directory (when there is one); `DirectoryUnavailable` when only the directory could
    have answered and it could not be asked."""

    def __init__(self, table: BadgeTable, directory: BadgeDirectory | None = None,
                 problem: str | None = None):
        self.table = table
        self.directory = directory
        self.problem = problem  # why the configured directory cannot be used (for doctor)

    def __call__(self, number: str) -> tuple[str, str] | None:
        try:
            return self.look_up(number)[1]
        except ReferencedError as exc:
            raise exc.error from None

    def look_up(self, number: str) -> tuple[str, tuple[str, str] | None]:
        """The badge's reference as the log shows it (`#` and 8 hex digits; `#?` without a
        key), and what `__call__` answers; one hash for both."""
        user_id, ref = self.table.lookup_with_reference(number)
        if user_id:
            return ref, (user_id, "table")
        if self.problem is not None:
            raise ReferencedError(ref, DirectoryUnavailable(self.problem))
        if self.directory is not None:
            try:
                user_id = self.directory.lookup(number)
            except DirectoryUnavailable as exc:
                raise ReferencedError(ref, exc) from None
            if user_id:
                return ref, (user_id, "directory")
        return ref, None


def resolver_for(config, environ: Mapping[str, str] = os.environ) -> BadgeResolver:
    """The table, then the site's directory when `badge.ldap_url` is set. A directory whose
    password cannot be read leaves the table working and says why (`problem`)."""
    from kiosk.config import ConfigError, ldap_password

    table = BadgeTable(config.badge.table, key_file=config.badge.key_file, environ=environ)
    if not config.badge.ldap_url:
        return BadgeResolver(table)
    try:
        password = ldap_password(config, environ=environ)
    except ConfigError as exc:
        problem = "; ".join(str(p) for p in exc.problems)
        log.error("badge directory not used: %s", problem)
        return BadgeResolver(table, problem=f"the directory's password: {problem}")
    directory = BadgeDirectory(
        ldap_connector(config.badge.ldap_url, bind_dn=config.badge.ldap_bind_dn,
                       password=password.reveal() if password else "",
                       ca_bundle=str(config.badge.ldap_ca_bundle or "") or None),
        base=config.badge.ldap_base, filter_template=config.badge.ldap_filter,
        attribute=config.badge.ldap_attribute, cache_s=config.badge.ldap_cache_s,
        check_user=user_checker(config))
    return BadgeResolver(table, directory)


def user_checker(config) -> Callable[[str], str]:
    """A user ID as the kiosk takes it (`normalise_user_id` with this unit's domain rules);
    ValueError naming what is wrong."""
    from kiosk.errors import IdentityError
    from kiosk.identity import normalise_user_id

    def check(user_id: str) -> str:
        try:
            return normalise_user_id(user_id, default_domain=config.callcenter.default_domain,
                                     append_domain=config.signin.append_domain)
        except IdentityError as exc:
            raise ValueError(f"{user_id[:60]!a} is not a usable user ID "
                             f"({exc.code})") from None
    return check
