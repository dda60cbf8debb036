"""Badge → user ID: a local table facilities manage, and optionally the site's LDAP directory.

A badge number is an identifier, not a secret, but a leaked prox number can be cloned: the
table keeps a keyed hash of each number (HMAC-SHA256 with the unit's `badge.key_file`), never
the number, and shows numbers masked (`••••5678`).

```python
table = BadgeTable("/etc/hotdesk/badges.json", key_file="/etc/hotdesk/badge-key")
table.add("0004521788", "mai@corp.example.au")
table.lookup("0004521788")                  # "mai@corp.example.au", or None
directory = BadgeDirectory(server, bind_dn=…, password=…, base=…,
                           filter_template="(employeeNumber={badge})", attribute="mail")
resolve = BadgeResolver(table, directory)   # the table first, then the directory (cached)
```
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

WELL_FORMED = re.compile(r"[0-9A-F]+")


class BadgeError(ValueError):
    """A badge number, a table or a CSV file that cannot be used; the message says which."""


def normalise(number: str) -> str:
    """A badge number as readers type it: digits or hex, upper case, no spaces."""
    number = number.strip().replace(" ", "").upper()
    if not number or not WELL_FORMED.fullmatch(number):
        raise BadgeError("a badge number is digits or hexadecimal digits")
    return number


def mask(number: str) -> str:
    """What a screen or a listing shows of a badge number: its last four characters."""
    return "••••" + number[-4:] if len(number) > 4 else "••••"


class BadgeTable:
    """The unit's badge table, a JSON file written atomically (`badges.json`: keyed hash →
    user ID and the masked number). The key (`key_file`, 32 random bytes as hex) is made on
    first use, readable by root and the kiosk's group only."""

    def __init__(self, path: str | Path, *, key_file: str | Path):
        self.path = Path(path)
        self.key_file = Path(key_file)
        self._lock = threading.Lock()
        self._cache: tuple[float, dict] | None = None

    # --- the key ----------------------------------------------------------------------------

    def _key(self, *, create: bool) -> bytes | None:
        try:
            return bytes.fromhex(self.key_file.read_text().strip())
        except FileNotFoundError:
            if not create:
                return None
        except ValueError:
            raise BadgeError(f"{self.key_file} does not hold a key") from None
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        _group_of_folder(self.key_file)
        return bytes.fromhex(self.key_file.read_text().strip())

    def keyed(self, number: str, *, create: bool = False) -> str | None:
        key = self._key(create=create)
        if key is None:
            return None
        return hmac.new(key, normalise(number).encode(), hashlib.sha256).hexdigest()

    # --- the table --------------------------------------------------------------------------

    def entries(self) -> dict[str, dict]:
        """keyed hash → {"user_id", "masked"}; re-read when the file changed."""
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        with self._lock:
            if self._cache is not None and self._cache[0] == stamp:
                return self._cache[1]
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise BadgeError(f"cannot read the badge table {self.path}: {exc}") from None
            self._cache = (stamp, data.get("badges", {}))
            return self._cache[1]

    def lookup(self, number: str) -> str | None:
        """The user ID for a badge number, or None."""
        keyed = self.keyed(number)
        entry = self.entries().get(keyed) if keyed else None
        return entry["user_id"] if entry else None

    def _write(self, badges: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"badges": badges}, out, ensure_ascii=False, indent=1, sort_keys=True)
        _group_of_folder(temporary)
        temporary.replace(self.path)

    def add(self, number: str, user_id: str) -> bool:
        """Map a badge to a user ID; True when it was new (else it is re-mapped)."""
        number = normalise(number)
        keyed = self.keyed(number, create=True)
        badges = dict(self.entries())
        new = keyed not in badges
        badges[keyed] = {"user_id": user_id, "masked": mask(number)}
        self._write(badges)
        return new

    def remove(self, number: str) -> bool:
        keyed = self.keyed(number)
        badges = dict(self.entries())
        if keyed is None or keyed not in badges:
            return False
        del badges[keyed]
        self._write(badges)
        return True

    def import_csv(self, path: str | Path, *, check_user: Callable[[str], str],
                   replace: bool = False) -> int:
        """Rows of `badge,user_id` (with that header); `check_user` normalises a user ID or
        raises ValueError. Every problem is found before anything is written; returns how many
        badges were imported."""
        rows, problems = [], []
        with open(path, encoding="utf-8-sig", newline="") as source:
            reader = csv.DictReader(source)
            if reader.fieldnames is None or [f.strip().lower() for f in reader.fieldnames] \
                    != ["badge", "user_id"]:
                raise BadgeError(f"{path}: the first line must be the header badge,user_id")
            for line, row in enumerate(reader, start=2):
                try:
                    rows.append((normalise(row["badge"] or ""),
                                 check_user((row["user_id"] or "").strip())))
                except ValueError as exc:
                    problems.append(f"line {line}: {exc}")
        if problems:
            raise BadgeError(f"{path}: " + "; ".join(problems[:10]) +
                             (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
        badges = {} if replace else dict(self.entries())
        self._key(create=True)
        for number, user_id in rows:
            badges[self.keyed(number)] = {"user_id": user_id, "masked": mask(number)}
        self._write(badges)
        return len(rows)


def _group_of_folder(path: Path) -> None:
    """Written by root (under sudo) into /etc/hotdesk: the file takes the folder's group
    (`hotdesk`), so that the kiosk may read it; others may not (mode 0640)."""
    if os.geteuid() == 0:
        os.chown(path, -1, path.parent.stat().st_gid)


class BadgeDirectory:
    """Badge numbers looked up in the site's directory over LDAP (ldap3): `filter_template`
    with `{badge}` (escaped), the user ID in `attribute`; answers cached for `cache_s`.
    `connect()`: an ldap3 Connection, bound (the seam: tests pass ldap3's mock)."""

    def __init__(self, connect: Callable[[], object], *, base: str, filter_template: str,
                 attribute: str, cache_s: float = 3600, clock=time.monotonic):
        self.connect = connect
        self.base = base
        self.filter_template = filter_template
        self.attribute = attribute
        self.cache_s = cache_s
        self.clock = clock
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, number: str) -> str | None:
        from ldap3.utils.conv import escape_filter_chars

        number = normalise(number)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(number)
            if hit is not None and now - hit[0] < self.cache_s:
                return hit[1]
        search = self.filter_template.replace("{badge}", escape_filter_chars(number))
        connection = self.connect()
        try:
            connection.search(self.base, search, attributes=[self.attribute], size_limit=2)
            entries = list(connection.entries)
        finally:
            connection.unbind()
        user_id = None
        if len(entries) == 1 and self.attribute in entries[0]:
            values = entries[0][self.attribute].values
            user_id = str(values[0]).strip() if values else None
        with self._lock:
            self._cache[number] = (now, user_id)
        return user_id


def ldap_connector(url: str, *, bind_dn: str, password: str, ca_bundle: str | None = None):
    """A `connect()` for `BadgeDirectory`: TLS verified (ldaps://, or StartTLS on ldap://)."""
    import ssl

    from ldap3 import Connection, Server, Tls

    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_bundle or None)
    server = Server(url, use_ssl=url.startswith("ldaps://"), tls=tls, connect_timeout=5)

    def connect():
        connection = Connection(server, user=bind_dn or None, password=password or None,
                                receive_timeout=5, raise_exceptions=True)
        if not url.startswith("ldaps://"):
            connection.open()
            connection.start_tls()
        connection.bind()
        return connection

    return connect


class BadgeResolver:
    """A badge number → (user ID, where it was found), or None: the table first, then the
    directory (when there is one)."""

    def __init__(self, table: BadgeTable, directory: BadgeDirectory | None = None):
        self.table = table
        self.directory = directory

    def __call__(self, number: str) -> tuple[str, str] | None:
        user_id = self.table.lookup(number)
        if user_id:
            return user_id, "table"
        if self.directory is not None:
            user_id = self.directory.lookup(number)
            if user_id:
                return user_id, "directory"
        return None


def resolver_for(config) -> BadgeResolver:
    """The table, then the site's directory when `badge.ldap_url` is set."""
    directory = None
    if config.badge.ldap_url:
        password = ""
        if config.badge.ldap_password_file is not None:
            password = config.badge.ldap_password_file.read_text().strip()
        directory = BadgeDirectory(
            ldap_connector(config.badge.ldap_url, bind_dn=config.badge.ldap_bind_dn,
                           password=password,
                           ca_bundle=str(config.badge.ldap_ca_bundle or "") or None),
            base=config.badge.ldap_base, filter_template=config.badge.ldap_filter,
            attribute=config.badge.ldap_attribute, cache_s=config.badge.ldap_cache_s)
    return BadgeResolver(BadgeTable(config.badge.table, key_file=config.badge.key_file),
                         directory)
