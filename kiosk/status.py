"""`kiosk status`: the running kiosk answers what it is doing now, on a local socket.

```python
server = StatusServer(provide=lambda: {...}).start()   # in `kiosk run`
answer = ask()                                         # anywhere on the unit: dict, or None
```

The socket is `status.sock` in the unit's runtime folder (`/run/hotdesk`, mode 0750, owned by
the kiosk's user), itself mode 0660: root and the `hotdesk` group may ask, the agents at the
screen (who have no shell) cannot. The answer is one JSON object and a newline, made from what
the kiosk already holds in memory (the last snapshot): it never waits for the engine, the
network or the phone, and it never holds a secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path

from kiosk.session.lock import runtime_path

log = logging.getLogger(__name__)


def status_path() -> Path:
    return runtime_path("status.sock")


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        try:
            answer = self.server.provide()  # type: ignore[attr-defined]
        except Exception as exc:  # the kiosk is still answerable when a part is not
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(OSError):
            self.wfile.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class StatusServer:
    def __init__(self, provide: Callable[[], dict], path: str | Path | None = None):
        self.path = Path(path) if path else status_path()
        self.provide = provide
        self._server: _Server | None = None

    def start(self) -> StatusServer:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a kiosk that died: the unit lock says we are the one
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._server = _Server(str(self.path), _Handler)
        self._server.provide = self.provide  # type: ignore[attr-defined]
        os.chmod(self.path, 0o660)
        threading.Thread(target=self._server.serve_forever, name="status", daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def ask(path: str | Path | None = None, timeout: float = 2.0) -> dict | None:
    """The running kiosk's answer, or None when none answers; `PermissionError` when one may
    be there but this user may not ask (not root, not in the `hotdesk` group)."""
    path = Path(path) if path else status_path()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    except PermissionError:
        raise
    except OSError as exc:
        log.debug("status socket %s: %s", path, exc)
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def describe(unit, started: float, now: float) -> dict:
    """What `kiosk status` shows, from a running unit (None while it starts)."""
    from kiosk import __version__

    answer: dict = {"version": __version__, "pid": os.getpid(),
                    "uptime_s": round(now - started, 1)}
    if unit is None:
        return {**answer, "state": "starting"}
    snap = unit.engine.snapshot
    link = unit.engine.phone_link
    agent = snap.agent
    answer.update({
        "desk": unit.config.desk.id, "state": str(snap.state),
        "agent": None if agent is None else {
            "user_id": agent.user_id, "name": agent.display_name, "role": agent.role,
            "since": agent.since, "acd_state": agent.acd_state,
            "unavailable_code": agent.unavailable_code},
        "phone": {"status": str(snap.phone), "serial": link.serial,
                  "model": link.model, "off_hook": snap.off_hook,
                  "shows": "agent" if snap.phone.provisions else "desk"},
        "callcenter": {"connection": str(snap.connection),
                       "events": "push" if snap.push else "polling",
                       "resync_corrections": snap.resync_corrections},
        "gpio": {"status": "ok" if unit.panel is not None else "unavailable",
                 "error": getattr(unit, "gpio_error", None)},
        "badge": _badge(getattr(unit, "badge_reader", None)),
        "badge_directory_problem": getattr(getattr(unit.engine, "badge_resolver", None),
                                           "problem", None),
        "out_of_order": snap.out_of_order, "last_error": snap.error,
        "log_problem": snap.log_problem,
    })
    return answer


def _badge(reader) -> dict | None:
    """The badge reader's state, where one is configured."""
    if reader is None:
        return None
    return {"device": getattr(reader, "device", None),
            "status": "ok" if getattr(reader, "connected", False) else "unavailable",
            "error": getattr(reader, "problem", None)}
