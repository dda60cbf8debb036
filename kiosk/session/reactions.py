"""The engine's reactions to what the server says: the desk watch's heartbeat, the agent's
event channel and the server sync, and what the engine does about each (evict, ride out an
outage, reconnect).

`ServerReactions` is mixed into `DeskEngine` (`engine.py`) and runs on its worker: it uses the
engine's state (`_session`, `_snapshot`) and its one way to change it (`_publish`, `_sign_out`,
`_record`). The collaborators it wires are each a room of their own: `DeskWatch` (`watch.py`),
`LiveChannel` (`live.py`), `ServerSync` (`sync.py`).
"""

from __future__ import annotations

from kiosk.callcenter import codec
from kiosk.errors import NETWORK_ERRORS
from kiosk.session.live import LiveChannel
from kiosk.session.model import Connection, error_code
from kiosk.session.saga import Session
from kiosk.session.sync import ServerSync
from kiosk.session.watch import DeskWatch


class ServerReactions:
    """What the server told the engine, and the engine's answer (a mixin of `DeskEngine`)."""

    # --- the collaborators that listen to the server ----------------------------------------

    def _server_sync(self) -> ServerSync:
        sync = ServerSync(self.config, self.worker, self.clock, current=lambda: self._session,
                          limit_hours=self.saga.limit_hours, late_until=self.cleanup.late_until,
                          late_repaired=self.cleanup.late_landed, record=self._record)
        sync.when_changed = lambda session: self._publish(
            resync_corrections=self.sync.corrections)
        sync.when_evicted = lambda session, why, elsewhere: self._evicted(why, elsewhere)
        return sync

    def _desk_watch(self) -> DeskWatch:
        watch = DeskWatch(self.config, self.worker, self.clock, host_client=self.host_client,
                          phone=self.phone_link, session=lambda: self._session,
                          busy=lambda: self._busy_state is not None,
                          must_read=lambda: self.cleanup.late_until() > self.clock.monotonic())
        watch.when_guest = self._seen
        watch.when_host = self._host_seen
        watch.when_lost = self._connection_lost
        watch.when_rejected = lambda session: self._evicted("credentials_rejected")
        watch.when_reconnected = self._reconnected
        watch.when_reconnect_failed = lambda session, error, retry_in: self._record(
            "reconnect_failed", session.log_id, error=error_code(error), retry_in_s=retry_in)
        watch.when_alive = lambda: self._snapshot.connection == Connection.OK or self._publish(
            connection=Connection.OK)
        watch.when_channel_dead = lambda session, channel: self.live.channel_dead(
            session, channel, "the channel is gone (heartbeat 404)")
        return watch

    def _live_channel(self) -> LiveChannel:
        live = LiveChannel(self.events_factory, self.worker, self.clock,
                           current=lambda: self._session, journal=self.session_log)
        live.when_event = self.sync.apply
        live.when_up = self._push_up
        live.when_down = self._push_down
        return live

    # --- what the desk watch found ----------------------------------------------------------

    def _host_seen(self, host: codec.HotelingHost | None, error: Exception | None) -> None:
        if host is not None:
            self.saga.host_limit_hours = (host.association_limit_hours
                                      if host.enforce_association_limit else None)
        lost = isinstance(error, NETWORK_ERRORS)
        self._publish(connection=Connection.LOST if lost else Connection.OK)

    def _seen(self, session: Session, guest: codec.HotelingGuest,
              call_center: codec.CallCenter | None) -> None:
        """The heartbeat's read (push down, or a late clean-up watched for): the agent's seat
        and (agents) their ACD state, whoever changed it."""
        if self.sync.observed(session, guest, call_center, why="poll") and \
                self._snapshot.connection != Connection.OK:
            self._publish(connection=Connection.OK)

    def _push_up(self, session: Session) -> None:
        self._record("events_up", session.log_id)
        self._publish(push=True)
        self.sync.refresh(session, "subscribed")  # list, then watch: what the opening missed

    def _push_down(self, session: Session, why) -> None:
        backoff = session.events_backoff
        if self._snapshot.push or backoff.current == backoff.first:  # not every retry
            detail = ({"error": error_code(why)} if isinstance(why, BaseException)
                      else {"reason": why})
            self._record("events_down", session.log_id, **detail)
        if self._snapshot.push:
            self._publish(push=False)
            self.watch.beat()  # look now: a change may have been missed while it died

    def _evicted(self, why: str, elsewhere: str | None = None) -> None:
        session = self._session
        self._record("evicted", session.log_id, why=why, elsewhere=elsewhere)
        # Moved to another desk: they work there now, so their queues are left alone.
        # Released by an admin: the association is gone; take them out of their queues.
        self._sign_out("evicted", server_side="queues" if why == "released" else "none",
                       notice=f"evicted_{why}")

    def _connection_lost(self, session: Session, error: Exception) -> None:
        self._record("connection_lost", session.log_id, error=error_code(error),
                     stay_signed_in=session.stay_signed_in)
        if not session.stay_signed_in:
            self._sign_out("connection_lost", server_side="outbox",
                           notice="signed_out_connection_lost")
            return
        session.reconnecting = True
        self.live.close(session)  # a channel over a dead network is dead too
        self.watch.reconnect(session)
        self._publish(connection=Connection.LOST, notice="reconnecting")

    def _reconnected(self, session: Session, guest: codec.HotelingGuest) -> None:
        session.reconnecting = False
        if self.sync.observed(session, guest, None, why="reconnect"):
            self._record("reconnected", session.log_id)
            self._publish(connection=Connection.OK, notice=None, push=False)
            self.live.open(session)

