"""The simulated Xsi-Events service: channels, heartbeats, subscriptions with their first
event, an event on every change whoever makes it, acknowledgements counted, and channels ended
on demand or after missed heartbeats (`docs/callcenter-xsi.md`, *Xsi-Events*).

The HTTP side is in `server.py` (the stream is a chunked answer kept open by the request's own
thread); this is the state behind it, sharing the Actions model's lock. After every change to
the directory -- an Actions request, or `CallCenterModel.supervisor_sets` -- `sync()` compares
what each subscription last reported with the state now and pushes an event for each
difference.

Test controls, as a real XSP misbehaves: `lose(n)` drops the next n events (an application
server failover), `end_subscriptions(user)` ends that user's subscriptions with a
`SubscriptionTerminatedEvent` while the channel stays up, `heartbeat_form` sends the stream's
heartbeat as `ChannelHeartBeat` after a declaration (`declared`) or `ChannelHeartbeat` without
one (`bare`), and `pad` breaks lines and indents inside every value, as Cisco's examples do.
"""

from __future__ import annotations

import itertools
import queue
import re
import secrets
import time
from dataclasses import dataclass, field

from kiosk.callcenter import codec
from kiosk.callcenter.sim.directory import User

MIN_EXPIRES = 3600


@dataclass(eq=False)
class SimChannel:
    id: str
    user_id: str
    set_id: str
    application_id: str
    expires: int
    documents: queue.Queue = field(default_factory=queue.Queue)  # bytes; None ends it
    last_heartbeat: float = field(default_factory=time.monotonic)
    open: bool = True
    cut: bool = False  # dropped without a word (a server restart)


@dataclass(eq=False)
class SimSubscription:
    id: str
    user_id: str
    target_id: str
    event: str
    set_id: str
    application_id: str
    expires: int
    last: tuple | None = None  # what the last event said


class EventsModel:
    def __init__(self, model, *, heartbeat_timeout_s: float = 60.0):
        self.model = model
        self.lock = model.lock
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.channels: dict[str, SimChannel] = {}
        self.subscriptions: dict[str, SimSubscription] = {}
        self.pushed = 0
        self.acknowledged = 0
        self.unacknowledged: set[str] = set()
        self.lose_next = 0  # events to drop without a word
        self.held: list | None = None  # events kept back while hold() is on
        self.lost = 0
        self.heartbeat_form = "declared"  # or "bare"
        self.pad = False
        self._sequence = itertools.count(1)

    # --- channels ---------------------------------------------------------------------------

    def open_channel(self, user: User, fields: dict) -> SimChannel:
        with self.lock:
            set_id = fields.get("channel_set_id") or ""
            app = fields.get("application_id") or ""
            for other in list(self.channels.values()):
                if other.user_id == user.id and other.application_id == app and \
                        other.set_id != set_id:
                    self.terminate(other, "DuplicateChannelSet")
            channel = SimChannel(secrets.token_hex(8), user.id, set_id, app,
                                 max(int(fields.get("expires") or 0), MIN_EXPIRES))
            self.channels[channel.id] = channel
            channel.documents.put(codec.render_fields("Channel", codec.CHANNEL_SPEC, {
                "channel_set_id": set_id, "channel_id": channel.id, "priority": 1,
                "weight": 100, "expires": channel.expires, "application_id": app}))
            return channel

    def heartbeat(self, channel_id: str) -> bool:
        with self.lock:
            channel = self.channels.get(channel_id)
            if channel is None or not channel.open:
                return False
            channel.last_heartbeat = time.monotonic()
            channel.documents.put(_HEARTBEATS[self.heartbeat_form])
            return True

    def refresh_channel(self, channel_id: str, expires: int) -> bool:
        with self.lock:
            channel = self.channels.get(channel_id)
            if channel is None or not channel.open:
                return False
            channel.expires = max(expires, MIN_EXPIRES)
            return True

    def delete_channel(self, channel_id: str) -> bool:
        with self.lock:
            channel = self.channels.get(channel_id)
            if channel is None:
                return False
            self.terminate(channel, "ExplicitDelete")
            return True

    def terminate(self, channel: SimChannel, reason: str) -> None:
        """End a channel: a ChannelTerminatedEvent on its stream, then the stream ends."""
        with self.lock:
            if not channel.open:
                return
            channel.open = False
            self.channels.pop(channel.id, None)
            channel.documents.put(self._padded(_event_document(
                "ChannelTerminatedEvent", None,
                header={"channelId": channel.id, "reason": reason})))
            channel.documents.put(None)

    def cut_all(self) -> int:
        """Every stream ends at once, without a word, and all channel and subscription state
        is lost: a server restart. Returns how many channels were cut."""
        with self.lock:
            channels = list(self.channels.values())
            for channel in channels:
                channel.open = False
                channel.cut = True
                channel.documents.put(None)
            self.channels.clear()
            self.subscriptions.clear()
            return len(channels)

    def end_silent_channels(self) -> None:
        with self.lock:
            now = time.monotonic()
            for channel in list(self.channels.values()):
                if now - channel.last_heartbeat > self.heartbeat_timeout_s:
                    self.terminate(channel, "NonResponsiveChannel")

    # --- subscriptions ----------------------------------------------------------------------

    def subscribe(self, caller: User, target: User, fields: dict) -> tuple[int, object]:
        """(status, Subscription or an ErrorInfo code)."""
        with self.lock:
            event = fields.get("event")
            set_id = fields.get("channel_set_id") or ""
            app = fields.get("application_id") or ""
            if caller.id != target.id and not caller.admin:
                return 403, 4012
            if event not in codec.EVENT_PACKAGES:
                return 400, 4007
            if (event == "Call Center Agent" and target.call_center is None) or (
                    event == "Hoteling Guest" and target.guest is None):
                return 400, 4009
            if not any(c.set_id == set_id and c.user_id == caller.id and c.open
                       for c in self.channels.values()):
                return 404, None
            if any(s.target_id == target.id and s.event == event and s.application_id == app
                   for s in self.subscriptions.values()):
                return 409, None
            sub = SimSubscription(secrets.token_hex(8), caller.id, target.id, event, set_id,
                                  app, max(int(fields.get("expires") or 0), MIN_EXPIRES))
            self.subscriptions[sub.id] = sub
            self._push(sub, first=True)
            return 200, codec.Subscription(subscription_id=sub.id, target_id=target.id,
                                           event=event, expires=sub.expires,
                                           channel_set_id=set_id, application_id=app)

    def refresh_subscription(self, sub_id: str, expires: int) -> bool:
        with self.lock:
            sub = self.subscriptions.get(sub_id)
            if sub is None:
                return False
            sub.expires = max(expires, MIN_EXPIRES)
            return True

    def delete_subscription(self, sub_id: str) -> bool:
        with self.lock:
            return self.subscriptions.pop(sub_id, None) is not None

    def end_subscriptions(self, user_id: str) -> int:
        """The server ends every subscription whose target is `user_id` (expiry, a service
        removed, a restart of the application server): a `SubscriptionTerminatedEvent` each,
        and the channel stays up. Returns how many ended."""
        with self.lock:
            ended = [s for s in self.subscriptions.values()
                     if s.target_id.lower() == user_id.lower()]
            for sub in ended:
                del self.subscriptions[sub.id]
                self._send(sub, "SubscriptionTerminatedEvent", "")
            return len(ended)

    def lose(self, count: int) -> None:
        """Drop the next `count` events without a word (the subscriptions still think them
        sent): what a real XSP does across an application-server failover."""
        with self.lock:
            self.lose_next = max(0, int(count))

    def hold(self) -> None:
        """Keep the next events back (a slow application server): `release_held()` sends
        them, late and in order."""
        with self.lock:
            self.held = []

    def release_held(self) -> int:
        with self.lock:
            held, self.held = self.held or [], None
            for sub, kind, data in held:
                self._send(sub, kind, data)
            return len(held)

    def acknowledge(self, event_id: str | None) -> None:
        with self.lock:
            self.acknowledged += 1
            self.unacknowledged.discard(event_id or "")

    # --- events -----------------------------------------------------------------------------

    def sync(self) -> None:
        """An event for every subscription whose target changed since its last event."""
        with self.lock:
            for sub in list(self.subscriptions.values()):
                self._push(sub)

    def _state(self, sub: SimSubscription) -> tuple:
        user = self.model.directory.users.get(sub.target_id)
        if user is None:
            return ("gone",)
        if sub.event == "Call Center Agent":
            cc = user.call_center
            return ("acd", cc.state, cc.unavailable_code) if cc else ("unassigned",)
        if user.guest is None:
            return ("unassigned",)
        return ("guest", self.model.guest_view(user))

    def _push(self, sub: SimSubscription, *, first: bool = False) -> None:
        state = self._state(sub)
        if not first and state == sub.last:
            return
        sub.last = state
        if state[0] == "acd":
            kind = "AgentSubscriptionEvent" if first else "AgentStateEvent"
            data = _agent_state(state[1], state[2], first=first,
                                queues=self._queues(sub.target_id))
        elif state[0] == "guest":
            kind, data = "HotelingGuestEvent", _guest_info(state[1])
        elif sub.event == "Hoteling Guest":
            kind, data = "HotelingGuestEvent", "<xsi:unassigned/>"
        else:  # the agent service is gone: the subscription ends (no unassigned state event)
            self.subscriptions.pop(sub.id, None)
            kind, data = "SubscriptionTerminatedEvent", ""
        if not first and self.lose_next > 0:
            self.lose_next -= 1
            self.lost += 1
            return
        if not first and self.held is not None:
            self.held.append((sub, kind, data))
            return
        self._send(sub, kind, data)

    def _send(self, sub: SimSubscription, kind: str, data: str) -> None:
        channel = next((c for c in self.channels.values()
                        if c.set_id == sub.set_id and c.user_id == sub.user_id and c.open), None)
        if channel is None:
            return
        event_id = secrets.token_hex(8)
        header = {"eventID": event_id, "sequenceNumber": next(self._sequence),
                  "userId": sub.user_id, "externalApplicationId": sub.application_id,
                  "subscriptionId": sub.id, "channelId": channel.id, "targetId": sub.target_id}
        channel.documents.put(self._padded(_event_document(kind, data, header=header)))
        self.pushed += 1
        self.unacknowledged.add(event_id)

    def _queues(self, user_id: str) -> list[str]:
        user = self.model.directory.users.get(user_id)
        return list(user.call_center.queues) if user and user.call_center else []

    def _padded(self, document: bytes) -> bytes:
        return pad_values(document) if self.pad else document

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "channels": [{"id": c.id, "user": c.user_id, "set": c.set_id,
                              "application": c.application_id} for c in self.channels.values()],
                "subscriptions": [{"id": s.id, "user": s.user_id, "target": s.target_id,
                                   "event": s.event} for s in self.subscriptions.values()],
                "pushed": self.pushed, "acknowledged": self.acknowledged, "lost": self.lost,
                "unacknowledged": len(self.unacknowledged)}


_HEARTBEATS = {
    "declared": (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                 b'<ChannelHeartBeat xmlns="http://schema.broadsoft.com/xsi"/>'),
    "bare": b'<ChannelHeartbeat xmlns="http://schema.broadsoft.com/xsi"/>',
}
_VALUE = re.compile(rb">([^<>]*\S[^<>]*)<")


def pad_values(document: bytes) -> bytes:
    """Every text value broken onto its own indented line, as Cisco's examples print them
    (`<subscriptionId>\n      1716…\n    </subscriptionId>`)."""
    return _VALUE.sub(lambda m: b">\n      " + m.group(1).strip() + b"\n    <", document)


def _escape(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _event_document(kind: str, data: str | None, *, header: dict) -> bytes:
    """An event as BroadWorks writes it: `xsi:` prefixes, `xsi1:type`. A channel's end
    carries only `channelId` and `reason`."""
    envelope = "ChannelTerminatedEvent" if kind == "ChannelTerminatedEvent" else \
        "SubscriptionEvent"
    order = ("eventID", "sequenceNumber", "userId", "externalApplicationId", "subscriptionId",
             "channelId", "targetId", "reason")
    parts = [f"<xsi:{name}>{_escape(header[name])}</xsi:{name}>" for name in order
             if header.get(name) is not None]
    if data is not None:
        parts.append(f'<xsi:eventData xsi1:type="xsi:{kind}">{data}</xsi:eventData>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<xsi:Event xmlns:xsi="http://schema.broadsoft.com/xsi" '
            'xmlns:xsi1="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi1:type="xsi:{envelope}">' + "".join(parts) + "</xsi:Event>").encode()


def _agent_state(state: str, code: str | None, *, first: bool, queues: list[str]) -> str:
    inner = (f"<xsi:state>{_escape(state)}</xsi:state><xsi:stateTimestamp><xsi:value>"
             f"{int(time.time() * 1000)}</xsi:value></xsi:stateTimestamp>")
    if code:
        inner += f"<xsi:unavailableCode>{_escape(code)}</xsi:unavailableCode>"
    if first:
        joins = "".join(f"<xsi:joinInfo><xsi:acdUserId>{_escape(q)}</xsi:acdUserId>"
                        "<xsi:joined/><xsi:skillLevel>1</xsi:skillLevel></xsi:joinInfo>"
                        for q in queues)
        return (f"<xsi:joinData><xsi:joinInfos>{joins}</xsi:joinInfos></xsi:joinData>"
                f"<xsi:stateInfo>{inner}</xsi:stateInfo>")
    return f"<xsi:agentStateInfo>{inner}</xsi:agentStateInfo>"


def _guest_info(guest: codec.HotelingGuest) -> str:
    parts = []
    for tag, attr, _kind in codec.GUEST_SPEC:
        value = getattr(guest, attr)
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else _escape(value)
        parts.append(f"<xsi:{tag}>{text}</xsi:{tag}>")
    return "<xsi:info>" + "".join(parts) + "</xsi:info>"
