"""Session-log events copied to the systemd journal, one structured entry each, over journald's
native protocol (logging-journald's pure-Python transport; no C build).

```python
journal = JournalCopy("/run/systemd/journal/socket")   # log.journal_socket
session_log.when_recorded.append(journal)              # every committed event, copied
journal.close()                                        # at shutdown: what is queued goes out
```

The SQLite session log stays the source of truth; the journal is a copy. Entries go out from a
thread of their own (`logging.handlers.QueueListener`) through a bounded queue on a
non-blocking socket: when journald is absent,
full or slow, an entry is dropped (and counted), and nothing waits -- neither the engine's
worker nor the screen.

Each entry: `MESSAGE` (one line a person can read), `MESSAGE_ID` (one constant id per event
kind, in `MESSAGE_IDS`; `systemd/hotdesk-kiosk.catalog` explains each), `PRIORITY` (by kind),
`SYSLOG_IDENTIFIER=hotdesk-kiosk`, `HOTDESK_EVENT`, `HOTDESK_DESK`, `HOTDESK_SESSION` (the
session's id in the local log, to join the two), `HOTDESK_AGENT` where there is one, and the
event's details as further `HOTDESK_*` fields. Never a password: the session log refuses one
before a row exists.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import re
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path

log = logging.getLogger(__name__)

IDENTIFIER = "hotdesk-kiosk"
QUEUE_SIZE = 1000

#: One constant 128-bit id per event kind (never change one: sites filter on them).
MESSAGE_IDS = {
    "signin_started": "f40c29bbb981508bbc93eba0c307b55b",
    "step": "7a95dda8af9b5b58bb6c7487b216c514",
    "signed_in": "336665d1a1ec5f17b2e59e5ed562e785",
    "signin_failed": "9b812fdcfcec5d76868d19dcbee43ef0",
    "throttled": "52c2af0e9a1c5dccb937f6b61400028b",
    "moved": "50ea5bea51ae5a76820c954d4ec6637e",
    "stale_guest_released": "140dfb8ac5f85ed6988cf2b435156bf7",
    "acd_state": "6d69056430d65891b91ab9ff8ec2ccfa",
    "acd_state_seen": "743424441ba05672ba1dafece856762a",
    "warning": "ac0c374eeab35b158ffa9488bc4acb83",
    "extended": "e8325c05fda85b4c880610da883fd272",
    "policy_deferred": "4855b4a300555d749585449c18dd3264",
    "policy_sign_out": "a18ec4cc61fa52e3a6e8005740897d5b",
    "connection_lost": "b858a986b4b3595b8427f1a74a768208",
    "reconnect_failed": "36971a05c6875d9c9fa98466cb897ba2",
    "reconnected": "78ccf1a86c6c56c488688ee1e0ba6b06",
    "evicted": "b195f32ec656511e9ece857b89bdfdd3",
    "events_up": "b57ea462ac7c5786a247f828294dbe84",
    "events_down": "5e77a890086c56a1b26dc79fb9e00f6c",
    "events_subscribed": "680ca31aa19853119a872266339ba7b4",
    "events_unsubscribed": "1feb75b59bb556fdbf4aaa8217e26bfc",
    "resync_corrected": "46524e76931f556fbeba6eb2d5140cc0",
    "late_cleanup_repaired": "410d72530bbc5a319e82ec65b91caf77",
    "signing_out": "4e763ad581eb53c7bd9f80b6c8b50e74",
    "signed_out": "df59692e3a005b33a56ae2fe1071cdd2",
    "outbox_done": "7bfef7ebf510597aa37952cbad289919",
    "out_of_order": "1c907cd355e3516cb0e6c095bf81a584",
    "phone_power_cycle": "d6041f8fe65c5d65bd189cd168aa7b79",
    "phone_rebooted": "f92a71dad64a5b37ba97b62c6c985976",
    "gpio_unavailable": "b1a919b720f8580193a92d5f15151406",
    "admin": "ed36efaa63c354b997069db2322c9dc3",
    "log_reset": "cac158ede68d550cb2d4d85dae22dada",
    "badge_read": "4e1b6eb64c945fbb8b47cb509d6a41f2",
    "badge_unknown": "2d52127acca856308b2bc52c47231c4d",
    "badge_directory_down": "31a9cfe6ff144c88af81a15636dcde14",
}

#: syslog priorities: 3 error, 4 warning, 5 notice, 6 info (the default)
PRIORITIES = {
    "out_of_order": 3, "log_reset": 3, "gpio_unavailable": 3,
    "signin_failed": 4, "throttled": 4, "evicted": 4, "connection_lost": 4,
    "reconnect_failed": 4, "events_down": 4, "resync_corrected": 4,
    "late_cleanup_repaired": 4, "phone_power_cycle": 4, "badge_unknown": 4,
    "badge_directory_down": 4,
    "admin": 5, "policy_sign_out": 5, "stale_guest_released": 5, "moved": 5,
    "signed_in": 5, "signed_out": 5, "reconnected": 5, "outbox_done": 5,
}
DEFAULT_PRIORITY = 6


def entry(row: dict) -> list[tuple[str, object]]:
    """The journal fields for one session-log event row (`kind`, `desk`, `session`, `detail`
    JSON and, where known, `agent`). Pure: tested on its own."""
    kind = row["kind"]
    detail = json.loads(row.get("detail") or "{}")
    agent = row.get("agent") or detail.get("agent")
    fields: list[tuple[str, object]] = [
        ("MESSAGE", message(kind, row["desk"], agent, detail)),
        ("MESSAGE_ID", MESSAGE_IDS.get(kind, "")),
        ("PRIORITY", PRIORITIES.get(kind, DEFAULT_PRIORITY)),
        ("SYSLOG_IDENTIFIER", IDENTIFIER),
        ("HOTDESK_EVENT", kind),
        ("HOTDESK_DESK", row["desk"]),
    ]
    if row.get("session") is not None:
        fields.append(("HOTDESK_SESSION", row["session"]))
    if agent:
        fields.append(("HOTDESK_AGENT", agent))
    for key, value in sorted(detail.items()):
        name = "HOTDESK_" + _field_name(key)
        if value is None or name in ("HOTDESK_AGENT", "HOTDESK_EVENT", "HOTDESK_DESK",
                                     "HOTDESK_SESSION"):
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True)
        fields.append((name, value))
    return [(k, v) for k, v in fields if v != ""]


def message(kind: str, desk: str, agent: str | None, detail: dict) -> str:
    """One line a person can read: `signed_out at desk12: zoe@… (reason=agent, …)`."""
    shown = ", ".join(f"{k}={v}" for k, v in sorted(detail.items())
                      if k != "agent" and v not in (None, ""))
    line = f"{kind} at {desk}" + (f": {agent}" if agent else "") + (
        f" ({shown})" if shown else "")
    return " ".join(line.split())  # one line, whatever a detail held


def _field_name(key: str) -> str:
    """A journal field name: upper-case letters, digits and underscores."""
    return re.sub(r"[^A-Z0-9_]", "_", key.upper()).lstrip("_") or "DETAIL"


class JournalCopy:
    """Copies session-log event rows to journald at `socket_path`; a callable for
    `SessionLog.when_recorded`. The standard library's `QueueHandler` and `QueueListener`
    carry them: a bounded queue, and one thread that sends. `close()` sends what is queued."""

    def __init__(self, socket_path: str | Path, *, queue_size: int = QUEUE_SIZE):
        from logging_journald import JournaldTransport

        self.socket_path = Path(socket_path)
        self.sent = 0
        self.dropped = 0
        self._warned = False
        self._transport = JournaldTransport(self.socket_path, connected=False)
        self._transport.socket.setblocking(False)  # a full journald never holds anyone up
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._handler = _Bounded(self._queue, self)
        self._listener = _Listener(self._queue, _Send(self))
        self._listener.start()
        self._closed = False

    def __call__(self, row: dict) -> None:
        self._handler.handle(logging.makeLogRecord({"fields": entry(row)}))

    def _send(self, fields) -> None:
        try:
            self._transport.send(fields)
            self.sent += 1
        except OSError as exc:  # absent, refused, full (EAGAIN): dropped, logged once
            self.dropped += 1
            if not self._warned:
                self._warned = True
                log.warning("could not copy session-log events to the journal at %s "
                            "(%s); the session log keeps them", self.socket_path, exc)

    def close(self, timeout: float = 1.0) -> None:
        """Send what is queued, then stop (twice is harmless)."""
        if self._closed:
            return
        self._closed = True
        self._listener.timeout = timeout
        self._listener.stop()  # (its thread never blocks: the socket does not)
        self._transport.socket.close()


class _Bounded(QueueHandler):
    """Onto the queue as it is (no formatting); a full queue drops the entry and counts it:
    journald is slow or gone, and the local log has it all."""

    def __init__(self, queue_: queue.Queue, copy: JournalCopy):
        super().__init__(queue_)
        self.copy = copy

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.copy.dropped += 1


class _Listener(QueueListener):
    timeout = 1.0

    def enqueue_sentinel(self) -> None:
        """The end, after what is queued: a full queue gets `timeout` to make room."""
        with contextlib.suppress(queue.Full):
            self.queue.put(None, timeout=self.timeout)


class _Send(logging.Handler):
    """On the listener's thread: one entry to journald."""

    def __init__(self, copy: JournalCopy):
        super().__init__()
        self.copy = copy

    def emit(self, record: logging.LogRecord) -> None:
        self.copy._send(record.fields)
