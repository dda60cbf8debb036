"""What the screens and the status light see: the snapshot, derived after every event from the
desk's state and the rooms' own outputs, and never read back as state.

```python
display = Display(engine, panel)
display.observe(lambda snapshot: ...)    # on the loop's thread: re-post to the UI
display.publish(notice="reconnecting")   # a message for the screen; the rest is derived
display.changed()                        # from any thread: derive again (on the loop)
```

The screen's own messages (the last error, a notice, the throttle's wait, the last badge tap,
the language picked) are the only things kept here; everything else is asked of the room that
owns it every time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kiosk.session.model import BadgeTap, Snapshot, light_for

log = logging.getLogger(__name__)


class Display:
    def __init__(self, engine, panel=None):
        """`engine`: the `DeskEngine`, whose public parts the snapshot is made of."""
        self.engine = engine
        self.panel = panel
        self.screen = dict(error=None, notice=None, throttle_wait_s=None, badge=None,
                           language=engine.config.signin.default_language)
        self.observers: list[Callable[[Snapshot], None]] = []
        self.snapshot = self.derive()

    def observe(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call `callback(snapshot)` on every change; returns a function that stops it. The
        current snapshot is delivered at once."""
        self.observers.append(callback)
        callback(self.snapshot)

        def stop() -> None:
            if callback in self.observers:
                self.observers.remove(callback)

        return stop

    def changed(self) -> None:
        """A room's output changed, perhaps off the loop (the session log, from the pool)."""
        worker = self.engine.worker
        if worker.on_worker():
            self.publish()
        else:
            worker.submit(self.publish)

    def derive(self) -> Snapshot:
        engine = self.engine
        desk, session, phone, policy = engine.desk, engine.session, engine.phone_link, \
            engine.policy
        return Snapshot(
            state=desk.state, agent=session.agent() if session else None,
            steps=engine.saga.steps, warning=policy.warning,
            auto_sign_out_in_s=policy.auto_sign_out_in_s, connection=engine.watch.connection,
            push=engine.live.up(session), resync_corrections=engine.sync.corrections,
            phone=phone.status, off_hook=desk.off_hook, out_of_order=phone.reason(),
            confirm="off_hook" if desk.confirm else None,
            unavailable_codes=session.offered_codes() if session else (),
            log_problem=engine.recorder.problem,
            stay_signed_in_default=engine.config.signin.stay_signed_in_default, **self.screen)

    def publish(self, **screen) -> None:
        """The one way the snapshot changes: the screen's messages updated, the rest derived;
        the light shown, the observers told (when anything differs)."""
        self.screen.update(screen)
        snapshot = self.derive()
        if snapshot == self.snapshot:
            return
        self.snapshot = snapshot
        if self.panel is not None:
            light = light_for(snapshot)
            if self.panel.pattern != light:
                self.panel.show(str(light))
        for callback in list(self.observers):
            try:
                callback(snapshot)
            except Exception:
                log.exception("an engine observer failed")

    def badge_done(self) -> BadgeTap | None:
        """The badge message once the work under way is done: "busy" is not news any more."""
        badge = self.screen["badge"]
        return None if badge is not None and badge.kind == "busy" else badge
