"""sd_notify without a dependency: a few lines over the `NOTIFY_SOCKET` datagram socket.

```python
notifier = Notifier()            # does nothing when not started by systemd
notifier.ready("desk free")      # READY=1 + STATUS=
notifier.watchdog()              # WATCHDOG=1, every watchdog_interval_s()
notifier.stopping()
```
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: Mapping[str, str] = os.environ):
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # an abstract socket
            address = "\0" + address[1:]
        self.address = address or None
        self._watchdog_usec = int(environ.get("WATCHDOG_USEC", "0") or 0)
        watchdog_pid = environ.get("WATCHDOG_PID")
        if watchdog_pid and watchdog_pid != str(os.getpid()):
            self._watchdog_usec = 0  # the watchdog is meant for another process
        self._socket: socket.socket | None = None
        self.last_status: str | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1: half of WatchdogSec, or None when there is none."""
        return self._watchdog_usec / 2e6 if self._watchdog_usec else None

    def notify(self, *lines: str) -> bool:
        """Send `KEY=value` lines; False when not under systemd or the send failed."""
        if self.address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.sendto("\n".join(lines).encode(), self.address)
            return True
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        lines = ["READY=1"] + ([f"STATUS={status}"] if status else [])
        return self.notify(*lines)

    def status(self, text: str) -> bool:
        if text == self.last_status:
            return True
        self.last_status = text
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
