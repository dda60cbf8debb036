"""This desk's metrics for Prometheus, through node_exporter's textfile collector: the kiosk
opens no port of its own. One file (`log.metrics_file`, on tmpfs), written atomically (a
temporary file renamed over it) by prometheus-client, on every change and at least every
`INTERVAL_S`, from a thread of its own.

```python
metrics = DeskMetrics("/run/hotdesk/metrics/hotdesk.prom", desk="desk12",
                      session_log=log).start()
engine.observe(metrics.observe)               # the desk as the engine sees it
session_log.when_recorded.append(metrics.event)  # counters from the session log's events
metrics.ui_alive()                            # from the UI's clock: a frozen screen goes stale
metrics.close()                               # at stop: the file says "out of service"
```

| metric | what |
| --- | --- |
| `hotdesk_in_service` | 1 while the kiosk runs; 0 once stopped (then what it cannot know goes) |
| `hotdesk_desk_occupied` | 1 while an agent is signed in (or signing in or out) |
| `hotdesk_desk_occupied_since_seconds` | when the agent signed in (Unix time); 0 when free |
| `hotdesk_out_of_order` | 1 while the desk is out of order |
| `hotdesk_sessions_total` | sessions begun (a counter: it survives restarts, from the log) |
| `hotdesk_signin_failures_total{reason}` | sign-ins that failed, by reason (from the log) |
| `hotdesk_phone_up` | 1 while an HD-AT/1 phone answers (0: none, missing, silent) |
| `hotdesk_callcenter_reachable` | 1 while the Call Center answers |
| `hotdesk_push_up` | 1 while changes come by Xsi-Events push |
| `hotdesk_cleanups_owed` | server clean-ups waiting in the outbox |
| `hotdesk_resync_corrections_total` | reads that found the kiosk's view wrong (from the log) |
| `hotdesk_ui_heartbeat_timestamp_seconds` | the UI clock's last tick: stale = frozen screen |
| `hotdesk_build_info{version}` | 1 (desk, floor and zone: the site's target labels) |

No agent IDs as labels, no sample timestamps; floor and zone are the site's target labels.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

log = logging.getLogger(__name__)

INTERVAL_S = 30.0
BUSY_STATES = ("active", "reconnecting", "signing_in", "signing_out")


class DeskMetrics:
    def __init__(self, path: str | Path, *, desk: str, session_log=None,
                 clock: Callable[[], float] = time.time, interval_s: float = INTERVAL_S):
        from kiosk import __version__

        self.path = Path(path)
        self.session_log = session_log
        self.clock = clock
        self.interval_s = interval_s
        self.registry = registry = CollectorRegistry()

        def gauge(name, text, labels=()):
            return Gauge(name, text, labels, registry=registry)

        self.in_service = gauge("hotdesk_in_service", "1 while the kiosk runs, 0 once stopped")
        self.occupied = gauge("hotdesk_desk_occupied", "1 while an agent holds the desk")
        self.occupied_since = gauge("hotdesk_desk_occupied_since_seconds",
                                    "When the agent signed in (Unix time); 0 when free")
        self.out_of_order = gauge("hotdesk_out_of_order", "1 while the desk is out of order")
        self.phone_up = gauge("hotdesk_phone_up", "1 while an HD-AT/1 phone answers")
        self.callcenter = gauge("hotdesk_callcenter_reachable",
                                "1 while the Call Center answers")
        self.push_up = gauge("hotdesk_push_up", "1 while changes come by Xsi-Events push")
        self.owed = gauge("hotdesk_cleanups_owed", "Server clean-ups waiting in the outbox")
        self.ui_heartbeat = gauge("hotdesk_ui_heartbeat_timestamp_seconds",
                                  "Last tick of the UI's clock (Unix time)")
        self.sessions = Counter("hotdesk_sessions", "Sessions begun at this desk",
                                registry=registry)
        self.failures = Counter("hotdesk_signin_failures", "Sign-ins that failed, by reason",
                                ["reason"], registry=registry)
        self.corrections = Counter("hotdesk_resync_corrections",
                                   "Reads that found the kiosk's view of the server wrong",
                                   registry=registry)
        # (the desk, floor and zone are the site's target labels: file_sd from the inventory)
        gauge("hotdesk_build_info", "The kiosk's version", ["version"]).labels(
            version=__version__).set(1)
        self.desk = desk
        self.in_service.set(1)
        self._load_counts()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()  # the values a stop sets are the last ones written

    def _load_counts(self) -> None:
        """The counters go on where the session log says they were (they survive restarts)."""
        if self.session_log is None:
            return
        try:
            counts = self.session_log.counts()
        except Exception as exc:  # the metrics must never stop the kiosk
            log.warning("metrics: could not read the counts from the session log: %s", exc)
            return
        self.sessions.inc(counts["sessions"])
        for reason, count in counts["failures"].items():
            self.failures.labels(reason=reason).inc(count)
        self.corrections.inc(counts["corrections"])

    # --- what they are fed ------------------------------------------------------------------

    def observe(self, snapshot) -> None:
        """An engine snapshot (on the engine's worker: only sets values, then wakes the
        writer)."""
        with self._lock:
            if not self._closed:
                self._set_from(snapshot)
        self._wake.set()

    def _set_from(self, snapshot) -> None:
        state = str(snapshot.state)
        busy = state in BUSY_STATES
        self.occupied.set(1 if busy else 0)
        if snapshot.agent is not None and snapshot.agent.since:
            from datetime import datetime

            since = datetime.fromisoformat(snapshot.agent.since.replace("Z", "+00:00"))
            self.occupied_since.set(since.timestamp())
        elif not busy:
            self.occupied_since.set(0)
        self.out_of_order.set(1 if state == "out_of_order" else 0)
        self.phone_up.set(1 if str(snapshot.phone) == "ok" else 0)
        self.callcenter.set(1 if str(snapshot.connection) == "ok" else 0)
        self.push_up.set(1 if snapshot.push else 0)

    def event(self, row: dict) -> None:
        """A committed session-log event (on the log's writer: only counts, then wakes)."""
        kind = row.get("kind")
        if kind == "signed_in":
            self.sessions.inc()
        elif kind == "signin_failed":
            reason = json.loads(row.get("detail") or "{}").get("reason") or "unknown"
            self.failures.labels(reason=reason).inc()
        elif kind == "resync_corrected":
            self.corrections.inc()
        else:
            return
        self._wake.set()

    def ui_alive(self, when: float | None = None) -> None:
        """A tick of the UI's clock (call it from the UI thread, every few seconds)."""
        self.ui_heartbeat.set(self.clock() if when is None else when)

    # --- the file ---------------------------------------------------------------------------

    def write(self) -> None:
        """Write the file now (atomically: node_exporter never reads half of it)."""
        if self.session_log is not None:
            with contextlib.suppress(Exception):
                self.owed.set(len(self.session_log.owed()))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_readable(self.path, generate_latest(self.registry))
        except OSError as exc:
            log.warning("could not write the metrics file %s: %s", self.path, exc)

    def start(self) -> DeskMetrics:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.write()
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def close(self) -> None:
        """The kiosk stops: the file now says the desk is out of service, and no longer
        reports what a stopped kiosk cannot know (the phone, the Call Center, push, whether the
        server still seats an agent): those series go, rather than stay healthy or say free."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.in_service.set(0)
            for unknown in (self.occupied, self.occupied_since, self.out_of_order,
                            self.phone_up, self.callcenter, self.push_up):
                self.registry.unregister(unknown)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        self.write()


def write_readable(path: Path, data: bytes) -> None:
    """Replace `path` with `data` at once, mode 0644 whatever the umask (the unit's is 0077):
    node_exporter reads it as another user (`prometheus`)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with open(fd, "wb") as file:
        os.fchmod(fd, 0o644)
        file.write(data)
    try:
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
