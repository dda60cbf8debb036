"""The Xsi-Actions XML codec: pure functions from bytes to documents and back.

Rules from the contract (`docs/callcenter-xsi.md`):

- bytes in, bytes out; the encoding comes from the XML declaration (ISO-8859-1 and UTF-8 both);
- elements are matched by namespace URI, never by prefix;
- bodies are written in schema order; in a PUT a missing element means "unchanged" and
  `xsi:nil="true"` clears a value (`NIL` here);
- unknown elements are ignored;
- anything malformed raises `ProtocolError`, never a raw parser exception.

Each document is a frozen dataclass whose fields are `None` when the element is absent or nil.
`parse_fields` gives the lower-level view a server needs: only the elements present, nil ones as
`NIL`.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from kiosk.errors import ProtocolError

XSI = "http://schema.broadsoft.com/xsi"
XSI_INSTANCE = "http://www.w3.org/2001/XMLSchema-instance"
_NIL = f"{{{XSI_INSTANCE}}}nil"

ACD_STATES = ("Sign-In", "Available", "Unavailable", "Wrap-Up", "Sign-Out")


class _Nil:
    """Marks an element written `xsi:nil="true"`: clear this value."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NIL"


NIL = _Nil()

# (element name, attribute name, kind) in schema order; kind is str, bool or int.
Spec = tuple[tuple[str, str, type], ...]


# --- documents ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    user_id: str | None = None
    group_id: str | None = None
    service_provider_id: str | None = None
    is_enterprise: bool | None = None  # serviceProvider/@isEnterprise: which query to send
    number: str | None = None
    extension: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class HotelingGuest:
    active: bool | None = None
    enable_association_limit: bool | None = None
    association_limit_hours: int | None = None
    host_user_id: str | None = None
    host_last_name: str | None = None
    host_first_name: str | None = None
    host_association_date_time: str | None = None
    host_enforces_association_limit: bool | None = None
    host_association_limit_hours: int | None = None


@dataclass(frozen=True)
class HotelingHost:
    active: bool | None = None
    enforce_association_limit: bool | None = None
    association_limit_hours: int | None = None
    access_level: str | None = None
    remove_guest_association: bool | None = None
    guest_last_name: str | None = None
    guest_first_name: str | None = None
    guest_phone_number: str | None = None
    guest_extension: str | None = None
    guest_location_dialing_code: str | None = None
    guest_association_date_time: str | None = None

    @property
    def has_guest(self) -> bool:
        return any((self.guest_last_name, self.guest_first_name, self.guest_phone_number,
                    self.guest_extension, self.guest_association_date_time))


@dataclass(frozen=True)
class Queue:
    """One call centre (queue) an agent belongs to."""

    service_user_id: str | None = None
    phone_number: str | None = None
    extension: str | None = None
    available: bool | None = None
    skill_level: int | None = None


@dataclass(frozen=True)
class CallCenter:
    agent_acd_state: str | None = None
    agent_unavailable_code: str | None = None
    queues: tuple[Queue, ...] = ()


@dataclass(frozen=True)
class ErrorInfo:
    summary: str | None = None
    summary_english: str | None = None
    error_code: int | None = None


@dataclass(frozen=True)
class UnavailableCode:
    code: str | None = None
    description: str | None = None
    active: bool | None = None
    is_default: bool = False


@dataclass(frozen=True)
class UnavailableCodes:
    """A group's agent unavailable codes (`ACDAgentUnavailableCodes`)."""

    enabled: bool = True
    forced: bool = False  # Unavailable needs a code: the default one when none is picked
    on_dnd: str | None = None
    on_personal_calls: str | None = None
    on_consecutive_bounces: str | None = None
    codes: tuple[UnavailableCode, ...] = ()

    @property
    def offered(self) -> tuple[UnavailableCode, ...]:
        """What an agent may pick: the active codes, none when codes are off."""
        return tuple(c for c in self.codes if c.code and c.active is not False) \
            if self.enabled else ()

    @property
    def default(self) -> str | None:
        return next((c.code for c in self.offered if c.is_default), None)

    def code_for_unavailable(self, picked: str | None) -> str | None:
        """The code to send with *Unavailable*: the agent's pick, the default where the group
        forces one, none where codes are off."""
        if not self.enabled:
            return None
        return picked or (self.default if self.forced else None)


@dataclass(frozen=True)
class AvailableHotelingHosts:
    host_user_ids: tuple[str, ...] = field(default=())


PROFILE_SPEC: Spec = (
    ("userId", "user_id", str), ("groupId", "group_id", str),
    ("serviceProvider", "service_provider_id", str), ("number", "number", str),
    ("extension", "extension", str), ("firstName", "first_name", str),
    ("lastName", "last_name", str),
)
GUEST_SPEC: Spec = (
    ("active", "active", bool),
    ("enableAssociationLimit", "enable_association_limit", bool),
    ("associationLimitHours", "association_limit_hours", int),
    ("hostUserId", "host_user_id", str),
    ("hostLastName", "host_last_name", str),
    ("hostFirstName", "host_first_name", str),
    ("hostAssociationDateTime", "host_association_date_time", str),
    ("hostEnforcesAssociationLimit", "host_enforces_association_limit", bool),
    ("hostAssociationLimitHours", "host_association_limit_hours", int),
)
HOST_SPEC: Spec = (
    ("active", "active", bool),
    ("enforceAssociationLimit", "enforce_association_limit", bool),
    ("associationLimitHours", "association_limit_hours", int),
    ("accessLevel", "access_level", str),
    ("removeGuestAssociation", "remove_guest_association", bool),
    ("guestLastName", "guest_last_name", str),
    ("guestFirstName", "guest_first_name", str),
    ("guestPhoneNumber", "guest_phone_number", str),
    ("guestExtension", "guest_extension", str),
    ("guestLocationDialingCode", "guest_location_dialing_code", str),
    ("guestAssociationDateTime", "guest_association_date_time", str),
)
CALLCENTER_SPEC: Spec = (
    ("agentACDState", "agent_acd_state", str),
    ("agentUnavailableCode", "agent_unavailable_code", str),
)
QUEUE_SPEC: Spec = (  # a real server's order: available right after serviceUserId
    ("serviceUserId", "service_user_id", str), ("available", "available", bool),
    ("phoneNumber", "phone_number", str), ("extension", "extension", str),
    ("skillLevel", "skill_level", int),
)
ERROR_SPEC: Spec = (
    ("summary", "summary", str), ("summaryEnglish", "summary_english", str),
    ("errorCode", "error_code", int),
)
UNAVAILABLE_CODE_SPEC: Spec = (
    ("active", "active", bool), ("code", "code", str), ("description", "description", str),
)
UNAVAILABLE_CODES_SPEC: Spec = (
    ("enableAgentUnavailableCodes", "enabled", bool),
    ("defaultAgentUnavailableCodeOnDND", "on_dnd", str),
    ("defaultAgentUnavailableCodeOnPersonalCalls", "on_personal_calls", str),
    ("defaultAgentUnavailableCodeOnConsecutiveBounces", "on_consecutive_bounces", str),
    ("forceUseOfAgentUnavailableCodes", "forced", bool),
)


# --- parsing --------------------------------------------------------------------------------


def same_user(a: str | None, b: str | None) -> bool:
    """User IDs compare trimmed and without regard to case (servers pad values, and write
    domains in any case)."""
    return (a or "").strip().casefold() == (b or "").strip().casefold()


def parse_document(body: bytes, root: str) -> ET.Element:
    """The root element of `body`, which must be `<root>` in the Xsi namespace."""
    if not isinstance(body, bytes | bytearray):
        raise TypeError("the codec takes bytes, never a decoded str")
    element = _parse(bytes(body), "")
    if element.tag != f"{{{XSI}}}{root}":
        raise ProtocolError(f"expected <{root}> in the Xsi namespace, got <{_local(element.tag)}>")
    return element


_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ALLOWED_ENCODINGS = {b"utf-8", b"utf8", b"iso-8859-1", b"latin-1", b"latin1", b"us-ascii"}


def _parse(body: bytes, where: str) -> ET.Element:
    """The document's root, parsed by defusedxml with DTDs forbidden (entity expansion and
    external entities never reach the parser), in the encodings an Xsi server uses."""
    text = body.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text.startswith(b"<"):
        raise ProtocolError("not an XML document in UTF-8 or ISO-8859-1")
    declared = _DECLARED_ENCODING.match(text)
    if declared and declared.group(1).lower() not in _ALLOWED_ENCODINGS:
        raise ProtocolError(f"unsupported XML encoding {declared.group(1).decode()!r}")
    try:
        return SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise ProtocolError("XML with a DOCTYPE or entity declaration is refused") from None
    except (ET.ParseError, ValueError, LookupError, UnicodeError) as exc:
        raise ProtocolError(f"malformed XML{where}: {exc}") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _value(element: ET.Element, kind: type) -> Any:
    if element.get(_NIL, "").strip() in ("true", "1"):
        return NIL
    text = (element.text or "").strip()
    if kind is bool:
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ProtocolError(f"<{_local(element.tag)}> is not a boolean: {text[:40]!r}")
    if kind is int:
        try:
            return int(text, 10)
        except ValueError:
            raise ProtocolError(
                f"<{_local(element.tag)}> is not a whole number: {text[:40]!r}"
            ) from None
    return text  # servers break lines and indent inside values: every value is trimmed


def fields_of(element: ET.Element, spec: Spec) -> dict[str, Any]:
    """The present elements of `element` named in `spec`: attribute -> value, nil as `NIL`."""
    by_tag = {f"{{{XSI}}}{tag}": (attr, kind) for tag, attr, kind in spec}
    found: dict[str, Any] = {}
    for child in element:
        if child.tag in by_tag:
            attr, kind = by_tag[child.tag]
            found[attr] = _value(child, kind)
    return found


def parse_fields(body: bytes, root: str, spec: Spec) -> dict[str, Any]:
    """The elements present in a `<root>` body (as a server reads a PUT)."""
    return fields_of(parse_document(body, root), spec)


def _build(cls, values: dict[str, Any], **extra):
    return cls(**{k: (None if v is NIL else v) for k, v in values.items()}, **extra)


def decode_profile(body: bytes) -> Profile:
    root = parse_document(body, "Profile")
    details = root.find(f"{{{XSI}}}details")
    if details is None:
        raise ProtocolError("<Profile> has no <details>")
    provider = details.find(f"{{{XSI}}}serviceProvider")
    enterprise = None if provider is None else \
        provider.get("isEnterprise", "").strip() in ("true", "1")
    return _build(Profile, fields_of(details, PROFILE_SPEC), is_enterprise=enterprise)


def decode_hoteling_guest(body: bytes) -> HotelingGuest:
    return _build(HotelingGuest, parse_fields(body, "HotelingGuest", GUEST_SPEC))


def decode_hoteling_host(body: bytes) -> HotelingHost:
    return _build(HotelingHost, parse_fields(body, "HotelingHost", HOST_SPEC))


def decode_call_center(body: bytes) -> CallCenter:
    root = parse_document(body, "CallCenter")
    queues = []
    listing = root.find(f"{{{XSI}}}callCenterList")
    if listing is not None:
        for details in listing.findall(f"{{{XSI}}}callCenterDetails"):
            queues.append(_build(Queue, fields_of(details, QUEUE_SPEC)))
    return _build(CallCenter, fields_of(root, CALLCENTER_SPEC), queues=tuple(queues))


def decode_error_info(body: bytes) -> ErrorInfo:
    return _build(ErrorInfo, parse_fields(body, "ErrorInfo", ERROR_SPEC))


def decode_unavailable_codes(body: bytes) -> UnavailableCodes:
    root = parse_document(body, "ACDAgentUnavailableCodes")
    listing = root.find(f"{{{XSI}}}unavailableCodes")
    codes = () if listing is None else tuple(
        _build(UnavailableCode, fields_of(detail, UNAVAILABLE_CODE_SPEC),
               is_default=detail.get("isDefault", "").strip() in ("true", "1"))
        for detail in listing.findall(f"{{{XSI}}}unavailableCodeDetail"))
    settings = {k: v for k, v in fields_of(root, UNAVAILABLE_CODES_SPEC).items()
                if v is not NIL}
    return UnavailableCodes(**settings, codes=codes)


def decode_available_hosts(body: bytes) -> AvailableHotelingHosts:
    root = parse_document(body, "AvailableHotelingHosts")
    listing = root.find(f"{{{XSI}}}hostUserIdList")
    ids = () if listing is None else tuple(
        (e.text or "").strip() for e in listing.findall(f"{{{XSI}}}userid")
    )
    return AvailableHotelingHosts(host_user_ids=ids)


# --- writing --------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _append_fields(parent: ET.Element, spec: Spec, values: dict[str, Any]) -> None:
    for tag, attr, _kind in spec:
        value = values.get(attr)
        if value is None:
            continue
        child = ET.SubElement(parent, f"{{{XSI}}}{tag}")
        if value is NIL:
            child.set(_NIL, "true")
        else:
            child.text = _text(value)


def _serialise(root: ET.Element, encoding: str) -> bytes:
    ET.register_namespace("xsi", XSI_INSTANCE)
    ET.register_namespace("", XSI)  # the default namespace (and attributes without one)
    body = ET.tostring(root, encoding=encoding, xml_declaration=True)
    # ElementTree writes single quotes in the declaration; BroadWorks writes double quotes.
    head, sep, rest = body.partition(b"?>")
    return head.replace(b"'", b'"') + sep + rest


def render_fields(root: str, spec: Spec, values: dict[str, Any], *,
                  encoding: str = "UTF-8") -> bytes:
    """A `<root>` body with the given elements (None = leave out, `NIL` = clear), in order."""
    element = ET.Element(f"{{{XSI}}}{root}")
    _append_fields(element, spec, values)
    return _serialise(element, encoding)


def _values(document) -> dict[str, Any]:
    return {f.name: getattr(document, f.name) for f in dataclasses.fields(document)}


def encode_profile(profile: Profile, *, encoding: str = "UTF-8") -> bytes:
    root = ET.Element(f"{{{XSI}}}Profile")
    details = ET.SubElement(root, f"{{{XSI}}}details")
    _append_fields(details, PROFILE_SPEC, _values(profile))
    provider = details.find(f"{{{XSI}}}serviceProvider")
    if provider is not None and profile.is_enterprise is not None:
        provider.set("isEnterprise", _text(profile.is_enterprise))
    return _serialise(root, encoding)


def encode_hoteling_guest(guest: HotelingGuest, *, encoding: str = "UTF-8") -> bytes:
    return render_fields("HotelingGuest", GUEST_SPEC, _values(guest), encoding=encoding)


def encode_hoteling_host(host: HotelingHost, *, encoding: str = "UTF-8") -> bytes:
    return render_fields("HotelingHost", HOST_SPEC, _values(host), encoding=encoding)


def encode_call_center(call_center: CallCenter, *, encoding: str = "UTF-8") -> bytes:
    root = ET.Element(f"{{{XSI}}}CallCenter")
    _append_fields(root, CALLCENTER_SPEC, _values(call_center))
    if call_center.queues:
        listing = ET.SubElement(root, f"{{{XSI}}}callCenterList")
        for queue in call_center.queues:
            details = ET.SubElement(listing, f"{{{XSI}}}callCenterDetails")
            _append_fields(details, QUEUE_SPEC, _values(queue))
    return _serialise(root, encoding)


def encode_error_info(error: ErrorInfo, *, encoding: str = "UTF-8") -> bytes:
    return render_fields("ErrorInfo", ERROR_SPEC, _values(error), encoding=encoding)


def encode_unavailable_codes(codes: UnavailableCodes, *, encoding: str = "UTF-8") -> bytes:
    root = ET.Element(f"{{{XSI}}}ACDAgentUnavailableCodes")
    settings = {"enabled": codes.enabled, "on_dnd": codes.on_dnd,
                "on_personal_calls": codes.on_personal_calls,
                "on_consecutive_bounces": codes.on_consecutive_bounces, "forced": codes.forced}
    _append_fields(root, UNAVAILABLE_CODES_SPEC, settings)
    listing = ET.SubElement(root, f"{{{XSI}}}unavailableCodes")
    for code in codes.codes:
        detail = ET.SubElement(listing, f"{{{XSI}}}unavailableCodeDetail")
        if code.is_default:
            detail.set("isDefault", "true")
        _append_fields(detail, UNAVAILABLE_CODE_SPEC, _values(code))
    return _serialise(root, encoding)


def encode_available_hosts(hosts: AvailableHotelingHosts, *, encoding: str = "UTF-8") -> bytes:
    root = ET.Element(f"{{{XSI}}}AvailableHotelingHosts")
    listing = ET.SubElement(root, f"{{{XSI}}}hostUserIdList")
    for user_id in hosts.host_user_ids:
        ET.SubElement(listing, f"{{{XSI}}}userid").text = user_id
    return _serialise(root, encoding)


# --- the request bodies the kiosk sends ------------------------------------------------------


def associate_body(host_user_id: str, *, limit_hours: int) -> bytes:
    """PUT HotelingGuest: sit at the desk of `host_user_id` for at most `limit_hours`."""
    return render_fields("HotelingGuest", GUEST_SPEC, {
        "active": True, "enable_association_limit": True,
        "association_limit_hours": limit_hours, "host_user_id": host_user_id,
    })


def clear_association_body() -> bytes:
    """PUT HotelingGuest: leave the desk."""
    return render_fields("HotelingGuest", GUEST_SPEC, {"host_user_id": NIL})


def force_release_body() -> bytes:
    """PUT HotelingHost, with the host's own credentials: free the desk."""
    return render_fields("HotelingHost", HOST_SPEC, {"remove_guest_association": True})


def acd_state_body(state: str, *, unavailable_code: str | None = None) -> bytes:
    """PUT CallCenter: the agent's ACD state (and unavailable code)."""
    if state not in ACD_STATES:
        raise ValueError(f"unknown ACD state {state!r}")
    return render_fields("CallCenter", CALLCENTER_SPEC, {
        "agent_acd_state": state, "agent_unavailable_code": unavailable_code,
    })


# --- Xsi-Events ------------------------------------------------------------------------------
# The streaming channel carries whole XML documents one after another: the `<Channel>` that
# opened it, `<ChannelHeartBeat/>`, and `<Event>`s. Events are namespace-qualified with a
# prefix on the wire; as everywhere here, only the namespace counts.

EVENT_PACKAGES = ("Hoteling Guest", "Call Center Agent")
CHANNEL_SPEC: Spec = (
    ("channelSetId", "channel_set_id", str), ("channelId", "channel_id", str),
    ("priority", "priority", int), ("weight", "weight", int), ("expires", "expires", int),
    ("applicationId", "application_id", str),
)
SUBSCRIPTION_SPEC: Spec = (
    ("subscriptionId", "subscription_id", str), ("targetIdType", "target_id_type", str),
    ("targetId", "target_id", str), ("event", "event", str), ("expires", "expires", int),
    ("channelSetId", "channel_set_id", str), ("applicationId", "application_id", str),
)
EVENT_RESPONSE_SPEC: Spec = (
    ("eventID", "event_id", str), ("statusCode", "status_code", int), ("reason", "reason", str),
)
_EVENT_SPEC: Spec = (
    ("eventID", "event_id", str), ("sequenceNumber", "sequence_number", int),
    ("userId", "user_id", str), ("externalApplicationId", "application_id", str),
    ("subscriptionId", "subscription_id", str), ("channelId", "channel_id", str),
    ("targetId", "target_id", str), ("reason", "reason", str),
)
#: The stream's heartbeat, in both spellings servers and the specification use.
HEARTBEATS = ("ChannelHeartBeat", "ChannelHeartbeat")
_STATE_SPEC: Spec = (("state", "state", str), ("unavailableCode", "unavailable_code", str))
_TYPE = f"{{{XSI_INSTANCE}}}type"


@dataclass(frozen=True)
class Channel:
    channel_set_id: str | None = None
    channel_id: str | None = None
    priority: int | None = None
    weight: int | None = None
    expires: int | None = None
    application_id: str | None = None


@dataclass(frozen=True)
class Subscription:
    subscription_id: str | None = None
    target_id_type: str | None = None
    target_id: str | None = None
    event: str | None = None
    expires: int | None = None
    channel_set_id: str | None = None
    application_id: str | None = None


@dataclass(frozen=True)
class ChannelHeartBeat:
    """The stream's own heartbeat: nothing to do."""


@dataclass(frozen=True)
class Event:
    """One pushed event. `kind` is the event data's type without its prefix
    (`AgentStateEvent`, `AgentSubscriptionEvent`, `HotelingGuestEvent`, …), or
    `ChannelTerminatedEvent` for the channel's end (then `reason` says why)."""

    kind: str
    event_id: str | None = None
    sequence_number: int | None = None
    user_id: str | None = None
    application_id: str | None = None
    subscription_id: str | None = None
    channel_id: str | None = None
    target_id: str | None = None
    reason: str | None = None
    acd_state: str | None = None  # AgentStateEvent / AgentSubscriptionEvent
    unavailable_code: str | None = None
    state_timestamp: int | None = None  # ms since the epoch: when the ACD state was set
    guest: HotelingGuest | None = None  # HotelingGuestEvent: the seat as a GET would give it
    unassigned: bool = False  # HotelingGuestEvent: the service was taken away

    @property
    def needs_ack(self) -> bool:
        return self.kind != "ChannelTerminatedEvent"


def _type_name(element: ET.Element) -> str:
    """`xsi:AgentStateEvent` → `AgentStateEvent` (a QName's prefix is the sender's choice)."""
    return (element.get(_TYPE) or "").rsplit(":", 1)[-1]


def decode_stream_document(body: bytes) -> Channel | ChannelHeartBeat | Event:
    """One document from the event channel's stream. Raises ProtocolError if malformed or of
    a kind the channel never carries."""
    root = _parse(bytes(body), " on the event channel")
    if not root.tag.startswith(f"{{{XSI}}}"):
        raise ProtocolError(f"not an Xsi document: <{_local(root.tag)}>")
    name = _local(root.tag)
    if name == "Channel":
        return _build(Channel, fields_of(root, CHANNEL_SPEC))
    if name in HEARTBEATS:
        return ChannelHeartBeat()
    if name != "Event":
        raise ProtocolError(f"unexpected <{name}> on the event channel")
    header = {k: (None if v is NIL else v) for k, v in fields_of(root, _EVENT_SPEC).items()}
    if _type_name(root) == "ChannelTerminatedEvent":
        return Event("ChannelTerminatedEvent", **header)
    data = root.find(f"{{{XSI}}}eventData")
    if data is None:
        raise ProtocolError("an event without eventData")
    kind = _type_name(data) or "unknown"
    extra: dict[str, Any] = {}
    state = data.find(f"{{{XSI}}}agentStateInfo")
    if state is None:
        state = data.find(f"{{{XSI}}}stateInfo")  # the first event of a subscription
    if state is not None:
        values = fields_of(state, _STATE_SPEC)
        extra["acd_state"] = values.get("state") if values.get("state") is not NIL else None
        code = values.get("unavailable_code")
        extra["unavailable_code"] = None if code is NIL else code
        extra["state_timestamp"] = _state_timestamp(state)
    info = data.find(f"{{{XSI}}}info")
    if info is not None:
        extra["guest"] = _build(HotelingGuest, fields_of(info, GUEST_SPEC))
    if data.find(f"{{{XSI}}}unassigned") is not None:
        extra["unassigned"] = True
    return Event(kind, **header, **extra)


def _state_timestamp(state: ET.Element) -> int | None:
    """`stateTimestamp/value` (current releases) or `stateTimestamp` as plain text (older)."""
    stamp = state.find(f"{{{XSI}}}stateTimestamp")
    if stamp is None:
        return None
    value = stamp.find(f"{{{XSI}}}value")
    text = ((value if value is not None else stamp).text or "").strip()
    return int(text) if text.isdigit() else None


def decode_subscription(body: bytes) -> Subscription:
    return _build(Subscription, parse_fields(body, "Subscription", SUBSCRIPTION_SPEC))


def channel_body(*, channel_set_id: str, application_id: str, expires: int = 3600) -> bytes:
    """POST …/channel: open the streaming channel."""
    return render_fields("Channel", CHANNEL_SPEC, {
        "channel_set_id": channel_set_id, "priority": 1, "weight": 100, "expires": expires,
        "application_id": application_id})


def subscription_body(*, event: str, channel_set_id: str, application_id: str,
                      expires: int = 3600) -> bytes:
    """POST …/user/{userId}: subscribe to an event package."""
    return render_fields("Subscription", SUBSCRIPTION_SPEC, {
        "event": event, "expires": expires, "channel_set_id": channel_set_id,
        "application_id": application_id})


def event_response_body(event_id: str) -> bytes:
    """POST …/channel/eventresponse: acknowledge an event."""
    return render_fields("EventResponse", EVENT_RESPONSE_SPEC, {
        "event_id": event_id, "status_code": 200, "reason": "OK"})


def expires_body(root: str, expires: int = 3600) -> bytes:
    """PUT …/channel/{id} or …/subscription/{id}: refresh."""
    spec = CHANNEL_SPEC if root == "Channel" else SUBSCRIPTION_SPEC
    return render_fields(root, spec, {"expires": expires})
