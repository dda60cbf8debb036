"""The desk phone as the engine sees it: open it (and keep trying), know its status, power-cycle
it once when it falls silent, follow its hook and reboots, give it a line and take it back.

```python
link = PhoneLink(open_phone, worker, panel=panel, clock=clock)
link.when_status_changed = lambda status, reason: ...   # PhoneStatus, and why (for the log)
link.when_hook_changed = lambda off_hook: ...
link.when_needs_line = lambda: ...       # back or rebooted: give it the agent's line again
link.when_event = lambda kind, **detail: ...            # for the session log
link.open()
link.apply(line, "fr"); link.release(force=True)
```

Every method runs on the engine's worker, and every callback is called there; the driver's
own threads only post to the worker. `apply`, `release` and `reapply` talk to the phone
directly (a few milliseconds at 115200 baud); the relay's power cycle runs on the I/O pool.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from hardware.phone import DeskPhone, GuestLine, PhoneDisconnected, PhoneError
from kiosk.session.clock import Clock
from kiosk.session.model import PhoneStatus
from kiosk.session.worker import Timer, Worker

log = logging.getLogger(__name__)

RETRY_S = 2.0  # a missing phone: look again this often
SILENT_RETRY_S = 10.0  # a silent one costs a resync (2 s) per try: ask it less often
BOOT_WAIT_S = 30.0  # after a power cycle, how long the phone has to say +HDBOOT
POWER_OFF_S = 2.0

#: gettext language names that the phone knows under another BCP 47 tag
PHONE_LANGUAGE_TAGS = {"zh_CN": "zh-Hans"}


def phone_language(language: str) -> str:
    return PHONE_LANGUAGE_TAGS.get(language, language.replace("_", "-"))


class PhoneLink:
    def __init__(self, factory: Callable[[], DeskPhone] | None, worker: Worker, *,
                 panel=None, clock: Clock):
        """`factory`: opens the HD-AT/1 phone; None when the desk has none (any BroadWorks
        phone: the agent's calls still ring there, the phone shows the desk's own name)."""
        self.factory = factory
        self.worker = worker
        self.panel = panel
        self.clock = clock
        self.phone: DeskPhone | None = None
        self.status = PhoneStatus.UNKNOWN
        self.serial: str | None = None
        self.model: str | None = None  # "Hotdesk Labs VX-400, firmware 1.4.2"
        self.off_hook = False
        self.when_status_changed: Callable[[PhoneStatus, str | None], None] = _ignore
        self.when_hook_changed: Callable[[bool], None] = _ignore
        self.when_needs_line: Callable[[], None] = _ignore
        self.when_event: Callable[..., None] = _ignore
        self._retry: Timer | None = None
        self._boot_timer: Timer | None = None

    # --- opening ----------------------------------------------------------------------------

    def open(self, quiet: bool = False) -> None:
        """Open the phone; while it cannot be opened, try again on a timer."""
        self._retry = None
        if self.factory is None:
            self._set_status(PhoneStatus.NONE)
            return
        was_missing = self.status is PhoneStatus.MISSING
        try:
            phone = self.factory()
        except PhoneDisconnected as exc:
            if not quiet:
                log.error("desk phone missing: %s", exc)
            self._set_status(PhoneStatus.MISSING)
            self._retry_later()
            return
        except PhoneError as exc:
            log.error("desk phone not answering: %s", exc)
            self._set_status(PhoneStatus.SILENT)
            self.power_cycle()
            self._retry_later()
            return
        self.phone = phone
        with contextlib.suppress(PhoneError):
            ident = phone.identify()
            self.serial = ident.serial
            self.model = f"{ident.manufacturer} {ident.model}, firmware {ident.revision}"
        submit = self.worker.submit
        phone.when_hook_changed = lambda off: submit(lambda: self._on_hook(off))
        phone.when_rebooted = lambda: submit(self._on_rebooted)
        phone.when_disconnected = lambda: submit(lambda: self._set_status(PhoneStatus.MISSING))
        phone.when_reconnected = lambda: submit(self.when_needs_line)
        with contextlib.suppress(PhoneError):
            self.off_hook = phone.state().off_hook
        self._set_status(PhoneStatus.OK)
        if was_missing:
            self.when_needs_line()  # plugged in at last: the signed-in agent's line

    @property
    def provisions(self) -> bool:
        """The agent's line and language go onto the phone (an HD-AT/1 phone that answers)."""
        return self.phone is not None and self.status.provisions

    def _retry_later(self) -> None:
        silent = self.status in (PhoneStatus.SILENT, PhoneStatus.REBOOTING)
        wait = SILENT_RETRY_S if silent else RETRY_S
        self._retry = self.worker.call_at(self.clock.monotonic() + wait,
                                          lambda: self.open(quiet=True))

    def close(self) -> None:
        for timer in (self._retry, self._boot_timer):
            if timer is not None:
                timer.cancel()
        if self.phone is not None:
            self.phone.close()

    # --- status -----------------------------------------------------------------------------

    def _set_status(self, status: PhoneStatus) -> None:
        if status == self.status:
            return
        self.status = status
        reason = f"phone_{status}" if status.out_of_order else None
        if reason:
            self.when_event("out_of_order", reason=reason)
        self.when_status_changed(status, reason)

    def power_cycle(self) -> None:
        """Cut the phone's power through the relay (once), then wait for it to boot."""
        if self.panel is None or not self.panel.has_relay:
            return
        self._set_status(PhoneStatus.REBOOTING)
        self.when_event("phone_power_cycle")
        self.worker.in_background(lambda: self.panel.power_cycle(POWER_OFF_S))
        self._boot_timer = self.worker.call_at(self.clock.monotonic() + BOOT_WAIT_S,
                                               self._boot_timed_out)

    def _boot_timed_out(self) -> None:
        self._boot_timer = None
        if self.status is PhoneStatus.REBOOTING:
            self._set_status(PhoneStatus.SILENT)

    def went_silent(self, error: Exception) -> None:
        """The heartbeat's ping got no answer."""
        if self.status is PhoneStatus.OK:
            log.error("desk phone stopped answering: %s", error)
            self._set_status(PhoneStatus.SILENT)
            self.power_cycle()

    def _on_rebooted(self) -> None:
        if self._boot_timer is not None:
            self._boot_timer.cancel()
            self._boot_timer = None
        self.when_event("phone_rebooted")
        self.when_needs_line()

    def _on_hook(self, off_hook: bool) -> None:
        self.off_hook = off_hook
        self.when_hook_changed(off_hook)

    # --- the line ---------------------------------------------------------------------------

    def apply(self, line: GuestLine, language: str) -> None:
        """Give the phone the agent's line and language (raises PhoneError)."""
        if self.phone is None:
            raise PhoneDisconnected("the desk phone is not available")
        self.phone.assign(line)
        try:
            self.phone.set_language(phone_language(language))
        except PhoneError as exc:  # a language the phone lacks is no reason to fail
            log.info("phone kept its language: %s", exc)

    def release(self, *, force: bool = False) -> None:
        """Back to the desk default (raises PhoneBusy on a call unless `force`)."""
        if self.phone is not None:
            self.phone.release(force=force)

    def reapply(self, line: GuestLine | None, language: str) -> None:
        """Back or rebooted: the agent's line again, or the desk default; then it is ok."""
        try:
            if line is not None:
                self.apply(line, language)
            elif self.phone is not None:
                self.phone.release(force=True)
        except PhoneError as exc:
            log.warning("could not re-apply the phone: %s", exc)
            return
        self._set_status(PhoneStatus.OK)

    def ping_call(self) -> Callable[[], None] | None:
        """The I/O for the heartbeat's ping (to offload), or None when there is nothing to
        ping. A silent phone is pinged too: without a relay to reboot it, its answer is the
        only sign that it is back."""
        phone = self.phone
        asked = (PhoneStatus.OK, PhoneStatus.SILENT)
        return phone.ping if phone is not None and self.status in asked else None

    def answered(self) -> None:
        """The heartbeat's ping got an answer: a silent phone is back (its line again)."""
        if self.status is PhoneStatus.SILENT:
            log.warning("desk phone answers again")
            self.when_needs_line()


def _ignore(*args, **kwargs) -> None:
    pass
