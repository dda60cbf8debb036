"""Xsi-Events: the Call Center pushes the agent's desk and ACD state the moment they change.

```python
channel = EventChannel(config.callcenter, "zoe@tipt.example", password,
                       channel_set_id="hotdesk-desk12", application_id="hotdesk-kiosk")
channel.when_event = lambda event: ...      # a codec.Event, on the stream's thread
channel.when_closed = lambda reason: ...    # the channel is gone: poll, and open a new one
channel.open()                              # channel up and subscribed, or CallCenterError
...
channel.close()                             # subscriptions and channel deleted
```

The rules are the Actions client's (`client.py`): TLS verified against the CA bundle or the
system store, `(connect, read)` timeouts, no redirects, no environment proxies, Basic auth
built from the in-memory `Secret` per request, 401 never retried, and no password in any log
line. The stream (`POST S/channel`) is read on its own thread with `requests`' `stream=True`;
its documents are split by their root elements (with or without an XML declaration, two in
one read as well) and parsed by the codec, by namespace.
Heartbeats (every 15 s), acknowledgements and refreshes (at half-life) go on a separate
connection to the same server, with the stream's cookie. A malformed document is logged and
skipped; a stream cut mid-document, a heartbeat answered 404, a `ChannelTerminatedEvent` or a
`SubscriptionTerminatedEvent` (nothing more would come for that package) ends the channel
(`when_closed`), and whoever owns it opens a new one.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from xml.parsers import expat

import requests

from kiosk.callcenter import codec
from kiosk.callcenter.client import XsiClient, unreachable
from kiosk.callcenter.codec import same_user
from kiosk.callcenter.urls import XsiUrls
from kiosk.errors import (
    CallCenterError,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    ProtocolError,
    Rejected,
    ServerBusy,
    Unreachable,
)
from kiosk.secret import Secret

log = logging.getLogger(__name__)

#: One fixed application ID for every kiosk (with a channel set per desk).
APPLICATION_ID = "hotdesk-kiosk"
HEARTBEAT_S = 15.0
EXPIRES_S = 3600
MAX_BUFFER = 1 << 20  # a stream that never closes a document is dropped past this


class DocumentSplitter:
    """Whole XML documents out of a stream of bytes. expat reads the stream and says where
    each root element ends; the bytes up to there are one document (an optional `<?xml …?>`
    declaration and one element). Servers send documents with and without a declaration, and
    two may arrive in one read. Bytes between documents that are not markup are skipped; a
    document that expat finds broken ends where the next declaration begins, and one that never
    closes is handed over past `MAX_BUFFER` (either to be logged and skipped)."""

    def __init__(self):
        self.buffer = b""
        self._begin()

    def _begin(self) -> None:
        parser = expat.ParserCreate()
        parser.StartElementHandler = self._opened
        parser.EndElementHandler = self._closed
        self._parser, self._depth, self._fed, self._broken = parser, 0, 0, False
        self._root = self._end = None  # where the root element begins, and where it ended

    def _opened(self, name: str, attributes: dict) -> None:
        if self._depth == 0:
            self._root = self._parser.CurrentByteIndex
        self._depth += 1

    def _closed(self, name: str) -> None:
        self._depth -= 1
        if self._depth == 0 and self._end is None:
            self._end = self._parser.CurrentByteIndex

    def _root_end(self) -> int:
        """Just after the root's end tag: expat points at an end tag, or somewhere past an
        empty root (`<ChannelHeartBeat …/>`), which ends at its own `/>`."""
        if self.buffer.startswith(b"</", self._end):
            return self.buffer.index(b">", self._end) + 1
        return self.buffer.index(b"/>", self._root) + 2

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        documents = []
        while self.buffer:
            if self._fed == 0:  # a new document: what is not markup before it is skipped
                start = self.buffer.find(b"<")
                self.buffer = self.buffer[start:] if start >= 0 else b""
                if not self.buffer:
                    break
            if not self._broken:
                fresh, self._fed = self.buffer[self._fed:], len(self.buffer)
                try:
                    self._parser.Parse(fresh, False)
                except expat.ExpatError:  # after the root's end: the next document's bytes
                    self._broken = self._end is None
            if self._end is not None:
                cut = self._root_end()
            elif self._broken or len(self.buffer) > MAX_BUFFER:
                cut = self.buffer.find(b"<?xml", 1)
                if cut < 0 and len(self.buffer) <= MAX_BUFFER:
                    break  # broken: it ends where the next document begins
                cut = cut if cut >= 0 else len(self.buffer)
            else:
                break  # not whole yet
            documents.append(self.buffer[:cut].strip())
            self.buffer = self.buffer[cut:]
            self._begin()
        return documents


class EventChannel:
    def __init__(self, callcenter, user_id: str, password: Secret, *, channel_set_id: str,
                 application_id: str, packages: tuple[str, ...] = codec.EVENT_PACKAGES,
                 heartbeat_s: float = HEARTBEAT_S, own_heartbeats: bool = True,
                 require_all: bool = False):
        """`callcenter`: a `CallCenterConfig` (URL, CA bundle, timeouts). `own_heartbeats`:
        send them from a thread of its own; False when the owner calls `heartbeat()` on its
        own clock (the engine does, from its heartbeat). `require_all`: a package the server
        refuses fails `open()` (the kiosk then polls for it) instead of being left out."""
        self.own_heartbeats = own_heartbeats
        self.require_all = require_all
        self.urls = XsiUrls.parse(callcenter.url)
        self.user_id = user_id
        self.channel_set_id = channel_set_id
        self.application_id = application_id
        self.packages = packages
        self.heartbeat_s = heartbeat_s
        self.timeout = callcenter.timeout
        self.control = XsiClient(self.urls.events, user_id, password,
                                 ca_bundle=callcenter.ca_bundle, timeout=callcenter.timeout,
                                 retries=0, proxy=getattr(callcenter, "proxy", ""))
        # the stream holds its connection for as long as the channel lives: a client (and a
        # connection pool) of its own, set up as the control one is
        self._streaming = XsiClient(self.urls.events, user_id, password,
                                    ca_bundle=callcenter.ca_bundle, timeout=callcenter.timeout,
                                    retries=0, proxy=getattr(callcenter, "proxy", ""))
        self._stream_session = self._streaming.session
        self.verify = self.control.verify
        self.channel_id: str | None = None
        self.expires = EXPIRES_S
        self.subscriptions: dict[str, str] = {}  # event package -> subscription ID
        self.when_event: Callable[[codec.Event], None] = lambda event: None
        self.when_closed: Callable[[str], None] = lambda reason: None
        # the journal of subscription IDs (the owner's): IDs a crash left on the server, and
        # every ID made or deleted here
        self.leftovers: Callable[[], list[str]] = lambda: []
        self.when_subscribed: Callable[[str, str], None] = lambda package, sub: None
        self.when_unsubscribed: Callable[[str], None] = lambda sub: None
        self.acknowledged = 0
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._refresh_at = float("inf")
        self._subscribing = False
        self.ended_subscription = False
        self._stop = threading.Event()
        self._closed_once = threading.Lock()
        self._closed = False
        self._response: requests.Response | None = None
        self._threads: list[threading.Thread] = []

    # --- opening ----------------------------------------------------------------------------

    def open(self) -> None:
        """Open the channel and subscribe to the packages; raises CallCenterError. A package
        the user does not have (a supervisor has no `Call Center Agent`) is left out."""
        reader = threading.Thread(target=self._read, name="xsi-events-stream", daemon=True)
        self._threads.append(reader)
        reader.start()
        if not self._ready.wait(self.timeout[0] + self.timeout[1]):
            self.close()
            raise unreachable(requests.exceptions.ReadTimeout("no channel"), self._stream_url)
        if self._open_error is not None:
            self.close()
            raise self._open_error
        try:  # (a subscription's first event may come before its ID: taken while subscribing)
            self._subscribing = True
            for package in self.packages:
                self._subscribe(package)
        except CallCenterError:
            self.close()
            raise
        finally:
            self._subscribing = False
        self._refresh_at = time.monotonic() + self.expires / 2
        if self.own_heartbeats:
            keeper = threading.Thread(target=self._keep_alive, name="xsi-events-heartbeat",
                                      daemon=True)
            self._threads.append(keeper)
            keeper.start()

    @property
    def _stream_url(self) -> str:
        return self.urls.stream + "/channel"

    def _subscribe(self, package: str) -> None:
        body = codec.subscription_body(event=package, channel_set_id=self.channel_set_id,
                                       application_id=self.application_id)
        url = self.control.url("user", self.user_id)
        try:
            try:
                response = self.control.send("POST", url, body)
            except Rejected as exc:
                if exc.status != 409:
                    raise
                # left over from a crash: delete the old ones by ID, then subscribe again
                if not self._delete_leftovers():
                    raise
                response = self.control.send("POST", url, body)
        except (Rejected, NotPermitted, NotFound) as exc:  # any 4xx: not for this user
            if self.require_all:
                raise
            log.info("no %s events for %s: %s", package, self.user_id, exc)
            return
        subscription = codec.decode_subscription(response.content)
        self.subscriptions[package] = subscription.subscription_id or ""
        if subscription.subscription_id:
            self.when_subscribed(package, subscription.subscription_id)
        if subscription.expires:
            self.expires = min(self.expires, subscription.expires)

    def _delete_leftovers(self) -> bool:
        """Delete the subscriptions the journal knows were made and never deleted; True when
        there was any to delete."""
        leftovers = self.leftovers()
        for subscription_id in leftovers:
            with contextlib.suppress(NotFound):  # gone already (expired)
                self.control.send("DELETE", self.control.url("subscription", subscription_id))
            self.when_unsubscribed(subscription_id)
        return bool(leftovers)

    # --- the stream -------------------------------------------------------------------------

    def _read(self) -> None:
        body = codec.channel_body(channel_set_id=self.channel_set_id,
                                  application_id=self.application_id)
        reason = "the stream ended"
        try:
            response = self._stream_session.post(
                self._stream_url, data=body, stream=True, verify=self.verify,
                allow_redirects=False, headers={"Content-Type": "application/xml"},
                # the stream carries a heartbeat at least every 15 s: silence twice that long
                # is a dead connection
                timeout=(self.timeout[0], max(self.timeout[1], 2 * self.heartbeat_s + 5)))
        except requests.RequestException as exc:
            self._open_error = unreachable(exc, self._stream_url,
                                           self.control.proxy)
            self._ready.set()
            return
        self._response = response
        if response.status_code != 200:
            try:
                self.control.raise_for_status(response, self._stream_url)
                raise ProtocolError(f"the channel answered {response.status_code}")
            except CallCenterError as exc:
                self._open_error = exc
            self._ready.set()
            response.close()
            return
        self.control.session.cookies.update(self._stream_session.cookies)
        splitter = DocumentSplitter()
        try:
            for chunk in response.iter_content(chunk_size=None):
                for document in splitter.feed(chunk):
                    if self._handle(document):
                        reason = "the server ended a subscription" if \
                            self.ended_subscription else "the channel was terminated"
                        return
                if self._stop.is_set():
                    return
        except Exception as exc:  # a cut stream, or closed from another thread
            reason = f"the stream was cut ({type(exc).__name__})"
        finally:
            if not self._ready.is_set():
                self._open_error = ProtocolError("the channel closed before it opened")
                self._ready.set()
            elif not self._stop.is_set():
                self._end(reason)

    def _handle(self, document: bytes) -> bool:
        """One document; True when it ends the channel."""
        try:
            item = codec.decode_stream_document(document)
        except ProtocolError as exc:
            log.warning("skipped a malformed document on the event channel: %s", exc)
            return False
        if isinstance(item, codec.Channel):
            self.channel_id = item.channel_id
            if item.expires:
                self.expires = min(self.expires, item.expires)
            self._ready.set()
            return False
        if isinstance(item, codec.ChannelHeartBeat):
            return False
        if item.kind == "ChannelTerminatedEvent":
            log.info("event channel terminated by the server: %s", item.reason)
            return True
        self._acknowledge(item)
        if (item.target_id is not None and not same_user(item.target_id, self.user_id)) or (
                not self._subscribing and item.subscription_id not in
                self.subscriptions.values()):
            return False  # another target's or subscription's: acknowledged, ignored
        if item.kind == "SubscriptionTerminatedEvent":
            # nothing more will come for that package: the channel is no longer whole
            log.info("the server ended the subscription %s", item.subscription_id)
            self.subscriptions = {k: v for k, v in self.subscriptions.items()
                                  if v != item.subscription_id}
            self.when_unsubscribed(item.subscription_id or "")
            self.ended_subscription = True
            return True
        try:
            self.when_event(item)
        except Exception:
            log.exception("an event handler failed")
        return False

    def _acknowledge(self, event: codec.Event) -> None:
        if not event.event_id:
            return
        try:
            self.control.send("POST", self.control.url("channel", "eventresponse"),
                               codec.event_response_body(event.event_id))
            self.acknowledged += 1
        except CallCenterError as exc:
            log.info("could not acknowledge event %s: %s", event.event_id, exc)

    # --- heartbeats and refreshes -----------------------------------------------------------

    def heartbeat(self) -> None:
        """`PUT …/channel/{id}/heartbeat` (and the refreshes, once at half-life). Raises
        CallCenterError: `NotFound` when the channel is gone."""
        self.control.send("PUT", self.control.url("channel", self.channel_id or "",
                                                    "heartbeat"))
        if time.monotonic() >= self._refresh_at:
            self._refresh()
            self._refresh_at = time.monotonic() + self.expires / 2

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.heartbeat()
            except NotFound:
                self._end("the channel is gone (heartbeat 404)")
                return
            except InvalidCredentials:
                self._end("the credentials were refused")
                return
            except (Unreachable, ServerBusy) as exc:
                self._end(f"the heartbeat failed: {exc}")
                return
            except CallCenterError as exc:
                log.info("event channel heartbeat failed: %s", exc)

    def _refresh(self) -> None:
        self.control.send("PUT", self.control.url("channel", self.channel_id or ""),
                           codec.expires_body("Channel", EXPIRES_S))
        for subscription_id in self.subscriptions.values():
            self.control.send("PUT", self.control.url("subscription", subscription_id),
                               codec.expires_body("Subscription", EXPIRES_S))

    # --- the end ----------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        with self._closed_once:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if threading.current_thread() not in self._threads:
            self._drop_stream()
        try:
            self.when_closed(reason)
        except Exception:
            log.exception("an event channel's close handler failed")

    def close(self) -> None:
        """Delete the subscriptions and the channel (best effort), and stop."""
        with self._closed_once:
            already = self._closed
            self._closed = True
        self._stop.set()
        if not already:
            for subscription_id in list(self.subscriptions.values()):
                try:
                    self.control.send("DELETE", self.control.url("subscription",
                                                                   subscription_id))
                except NotFound:
                    self.when_unsubscribed(subscription_id)  # gone already
                except CallCenterError as exc:
                    log.info("could not delete subscription: %s", exc)
                else:
                    self.when_unsubscribed(subscription_id)
            if self.channel_id:
                try:
                    self.control.send("DELETE", self.control.url("channel", self.channel_id))
                except CallCenterError as exc:
                    log.info("could not delete the event channel: %s", exc)
        self._drop_stream()
        self._stream_session.close()
        self.control.session.close()

    def _drop_stream(self) -> None:
        """Cut the stream's connection under the reader (closing the response from another
        thread would wait for the reader's lock), then close the response."""
        response = self._response
        if response is None:
            return
        sock = getattr(response.raw.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(5)
        response.close()
