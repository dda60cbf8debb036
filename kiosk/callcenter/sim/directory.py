"""The simulated Call Center's directory: users, passwords and services, seeded from TOML.

```toml
[[user]]
id = "desk12@demo.example"        # required
password = "…"                    # required
first_name = "Desk"; last_name = "12"; number = "0390001012"; extension = "1012"
charset = "UTF-8"                 # or "ISO-8859-1": how this user's responses are encoded
language = "en"                   # language of ErrorInfo <summary> for this user
group = "demo"                    # BroadWorks group (for unavailable codes)
admin = false
hoteling_host = { active = true, enforce_limit = false, limit_hours = 12, access_level = "Group" }
hoteling_guest = { active = true }
call_center = { state = "Sign-Out", queues = ["sales@demo.example"] }

[[group]]                         # optional: the group's service provider and code settings
id = "demo"; service_provider = "demo-ent"; enterprise = true
enable_unavailable_codes = true; force_unavailable_codes = false

[[unavailable_code]]
group = "demo"; code = "10"; description = "Lunch"   # active = true, default = false
```
A user with neither service is a plain user; a queue is named by its service user ID.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.callcenter.codec import ACD_STATES, UnavailableCode, UnavailableCodes


class DirectoryError(ValueError):
    """The directory file is not usable; the message names the entry and the key."""


@dataclass
class HostService:
    active: bool = True
    enforce_limit: bool = False
    limit_hours: int = 24
    access_level: str = "Group"
    guest_id: str | None = None  # who sits here now (the server keeps this; Xsi shows names)


@dataclass
class GuestService:
    active: bool = True
    enable_limit: bool = False
    limit_hours: int = 24
    host_id: str | None = None
    since: str | None = None  # association time, ISO 8601


@dataclass
class CallCenterService:
    state: str = "Sign-Out"
    unavailable_code: str | None = None
    queues: list[str] = field(default_factory=list)
    joined: dict[str, bool] = field(default_factory=dict)


@dataclass
class User:
    id: str
    password: str
    first_name: str = ""
    last_name: str = ""
    number: str = ""
    extension: str = ""
    charset: str = "UTF-8"
    language: str = "en"
    group: str = "demo"
    admin: bool = False
    host: HostService | None = None
    guest: GuestService | None = None
    call_center: CallCenterService | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class Group:
    """A BroadWorks group: its service provider (or enterprise) and its unavailable codes."""

    id: str
    service_provider: str = ""  # "": the users' domain
    enterprise: bool = False
    enable_unavailable_codes: bool = True
    force_unavailable_codes: bool = False
    codes: list[UnavailableCode] = field(default_factory=list)

    def unavailable_codes(self) -> UnavailableCodes:
        return UnavailableCodes(enabled=self.enable_unavailable_codes,
                                forced=self.force_unavailable_codes, codes=tuple(self.codes))

    def active_codes(self) -> list[str]:
        return [c.code for c in self.codes if c.active and c.code]


@dataclass
class Directory:
    users: dict[str, User]
    groups: dict[str, Group] = field(default_factory=dict)

    def group(self, group_id: str) -> Group:
        return self.groups.get(group_id) or Group(group_id)

    def find(self, user_id: str) -> User | None:
        """A user by ID; the domain part matches in any case, as on the wire."""
        user = self.users.get(user_id)
        if user is None and "@" in user_id:
            local, _, domain = user_id.rpartition("@")
            user = self.users.get(f"{local}@{domain.lower()}")
        return user


_USER_KEYS = {"id", "password", "first_name", "last_name", "number", "extension", "charset",
              "language", "group", "admin", "hoteling_host", "hoteling_guest", "call_center"}


def _table(entry: dict, key: str, cls, mapping: dict[str, str], where: str):
    raw = entry.get(key)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise DirectoryError(f"{where}.{key}: must be a table")
    unknown = set(raw) - set(mapping)
    if unknown:
        raise DirectoryError(f"{where}.{key}: unknown key {sorted(unknown)[0]!r}")
    return cls(**{mapping[k]: v for k, v in raw.items()})


def parse_directory(data: dict) -> Directory:
    users: dict[str, User] = {}
    for i, entry in enumerate(data.get("user", [])):
        where = f"user[{i}]"
        unknown = set(entry) - _USER_KEYS
        if unknown:
            raise DirectoryError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        for required in ("id", "password"):
            if not isinstance(entry.get(required), str) or not entry[required]:
                raise DirectoryError(f"{where}.{required}: required")
        if "@" not in entry["id"]:
            raise DirectoryError(f"{where}.id: must be user@domain")
        if entry.get("charset", "UTF-8") not in ("UTF-8", "ISO-8859-1"):
            raise DirectoryError(f"{where}.charset: must be UTF-8 or ISO-8859-1")
        plain = {k: v for k, v in entry.items()
                 if k not in ("hoteling_host", "hoteling_guest", "call_center")}
        user = User(**plain)
        user.host = _table(entry, "hoteling_host", HostService,
                           {"active": "active", "enforce_limit": "enforce_limit",
                            "limit_hours": "limit_hours", "access_level": "access_level"}, where)
        user.guest = _table(entry, "hoteling_guest", GuestService,
                            {"active": "active", "enable_limit": "enable_limit",
                             "limit_hours": "limit_hours"}, where)
        user.call_center = _table(entry, "call_center", CallCenterService,
                                  {"state": "state", "queues": "queues",
                                   "unavailable_code": "unavailable_code"}, where)
        if user.call_center:
            if user.call_center.state not in ACD_STATES:
                raise DirectoryError(f"{where}.call_center.state: unknown ACD state")
            user.call_center.joined = {q: True for q in user.call_center.queues}
        if user.id in users:
            raise DirectoryError(f"{where}.id: {user.id} appears twice")
        users[user.id] = user
    groups: dict[str, Group] = {}
    for i, entry in enumerate(data.get("group", [])):
        unknown = set(entry) - _GROUP_KEYS
        if unknown or "id" not in entry:
            key = sorted(unknown)[0] if unknown else "id"
            raise DirectoryError(f"group[{i}].{key}: " + ("unknown key" if unknown
                                                          else "required"))
        groups[entry["id"]] = Group(**entry)
    for i, entry in enumerate(data.get("unavailable_code", [])):
        try:
            group = groups.setdefault(entry["group"], Group(entry["group"]))
            group.codes.append(UnavailableCode(
                code=str(entry["code"]), description=entry["description"],
                active=bool(entry.get("active", True)),
                is_default=bool(entry.get("default", False))))
        except KeyError as exc:
            raise DirectoryError(f"unavailable_code[{i}].{exc.args[0]}: required") from None
    return Directory(users=users, groups=groups)


_GROUP_KEYS = {"id", "service_provider", "enterprise", "enable_unavailable_codes",
               "force_unavailable_codes"}


def load_directory(path: str | Path) -> Directory:
    """Read a directory TOML file. Raises `DirectoryError` naming the faulty entry."""
    try:
        return parse_directory(tomllib.loads(Path(path).read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise DirectoryError(f"{path}: {exc}") from None
