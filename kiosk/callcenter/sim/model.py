"""The simulated Call Center's rules: who may do what, and what each Xsi request does.

`CallCenterModel.handle()` takes one request (method, path, query, headers, body) and returns a
`Reply`. It holds every rule of the contract (`docs/callcenter-xsi.md`, *What the simulator
must reproduce*): Basic auth on every request with a failed-login lock, session cookies, `403`
across users, case-insensitive service paths, PUT applying only the elements present, nil
clearing, host and guest views kept in sync, and a switch for each behaviour the public sources
leave open (`occupied`: reject or replace; `moved`: reject or move). Thread-safe: one lock.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from kiosk.callcenter import codec
from kiosk.callcenter.codec import NIL
from kiosk.callcenter.sim.agents import AgentService
from kiosk.callcenter.sim.agents import Refusal as _Refusal
from kiosk.callcenter.sim.directory import Directory, User
from kiosk.errors import ProtocolError

BASE_PATH = "/com.broadsoft.xsi-actions/v2.0"
OCCUPIED_MODES = ("reject", "replace")
MOVED_MODES = ("reject", "move")

# error code -> (English, French, German). Real codes are numbers in the thousands; these are
# the simulator's own.
MESSAGES = {
    4001: ("User not found", "Utilisateur introuvable", "Benutzer nicht gefunden"),
    4002: ("The host does not have an active Hoteling Host service",
           "L'hôte n'a pas de service Hoteling Host actif",
           "Der Host hat keinen aktiven Hoteling-Host-Dienst"),
    4003: ("The association limit exceeds the host's limit",
           "La limite d'association dépasse celle de l'hôte",
           "Das Zuordnungslimit überschreitet das Limit des Hosts"),
    4004: ("The host already has a guest", "L'hôte a déjà un invité",
           "Der Host hat bereits einen Gast"),
    4005: ("The guest is associated with another host", "L'invité est associé à un autre hôte",
           "Der Gast ist einem anderen Host zugeordnet"),
    4006: ("A host can only be set while the service is active",
           "Un hôte ne peut être défini que si le service est actif",
           "Ein Host kann nur bei aktivem Dienst gesetzt werden"),
    4007: ("Invalid value", "Valeur non valide", "Ungültiger Wert"),
    4008: ("The agent is the last one staffing a call center",
           "L'agent est le dernier à assurer une file d'attente",
           "Der Agent ist der letzte in einer Warteschlange"),
    4009: ("Service not assigned", "Le service n'est pas attribué", "Dienst nicht zugewiesen"),
    4010: ("Unknown unavailable code", "Code d'indisponibilité inconnu",
           "Unbekannter Abwesenheitscode"),
    4011: ("The request body is not valid XML", "Le corps de la requête n'est pas du XML valide",
           "Der Anfragetext ist kein gültiges XML"),
    4012: ("Not authorized to access this user", "Accès non autorisé à cet utilisateur",
           "Kein Zugriff auf diesen Benutzer"),
    4013: ("Method not allowed", "Méthode non autorisée", "Methode nicht erlaubt"),
    4014: ("An unavailable code is required", "Un code d'indisponibilité est requis",
           "Ein Abwesenheitscode ist erforderlich"),
    4015: ("The group belongs to a service provider, not an enterprise",
           "Le groupe appartient à un fournisseur de services, pas à une entreprise",
           "Die Gruppe gehört zu einem Dienstanbieter, nicht zu einem Unternehmen"),
    4016: ("enterpriseId or serviceProviderId is required",
           "enterpriseId ou serviceProviderId est requis",
           "enterpriseId oder serviceProviderId ist erforderlich"),
    4017: ("Group not found", "Groupe introuvable", "Gruppe nicht gefunden"),
}
_LANGUAGE_INDEX = {"en": 0, "fr": 1, "de": 2}

UNAUTHORIZED_PAGE = (b"<html><head><title>401 Unauthorized</title></head>"
                     b"<body><h1>Unauthorized</h1></body></html>")


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class UserStats:
    requests: int = 0
    with_cookie: int = 0
    failed_logins: int = 0
    locked: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class CallCenterModel(AgentService):
    """The state and rules of a simulated BroadWorks Call Center."""

    def __init__(self, directory: Directory, *, occupied: str = "reject", moved: str = "reject",
                 lock_after: int | None = None):
        self.directory = directory
        self.occupied = occupied
        self.moved = moved
        self.lock_after = lock_after
        self.lock = threading.RLock()
        self.stats: dict[str, UserStats] = {}
        self.cookies: dict[str, str] = {}  # JSESSIONID -> user ID
        self.requests_total = 0
        self.set_modes(occupied=occupied, moved=moved)

    def set_modes(self, *, occupied: str | None = None, moved: str | None = None) -> None:
        if occupied is not None:
            if occupied not in OCCUPIED_MODES:
                raise ValueError(f"occupied must be one of {OCCUPIED_MODES}")
            self.occupied = occupied
        if moved is not None:
            if moved not in MOVED_MODES:
                raise ValueError(f"moved must be one of {MOVED_MODES}")
            self.moved = moved

    # --- bookkeeping ------------------------------------------------------------------------

    def _stats(self, user_id: str) -> UserStats:
        return self.stats.setdefault(user_id, UserStats())

    @staticmethod
    def claimed_user(headers: dict[str, str]) -> tuple[str | None, str | None]:
        """(user ID, password) from a Basic `Authorization` header, or (None, None)."""
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        user_id, sep, password = decoded.partition(":")
        return (user_id, password) if sep else (None, None)

    def count(self, headers: dict[str, str]) -> None:
        """Count one Xsi request against the user it claims to be (before anything else)."""
        user_id, _ = self.claimed_user(headers)
        with self.lock:
            self.requests_total += 1
            if user_id:
                stats = self._stats(user_id)
                stats.requests += 1
                if self._cookie(headers) in self.cookies:
                    stats.with_cookie += 1

    @staticmethod
    def _cookie(headers: dict[str, str]) -> str | None:
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "JSESSIONID":
                return value
        return None

    # --- the request ------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> Reply:
        """One Xsi-Actions request. `headers` keys are lower-case."""
        with self.lock:
            caller = self._authenticate(headers)
            if caller is None:
                return Reply(401, UNAUTHORIZED_PAGE, {
                    "WWW-Authenticate": 'Basic realm="BroadWorks"',
                    "Content-Type": "text/html"})
            reply_headers: dict[str, str] = {}
            cookie = self._cookie(headers)
            if self.cookies.get(cookie or "") != caller.id:
                cookie = secrets.token_hex(16)
                self.cookies[cookie] = caller.id
                reply_headers["Set-Cookie"] = f"JSESSIONID={cookie}; Path=/; HttpOnly"
            try:
                if path.lower().endswith("/j_logout"):
                    self.cookies.pop(cookie, None)
                    reply_headers.pop("Set-Cookie", None)
                    reply = Reply(200)
                else:
                    reply = self._route(caller, method, path, query, body)
            except _Refusal as refusal:
                reply = self._error(caller, refusal.status, refusal.code)
            reply.headers.update(reply_headers)
            return reply

    def _authenticate(self, headers: dict[str, str]) -> User | None:
        user_id, password = self.claimed_user(headers)
        if user_id is None:
            return None
        user = self.directory.find(user_id)
        if user is None:
            return None
        stats = self._stats(user.id)
        if stats.locked:
            return None
        if not secrets.compare_digest(password.encode(), user.password.encode()):
            stats.failed_logins += 1
            if self.lock_after is not None and stats.failed_logins >= self.lock_after:
                stats.locked = True
            return None
        stats.failed_logins = 0
        return user

    def _error(self, caller: User, status: int, code: int | None) -> Reply:
        if code is None:
            return Reply(status)
        texts = MESSAGES[code]
        english = f"[Error {code}] {texts[0]}"
        local = f"[Error {code}] {texts[_LANGUAGE_INDEX.get(caller.language, 0)]}"
        info = codec.ErrorInfo(summary=local, summary_english=english, error_code=code)
        return Reply(status, codec.encode_error_info(info, encoding=caller.charset),
                     {"Content-Type": f"application/xml; charset={caller.charset}"})

    def _ok(self, caller: User, body: bytes = b"") -> Reply:
        headers = {"Content-Type": f"application/xml; charset={caller.charset}"} if body else {}
        return Reply(200, body, headers)

    def _route(self, caller: User, method: str, path: str, query: dict[str, str],
               body: bytes) -> Reply:
        if not path.lower().startswith(BASE_PATH.lower() + "/"):
            raise _Refusal(404)
        segments = [unquote(s) for s in path[len(BASE_PATH) + 1:].split("/")]
        lowered = [s.lower() for s in segments]
        if len(segments) == 5 and lowered[0] == "group" and lowered[2:] == [
                "services", "callcenter", "unavailablecodes"]:
            self._only(method, "GET")
            return self._unavailable_codes(caller, segments[1], query)
        if len(segments) < 3 or lowered[0] != "user":
            raise _Refusal(404)
        target = self.directory.find(segments[1])
        if target is None:
            raise _Refusal(404, 4001)
        self._check_rights(caller, target)
        rest = lowered[2:]
        if rest == ["profile"]:
            self._only(method, "GET")
            return self._ok(caller, self._profile(target, caller.charset))
        if rest == ["directories", "hotelinghosts"]:
            self._only(method, "GET")
            return self._ok(caller, self._available_hosts(caller.charset))
        if len(rest) == 2 and rest[0] == "services":
            handlers = {
                "hotelingguest": (self._get_guest, self._put_guest),
                "hotelinghost": (self._get_host, self._put_host),
                "callcenter": (self._get_call_center, self._put_call_center),
            }
            if rest[1] not in handlers:
                raise _Refusal(404)
            get, put = handlers[rest[1]]
            if method == "GET":
                return self._ok(caller, get(target, caller.charset))
            if method == "PUT":
                put(target, body, query)
                return self._ok(caller)
            raise _Refusal(405, 4013)
        raise _Refusal(404)

    @staticmethod
    def _only(method: str, allowed: str) -> None:
        if method != allowed:
            raise _Refusal(405, 4013)

    def _check_rights(self, caller: User, target: User) -> None:
        if caller.id == target.id or caller.admin:
            return
        # A desk's host may look after its current guest.
        if caller.host is not None and caller.host.guest_id == target.id:
            return
        raise _Refusal(403, 4012)

    @staticmethod
    def _parse(body: bytes, root: str, spec) -> dict[str, Any]:
        try:
            return codec.parse_fields(body, root, spec)
        except (ProtocolError, TypeError):
            raise _Refusal(400, 4011) from None

    # --- Profile ----------------------------------------------------------------------------

    def _profile(self, user: User, charset: str) -> bytes:
        group = self.directory.group(user.group)
        return codec.encode_profile(codec.Profile(
            user_id=user.id, group_id=user.group,
            service_provider_id=group.service_provider or user.id.rpartition("@")[2],
            is_enterprise=group.enterprise,
            number=user.number or None, extension=user.extension or None,
            first_name=user.first_name, last_name=user.last_name), encoding=charset)

    def _available_hosts(self, charset: str) -> bytes:
        hosts = tuple(u.id for u in self.directory.users.values() if u.host and u.host.active)
        return codec.encode_available_hosts(codec.AvailableHotelingHosts(hosts), encoding=charset)

    # --- HotelingGuest ----------------------------------------------------------------------

    def _guest_service(self, user: User):
        if user.guest is None:
            raise _Refusal(400, 4009)
        return user.guest

    def _get_guest(self, user: User, charset: str) -> bytes:
        return codec.encode_hoteling_guest(self.guest_view(user), encoding=charset)

    def guest_view(self, user: User) -> codec.HotelingGuest:
        """The agent's HotelingGuest, as a GET (or a HotelingGuestEvent) gives it."""
        guest = self._guest_service(user)
        host = self.directory.users.get(guest.host_id) if guest.host_id else None
        return codec.HotelingGuest(
            active=guest.active, enable_association_limit=guest.enable_limit,
            association_limit_hours=guest.limit_hours,
            host_user_id=host.id if host else None,
            host_last_name=host.last_name if host else None,
            host_first_name=host.first_name if host else None,
            host_association_date_time=guest.since if host else None,
            host_enforces_association_limit=host.host.enforce_limit if host else None,
            host_association_limit_hours=host.host.limit_hours if host else None,
        )

    def _put_guest(self, user: User, body: bytes, query: dict[str, str]) -> None:
        guest = self._guest_service(user)
        fields = self._parse(body, "HotelingGuest", codec.GUEST_SPEC)
        active = fields.get("active", guest.active)
        enable = fields.get("enable_association_limit", guest.enable_limit)
        hours = fields.get("association_limit_hours", guest.limit_hours)
        if NIL in (active, enable) or (hours is not NIL and not 1 <= hours <= 999):
            raise _Refusal(400, 4007)
        hours = guest.limit_hours if hours is NIL else hours
        host_id = fields.get("host_user_id", guest.host_id)
        if host_id is NIL or host_id == "":
            host_id = None
        if host_id is not None and not active:
            raise _Refusal(400, 4006)
        if host_id is not None and host_id != guest.host_id:
            self._seat(user, host_id, enable, hours)
        elif host_id is not None:
            self._check_limit(self.directory.find(host_id), enable, hours)
            if "host_user_id" in fields:  # associating again renews the association
                guest.since = _now()
        guest.active, guest.enable_limit, guest.limit_hours = active, enable, hours
        if host_id is None:
            self._unseat(user)

    def _check_limit(self, host: User, enable: bool, hours: int) -> None:
        if host.host.enforce_limit and (not enable or hours > host.host.limit_hours):
            raise _Refusal(400, 4003)

    def _seat(self, user: User, host_id: str, enable: bool, hours: int) -> None:
        host = self.directory.find(host_id)
        if host is None:
            raise _Refusal(400, 4001)
        if host.host is None or not host.host.active:
            raise _Refusal(400, 4002)
        self._check_limit(host, enable, hours)
        if host.host.guest_id not in (None, user.id) and self.occupied == "reject":
            raise _Refusal(400, 4004)
        if user.guest.host_id not in (None, host.id) and self.moved == "reject":
            raise _Refusal(400, 4005)
        if host.host.guest_id not in (None, user.id):
            self._unseat(self.directory.users[host.host.guest_id])
        self._unseat(user)
        host.host.guest_id = user.id
        user.guest.host_id = host.id
        user.guest.since = _now()

    def _unseat(self, guest_user: User) -> None:
        guest = guest_user.guest
        if guest is None or guest.host_id is None:
            return
        host = self.directory.users.get(guest.host_id)
        if host is not None and host.host is not None and host.host.guest_id == guest_user.id:
            host.host.guest_id = None
        guest.host_id = None
        guest.since = None

    # --- HotelingHost -----------------------------------------------------------------------

    def _host_service(self, user: User):
        if user.host is None:
            raise _Refusal(400, 4009)
        return user.host

    def _get_host(self, user: User, charset: str) -> bytes:
        host = self._host_service(user)
        guest = self.directory.users.get(host.guest_id) if host.guest_id else None
        doc = codec.HotelingHost(
            active=host.active, enforce_association_limit=host.enforce_limit,
            association_limit_hours=host.limit_hours, access_level=host.access_level,
            guest_last_name=guest.last_name if guest else None,
            guest_first_name=guest.first_name if guest else None,
            guest_phone_number=(guest.number or None) if guest else None,
            guest_extension=(guest.extension or None) if guest else None,
            guest_association_date_time=guest.guest.since if guest else None,
        )
        return codec.encode_hoteling_host(doc, encoding=charset)

    def _put_host(self, user: User, body: bytes, query: dict[str, str]) -> None:
        host = self._host_service(user)
        fields = self._parse(body, "HotelingHost", codec.HOST_SPEC)
        updates = {k: fields[k] for k in ("active", "enforce_association_limit",
                                          "association_limit_hours", "access_level")
                   if k in fields}
        if NIL in updates.values():
            raise _Refusal(400, 4007)
        if updates.get("access_level", "Group") not in ("Group", "Enterprise"):
            raise _Refusal(400, 4007)
        if not 1 <= updates.get("association_limit_hours", 1) <= 999:
            raise _Refusal(400, 4007)
        host.active = updates.get("active", host.active)
        host.enforce_limit = updates.get("enforce_association_limit", host.enforce_limit)
        host.limit_hours = updates.get("association_limit_hours", host.limit_hours)
        host.access_level = updates.get("access_level", host.access_level)
        if (fields.get("remove_guest_association") is True or not host.active) and host.guest_id:
            self._unseat(self.directory.users[host.guest_id])

    # --- inspection -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Who sits where, agent states, request and failed-login counts (for tests, as JSON)."""
        with self.lock:
            users = {}
            for user in self.directory.users.values():
                stats = self.stats.get(user.id, UserStats())
                entry: dict[str, Any] = {
                    "name": user.name, "requests": stats.requests,
                    "with_cookie": stats.with_cookie, "failed_logins": stats.failed_logins,
                    "locked": stats.locked,
                }
                if user.guest is not None:
                    entry["host"] = user.guest.host_id
                    entry["guest_active"] = user.guest.active
                if user.host is not None:
                    entry["guest"] = user.host.guest_id
                    entry["host_active"] = user.host.active
                if user.call_center is not None:
                    entry["acd_state"] = user.call_center.state
                    entry["unavailable_code"] = user.call_center.unavailable_code
                users[user.id] = entry
            seating = {u.id: u.host.guest_id for u in self.directory.users.values() if u.host}
            return {"users": users, "seating": seating, "requests_total": self.requests_total,
                    "occupied": self.occupied, "moved": self.moved,
                    "lock_after": self.lock_after, "time": time.time()}

    def reset_counts(self) -> None:
        with self.lock:
            self.requests_total = 0
            for stats in self.stats.values():
                stats.requests = stats.with_cookie = 0
