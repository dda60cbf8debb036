"""The desk phone as the engine sees it: open it (and keep trying), know its status, power-cycle
it once when it falls silent, follow its hook and reboots, and keep on it the line it should
show (the agent's, or the desk default).

```python
link = PhoneLink(open_phone, worker, panel=panel, clock=clock, record=recorder.record,
                 report=engine.report)      # Hook(off) and PhoneOutOfOrder(...) events
link.open()                                 # on the pool; tried again while it fails
yield link.assign(line, "fr")               # (in a flow) the agent's line, on the pool
yield link.release(force=True)              # back to the desk default
link.show(None)                             # what to put back after a reboot or re-plug
```

Nothing here waits for the serial line on the worker: opening, assigning, releasing and
re-applying run on the I/O pool (`Worker.offload`, or yielded by a flow), and the driver's own
threads only post to the worker.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from hardware.phone import DeskPhone, GuestLine, PhoneDisconnected, PhoneError
from kiosk.session.clock import Clock
from kiosk.session.machine import Hook, PhoneOutOfOrder
from kiosk.session.model import PhoneStatus
from kiosk.session.worker import Result, Timer, Worker

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
                 panel=None, clock: Clock, record: Callable[..., None],
                 report: Callable[[object], None]):
        """`factory`: opens the HD-AT/1 phone; None when the desk has none (any BroadWorks
        phone: the agent's calls still ring there, the phone shows the desk's own name).
        `report(event)`: hook changes and out-of-order, into the engine's state machine."""
        self.factory = factory
        self.worker = worker
        self.panel = panel
        self.clock = clock
        self.record = record
        self.report = report
        self.phone: DeskPhone | None = None
        self.status = PhoneStatus.UNKNOWN
        self.serial: str | None = None
        self.model: str | None = None  # "Hotdesk Labs VX-400, firmware 1.4.2"
        self._line: tuple[GuestLine, str] | None = None  # what it should show: (line, language)
        self._retry: Timer | None = None
        self._boot_timer: Timer | None = None
        self._closed = False

    # --- opening ----------------------------------------------------------------------------

    def start(self):
        """Open the phone at start-up (a flow: what follows may need it); while it cannot be
        opened, try again on a timer."""
        if self.factory is None:
            self._set_status(PhoneStatus.NONE)
            return
        try:
            opened = Result(value=(yield self._connect))
        except Exception as exc:
            opened = Result(error=exc)
        self._opened(opened, False)

    def open(self, quiet: bool = False) -> None:
        """Open the phone (on the pool); while it cannot be opened, try again on a timer."""
        self._retry = None
        if self.factory is None:
            self._set_status(PhoneStatus.NONE)
            return
        self.worker.offload(self._connect, lambda result: self._opened(result, quiet))

    def _connect(self):
        """(I/O) the phone, who it is, and its hook."""
        phone = self.factory()
        ident = off_hook = None
        with contextlib.suppress(PhoneError):
            ident = phone.identify()
        with contextlib.suppress(PhoneError):
            off_hook = phone.state().off_hook
        return phone, ident, off_hook

    def _opened(self, result: Result, quiet: bool) -> None:
        if self._closed:
            if result.error is None:
                result.value[0].close()
            return
        was_missing = self.status is PhoneStatus.MISSING
        if isinstance(result.error, PhoneDisconnected):
            if not quiet:
                log.error("desk phone missing: %s", result.error)
            self._set_status(PhoneStatus.MISSING)
            self._retry_later()
            return
        if isinstance(result.error, PhoneError):
            log.error("desk phone not answering: %s", result.error)
            self._set_status(PhoneStatus.SILENT)
            self.power_cycle()
            self._retry_later()
            return
        if result.error is not None:
            log.error("desk phone could not be opened: %r", result.error)
            self._set_status(PhoneStatus.MISSING)
            self._retry_later()
            return
        phone, ident, off_hook = result.value
        self.phone = phone
        if ident is not None:
            self.serial = ident.serial
            self.model = f"{ident.manufacturer} {ident.model}, firmware {ident.revision}"
        submit = self.worker.submit
        phone.when_hook_changed = lambda off: submit(lambda: self.report(Hook(off)))
        phone.when_rebooted = lambda: submit(self._on_rebooted)
        phone.when_disconnected = lambda: submit(lambda: self._set_status(PhoneStatus.MISSING))
        phone.when_reconnected = lambda: submit(self.reapply)
        if off_hook is not None:
            self.report(Hook(off_hook))
        self._set_status(PhoneStatus.OK)
        if was_missing:
            self.reapply()  # plugged in at last: the signed-in agent's line

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
        self._closed = True
        for timer in (self._retry, self._boot_timer):
            if timer is not None:
                timer.cancel()
        if self.phone is not None:
            self.phone.close()

    # --- status -----------------------------------------------------------------------------

    def _set_status(self, status: PhoneStatus) -> None:
        if status == self.status:
            return
        was = self.status.out_of_order
        self.status = status
        if status.out_of_order:
            self.record("out_of_order", reason=f"phone_{status}")
        self.report(PhoneOutOfOrder(status.out_of_order) if was != status.out_of_order
                    else None)

    def power_cycle(self) -> None:
        """Cut the phone's power through the relay (once), then wait for it to boot."""
        if self.panel is None or not self.panel.has_relay:
            return
        self._set_status(PhoneStatus.REBOOTING)
        self.record("phone_power_cycle")
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
        self.record("phone_rebooted")
        self.reapply()

    # --- the line ---------------------------------------------------------------------------

    def reason(self) -> str | None:
        """Why the desk is out of order, as a code (None: it is not)."""
        return f"phone_{self.status}" if self.status.out_of_order else None

    def show(self, line: GuestLine | None, language: str = "") -> None:
        """What the phone should show once it is there (it is not yet: nothing to do now);
        None: the desk default."""
        self._line = (line, language) if line is not None else None

    def assign(self, line: GuestLine, language: str) -> Callable[[], None]:
        """The I/O that gives the phone the agent's line and language (raises PhoneError);
        from now on it is what the phone should show."""
        self._line = (line, language)
        phone = self.phone
        return lambda: _put_line(phone, line, language)

    def release(self, *, force: bool = False) -> Callable[[], None]:
        """The I/O that puts the desk default back (raises PhoneBusy on a call unless
        `force`); from now on the phone should show the default."""
        self._line = None
        phone = self.phone
        return (lambda: phone.release(force=force)) if phone is not None else (lambda: None)

    def reapply(self) -> None:
        """Back or rebooted: the line it should show again (on the pool); then it is ok."""
        phone, line = self.phone, self._line
        if phone is None:
            return

        def io() -> None:
            if line is not None:
                _put_line(phone, *line)
            else:
                phone.release(force=True)

        def done(result: Result) -> None:
            if result.error is not None:
                log.warning("could not re-apply the phone: %s", result.error)
            else:
                self._set_status(PhoneStatus.OK)

        self.worker.offload(io, done)

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
            self.reapply()


def _put_line(phone: DeskPhone | None, line: GuestLine, language: str) -> None:
    if phone is None:
        raise PhoneDisconnected("the desk phone is not available")
    phone.assign(line)
    try:
        phone.set_language(phone_language(language))
    except PhoneError as exc:  # a language the phone lacks is no reason to fail
        log.info("phone kept its language: %s", exc)
