"""The simulated Call Center as a real HTTP(S) server, with fault injection and inspection.

```python
with SimulatedCallCenter(load_directory(path), tls=True) as sim:
    client = XsiClient(sim.url, "zoe@demo.example", "…", ca_bundle=sim.ca_path)
    sim.faults.update(fail_next=2)           # the next two Xsi requests get 503
    sim.model.snapshot()["seating"]          # who sits where
```

Xsi-Actions lives under `/com.broadsoft.xsi-actions/v2.0`; the inspection API, which is not Xsi
and needs no credentials, under `/_sim`:

| request | does |
| --- | --- |
| `GET /_sim/state` | who sits where, agent states, per-user request and failed-login counts |
| `POST /_sim/faults` | JSON: `latency_s`, `fail_next`, `fail_status`, `match`, … |
| `POST /_sim/acd` | JSON: `user`, `state`, `unavailable_code`: a supervisor sets the state |
| `POST /_sim/events/cut` | every event channel drops at once (a server restart) |
| `POST /_sim/events/lose` | JSON: `count`: the next N events are lost (a failover) |
| `POST /_sim/events/end` | JSON: `user`: that user's subscriptions end, the channel stays |
| `POST /_sim/shapes` | JSON: `pad` (values broken over lines), `heartbeat` (`declared`/`bare`) |
| `POST /_sim/modes` | JSON: `occupied` (`reject`/`replace`), `moved` (`reject`/`move`) |
| `POST /_sim/reset` | zero the request counters and clear faults |
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import queue
import re
import socket
import ssl
import tempfile
import threading
import time
import weakref
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from kiosk.callcenter import codec
from kiosk.callcenter.sim.directory import Directory
from kiosk.callcenter.sim.events import EventsModel, pad_values
from kiosk.callcenter.sim.model import BASE_PATH, UNAUTHORIZED_PAGE, CallCenterModel, Reply
from kiosk.callcenter.urls import EVENTS_PATH, STREAM_PATH
from kiosk.errors import ProtocolError

log = logging.getLogger(__name__)


@dataclass
class Faults:
    """Trouble to inject, consumed request by request (thread-safe through `update`/`take`)."""

    latency_s: float = 0.0  # added before every Xsi answer
    fail_next: int = 0  # the next N Xsi requests get 503
    retry_after: int | None = None  # Retry-After header (whole seconds) on those 503s
    drop_next: int = 0  # the next N connections are closed without an answer
    malformed_next: int = 0  # the next N answers with a body get a truncated body
    fail_status: int = 503  # what `fail_next` answers: 503, or e.g. 400, 403, 401
    match: str | None = None  # a regex on "METHOD /path": faults apply only to matching requests

    def __post_init__(self):
        self._lock = threading.Lock()

    def update(self, **changes) -> None:
        with self._lock:
            for name, value in changes.items():
                if name not in self.__dataclass_fields__:
                    raise ValueError(f"unknown fault {name!r}")
                setattr(self, name, value)

    def take(self, request_line: str = "") -> tuple[float, str | None]:
        """The latency and the one-shot fault (`drop`, `fail`, `malformed`) for this request
        (`request_line` is "METHOD /path", checked against `match`)."""
        with self._lock:
            fault = None
            if self.match is not None and not re.search(self.match, request_line,
                                                        re.IGNORECASE):
                return 0.0, None
            if self.drop_next > 0:
                self.drop_next -= 1
                fault = "drop"
            elif self.fail_next > 0:
                self.fail_next -= 1
                fault = "fail"
            elif self.malformed_next > 0:
                fault = "malformed"
            return self.latency_s, fault

    def spend_malformed(self) -> bool:
        with self._lock:
            if self.malformed_next > 0:
                self.malformed_next -= 1
                return True
            return False

    def as_dict(self) -> dict:
        with self._lock:
            return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


class Hold:
    """Requests matching `pattern` ("METHOD /path" regex) kept in flight until `release()`;
    `reached` is set when the first of them arrives. `stage`: `arrival` (held before the
    server acts on it) or `answer` (acted on, and the answer held back)."""

    def __init__(self, pattern: str, stage: str = "arrival"):
        if stage not in ("arrival", "answer"):
            raise ValueError(f"unknown hold stage {stage!r}")
        self.pattern = pattern
        self.stage = stage
        self.reached = threading.Event()
        self._released = threading.Event()

    def matches(self, request_line: str) -> bool:
        return re.search(self.pattern, request_line, re.IGNORECASE) is not None

    def keep(self) -> None:
        self.reached.set()
        self._released.wait(30)  # a hold a test forgot never hangs the simulator for good

    def release(self) -> None:
        self._released.set()


class Traffic:
    """Every Xsi request as it arrived and was answered (monotonic times), and holds: requests
    kept in flight until a test lets them go (to show what a client does meanwhile)."""

    def __init__(self, keep: int = 2000):
        self._lock = threading.Lock()
        self.requests: collections.deque[dict] = collections.deque(maxlen=keep)
        self._holds: list[Hold] = []

    def arrived(self, request_line: str) -> dict:
        entry = {"request": request_line, "arrived": time.monotonic(), "answered": None}
        with self._lock:
            self.requests.append(entry)
        self._keep(request_line, "arrival")
        return entry

    def answering(self, request_line: str) -> None:
        """The server has acted on the request and is about to answer it."""
        self._keep(request_line, "answer")

    def _keep(self, request_line: str, stage: str) -> None:
        with self._lock:
            holds = [hold for hold in self._holds
                     if hold.stage == stage and hold.matches(request_line)]
        for hold in holds:
            hold.keep()

    def answered(self, entry: dict) -> None:
        with self._lock:
            entry["answered"] = time.monotonic()

    def hold(self, pattern: str, *, stage: str = "arrival") -> Hold:
        """Keep the requests matching `pattern` in flight until the hold is released: on
        arrival, or (`stage="answer"`) once the server has acted on them."""
        hold = Hold(pattern, stage)
        with self._lock:
            self._holds.append(hold)
        return hold

    def release_all(self) -> None:
        with self._lock:
            holds, self._holds = self._holds, []
        for hold in holds:
            hold.release()

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def snapshot(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self.requests]


def sequential_round_trips(requests: list[dict]) -> int:
    """The longest chain of requests each sent after the previous one was answered: the round
    trips a client made one after the other (interval scheduling, by earliest answer)."""
    chain, last_answer = 0, float("-inf")
    for request in sorted((r for r in requests if r["answered"] is not None),
                          key=lambda r: r["answered"]):
        if request["arrived"] >= last_answer:
            chain += 1
            last_answer = request["answered"]
    return chain


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, handler, sim: SimulatedCallCenter,
                 ssl_context: ssl.SSLContext | None):
        self.sim = sim
        self.ssl_context = ssl_context
        self.connections: weakref.WeakSet = weakref.WeakSet()
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def get_request(self):
        sock, address = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            # The handshake happens in the request's own thread (see _Handler.setup).
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        self.connections.add(sock)  # (the wrapped one: wrapping detaches the plain socket)
        return sock, address

    def drop_connections(self) -> None:
        """Cut every client connection (their handler threads end at once)."""
        for sock in list(self.connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BroadWorks-XSP-Simulator/1.0"
    timeout = 30
    server: _Server

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(10)
            self.connection.do_handshake()

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_GET

    def _dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        self._request_line = None
        if parts.path == "/_sim" or parts.path.startswith("/_sim/"):
            self._inspect(parts.path, body)
            return
        sim = self.server.sim
        self._request_line = f"{self.command} {parts.path}"
        entry = sim.traffic.arrived(self._request_line)
        try:
            lowered = parts.path.lower()
            if lowered.startswith((EVENTS_PATH.lower() + "/", STREAM_PATH.lower() + "/")):
                self._events(sim, parts.path, body)
            else:
                self._answer(sim, parts, body)
                sim.events.sync()  # whatever changed, its subscribers hear of it
        finally:
            sim.traffic.answered(entry)

    # --- Xsi-Events -------------------------------------------------------------------------

    def _events(self, sim, path: str, body: bytes) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        model = sim.model
        with model.lock:
            sim.model.count(headers)
            caller = model._authenticate(headers)
        if caller is None:
            self._reply(Reply(401, UNAUTHORIZED_PAGE, {
                "WWW-Authenticate": 'Basic realm="BroadWorks"', "Content-Type": "text/html"}))
            return
        latency, fault = sim.faults.take(f"{self.command} {path}")
        if latency:
            time.sleep(latency)
        if fault == "fail":
            self._reply(self._injected_failure(sim))
            return
        if path.lower() == (STREAM_PATH + "/channel").lower() and self.command == "POST":
            self._stream(sim, caller, body)
            return
        segments = [unquote(p) for p in path[len(EVENTS_PATH) + 1:].split("/")]
        words = [p.lower() for p in segments]
        try:
            reply = self._events_request(sim, caller, words, segments, body)
        except ProtocolError:
            reply = model._error(caller, 400, 4011)
        if reply is None:
            reply = Reply(404)
        elif isinstance(reply, tuple):
            status, code = reply
            reply = model._error(caller, status, code) if code else Reply(status)
        self._reply(reply)

    def _events_request(self, sim, caller, words, segments, body):
        events = sim.events
        method = self.command
        xml = {"Content-Type": "application/xml; charset=UTF-8"}
        if words[:1] == ["channel"] and len(words) == 3 and words[2] == "heartbeat" \
                and method == "PUT":
            return Reply(200) if events.heartbeat(segments[1]) else None
        if words == ["channel", "eventresponse"] and method == "POST":
            fields = codec.parse_fields(body, "EventResponse", codec.EVENT_RESPONSE_SPEC)
            events.acknowledge(fields.get("event_id"))
            return Reply(200)
        if words[:1] == ["channel"] and len(words) == 2:
            if method == "DELETE":
                return Reply(200) if events.delete_channel(segments[1]) else None
            if method == "PUT":
                fields = codec.parse_fields(body, "Channel", codec.CHANNEL_SPEC)
                ok = events.refresh_channel(segments[1], int(fields.get("expires") or 0))
                return Reply(200) if ok else None
        if words[:1] == ["subscription"] and len(words) == 2:
            if method == "DELETE":
                return Reply(200) if events.delete_subscription(segments[1]) else None
            if method == "PUT":
                fields = codec.parse_fields(body, "Subscription", codec.SUBSCRIPTION_SPEC)
                ok = events.refresh_subscription(segments[1], int(fields.get("expires") or 0))
                return Reply(200) if ok else None
        if words[:1] == ["user"] and len(words) >= 2:
            target = sim.model.directory.find(segments[1])
            if target is None:
                return None
            if len(words) == 2 and method == "POST":
                fields = codec.parse_fields(body, "Subscription", codec.SUBSCRIPTION_SPEC)
                status, result = events.subscribe(caller, target, fields)
                if status != 200:
                    return (status, result)
                body = codec.render_fields("Subscription", codec.SUBSCRIPTION_SPEC,
                                           dataclasses.asdict(result))
                return Reply(200, body, xml)
        return None

    def _stream(self, sim, caller, body: bytes) -> None:
        """The channel: a chunked answer kept open, one XML document a chunk."""
        try:
            fields = codec.parse_fields(body, "Channel", codec.CHANNEL_SPEC)
        except ProtocolError:
            self._reply(sim.model._error(caller, 400, 4011))
            return
        channel = sim.events.open_channel(caller, fields)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml; charset=UTF-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            while True:
                try:
                    document = channel.documents.get(timeout=0.5)
                except queue.Empty:
                    sim.events.end_silent_channels()
                    continue
                if document is None:
                    break
                self.wfile.write(f"{len(document):x}\r\n".encode() + document + b"\r\n")
                self.wfile.flush()
            if channel.cut:
                return  # a server restart: the connection just drops
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            sim.events.terminate(channel, "NonResponsiveChannel")

    def _answer(self, sim, parts, body: bytes):
        headers = {k.lower(): v for k, v in self.headers.items()}
        sim.model.count(headers)
        latency, fault = sim.faults.take(f"{self.command} {parts.path}")
        if latency:
            time.sleep(latency)
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "fail":
            self._reply(self._injected_failure(sim))
            return
        query = {k.lower(): v for k, v in parse_qsl(parts.query)}
        reply = sim.model.handle(self.command, parts.path, query, headers, body)
        if reply.body and reply.status == 200 and fault == "malformed" and \
                sim.faults.spend_malformed():
            reply.body = reply.body[: max(1, len(reply.body) // 2)]
        self._reply(reply)

    @staticmethod
    def _injected_failure(sim: SimulatedCallCenter) -> Reply:
        status = sim.faults.fail_status
        if status == 503:
            extra = {}
            if sim.faults.retry_after is not None:
                extra["Retry-After"] = str(int(sim.faults.retry_after))
            return Reply(503, b"Service Unavailable", {"Content-Type": "text/plain", **extra})
        if status == 401:
            return Reply(401, UNAUTHORIZED_PAGE, {"WWW-Authenticate": 'Basic realm="BroadWorks"',
                                                  "Content-Type": "text/html"})
        info = codec.ErrorInfo(summary_english=f"[Error 4999] Injected fault ({status})",
                               error_code=4999)
        return Reply(status, codec.encode_error_info(info),
                     {"Content-Type": "application/xml; charset=UTF-8"})

    def _reply(self, reply: Reply):
        request_line = getattr(self, "_request_line", None)
        if request_line is not None:  # an Xsi request (not the inspection view)
            sim = self.server.sim
            sim.traffic.answering(request_line)
            if sim.events.pad and b"<?xml" in reply.body[:64]:
                reply.body = pad_values(reply.body)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        # Headers and body in one write: two small writes meet Nagle and delayed ACK (40 ms).
        self._headers_buffer.append(b"\r\n")
        if reply.body and self.command != "HEAD":
            self._headers_buffer.append(reply.body)
        self.flush_headers()

    def _inspect(self, path: str, body: bytes):
        sim = self.server.sim
        try:
            data = json.loads(body or b"{}")
            if path in ("/_sim", "/_sim/", "/_sim/state") and self.command == "GET":
                result = sim.inspect()
            elif path == "/_sim/faults" and self.command == "POST":
                sim.set_faults(**data)
                result = sim.inspect()
            elif path == "/_sim/modes" and self.command == "POST":
                sim.model.set_modes(**data)
                result = sim.inspect()
            elif path == "/_sim/acd" and self.command == "POST":
                sim.supervisor_sets(data["user"], data["state"], data.get("unavailable_code"))
                result = sim.inspect()
            elif path == "/_sim/events/cut" and self.command == "POST":
                sim.events.cut_all()
                result = sim.inspect()
            elif path == "/_sim/events/lose" and self.command == "POST":
                sim.events.lose(int(data["count"]))
                result = sim.inspect()
            elif path == "/_sim/events/end" and self.command == "POST":
                result = {"ended": sim.end_subscriptions(data["user"])}
            elif path == "/_sim/shapes" and self.command == "POST":
                sim.set_shapes(**data)
                result = sim.inspect()
            elif path == "/_sim/reset" and self.command == "POST":
                sim.reset()
                result = sim.inspect()
            else:
                self._reply(Reply(404, b'{"error": "no such inspection path"}',
                                  {"Content-Type": "application/json"}))
                return
        except (ValueError, TypeError, KeyError) as exc:
            payload = json.dumps({"error": str(exc)}).encode()
            self._reply(Reply(400, payload, {"Content-Type": "application/json"}))
            return
        self._reply(Reply(200, json.dumps(result, indent=1).encode(),
                          {"Content-Type": "application/json"}))


class SimulatedCallCenter:
    """A simulated BroadWorks XSP on `host:port` (0 = any free port), HTTP or HTTPS.

    A context manager; `start()` serves on a background thread, `close()` stops it (twice is
    harmless). With `tls=True` and no `ssl_context`, a throwaway CA and server certificate are
    made (needs `trustme`); `ca_path` is then the CA's PEM file, for the client to trust.
    """

    def __init__(self, directory: Directory, *, host: str = "127.0.0.1", port: int = 0,
                 tls: bool = False, ssl_context: ssl.SSLContext | None = None,
                 occupied: str = "reject", moved: str = "reject",
                 lock_after: int | None = None, advertised_host: str | None = None):
        """`advertised_host`: the address clients reach a wildcard `host` (0.0.0.0) by; it
        goes into `url` and the certificate."""
        self.advertised_host = advertised_host
        self.model = CallCenterModel(directory, occupied=occupied, moved=moved,
                                     lock_after=lock_after)
        self.faults = Faults()
        self.traffic = Traffic()
        self.events = EventsModel(self.model)
        self.ca_path: Path | None = None
        self._tempdir: tempfile.TemporaryDirectory | None = None
        if tls and ssl_context is None:
            ssl_context = self._make_certificates(advertised_host or host)
        self.tls = ssl_context is not None
        self._server = _Server((host, port), _Handler, self, ssl_context)
        self._thread: threading.Thread | None = None
        self._closed = False

    def _make_certificates(self, host: str) -> ssl.SSLContext:
        try:
            import trustme
        except ImportError:
            raise RuntimeError("--tls needs the 'trustme' package: "
                               "pip install 'hotdesk-kiosk[test]'") from None
        ca = trustme.CA(organization_name="Hot-desk kiosk simulator")
        names = sorted({host, "127.0.0.1", "localhost", "::1"})
        cert = ca.issue_cert(*names)
        self._tempdir = tempfile.TemporaryDirectory(prefix="hotdesk-sim-ca-")
        self.ca_path = Path(self._tempdir.name) / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        host = self.advertised_host or self._server.server_address[0]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The Xsi-Actions base URL, as `callcenter.url` takes it."""
        return self.origin + BASE_PATH

    @property
    def inspect_url(self) -> str:
        return self.origin + "/_sim"

    def start(self) -> SimulatedCallCenter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.1},
                                            name="sim-callcenter", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until `close()` is called from another."""
        self._server.serve_forever(poll_interval=0.1)

    def set_faults(self, *, lock_after: int | str | None = "unchanged", **faults) -> None:
        if lock_after != "unchanged":
            self.model.lock_after = lock_after
        self.faults.update(**faults)

    def reset(self) -> None:
        self.model.reset_counts()
        self.traffic.release_all()
        self.traffic.clear()
        self.faults.update(latency_s=0.0, fail_next=0, retry_after=None, drop_next=0,
                           malformed_next=0, fail_status=503, match=None)

    def inspect(self) -> dict:
        return {**self.model.snapshot(), "faults": self.faults.as_dict(),
                "events": self.events.snapshot()}

    def supervisor_sets(self, user_id: str, state: str,
                        unavailable_code: str | None = None) -> None:
        """A supervisor changes an agent's ACD state; subscribers hear of it at once."""
        self.model.supervisor_sets(user_id, state, unavailable_code)
        self.events.sync()

    def end_subscriptions(self, user_id: str) -> int:
        """The server ends `user_id`'s subscriptions (the channel stays up)."""
        return self.events.end_subscriptions(user_id)

    def set_shapes(self, *, pad: bool | None = None, heartbeat: str | None = None) -> None:
        """How the server writes its documents: `pad` every value with line breaks and
        indents (Cisco's examples), the stream's `heartbeat` `declared` or `bare`."""
        if heartbeat is not None:
            if heartbeat not in ("declared", "bare"):
                raise ValueError("heartbeat: declared or bare")
            self.events.heartbeat_form = heartbeat
        if pad is not None:
            self.events.pad = bool(pad)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.traffic.release_all()
        self.events.cut_all()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        self._server.drop_connections()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def __enter__(self) -> SimulatedCallCenter:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
