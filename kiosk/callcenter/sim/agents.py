"""The simulated Call Center agent service: ACD states and the group's unavailable codes.

A mixin of `CallCenterModel` (`model.py`), which brings the directory, the lock, `_parse` and
`_ok`; the HTTP routing is the model's.
"""

from __future__ import annotations

from kiosk.callcenter import codec
from kiosk.callcenter.codec import NIL
from kiosk.callcenter.sim.directory import User


class Refusal(Exception):
    """A request the server refuses: the HTTP status and the ErrorInfo code."""

    def __init__(self, status: int, code: int | None = None):
        self.status = status
        self.code = code


_Refusal = Refusal


class AgentService:
    """`GET|PUT …/services/CallCenter`, the supervisor's changes, and unavailable codes."""

    def _call_center_service(self, user: User):
        if user.call_center is None:
            raise _Refusal(400, 4009)
        return user.call_center

    def _get_call_center(self, user: User, charset: str) -> bytes:
        cc = self._call_center_service(user)
        queues = []
        for queue_id in cc.queues:
            queue = self.directory.users.get(queue_id)
            queues.append(codec.Queue(
                service_user_id=queue_id,
                phone_number=(queue.number or None) if queue else None,
                extension=(queue.extension or None) if queue else None,
                available=cc.joined.get(queue_id, True), skill_level=1))
        doc = codec.CallCenter(agent_acd_state=cc.state,
                               agent_unavailable_code=cc.unavailable_code, queues=tuple(queues))
        return codec.encode_call_center(doc, encoding=charset)

    def _put_call_center(self, user: User, body: bytes, query: dict[str, str]) -> None:
        cc = self._call_center_service(user)
        fields = self._parse(body, "CallCenter", codec.CALLCENTER_SPEC)
        state = fields.get("agent_acd_state", cc.state)
        if state is NIL or state not in codec.ACD_STATES:
            raise _Refusal(400, 4007)
        code = fields.get("agent_unavailable_code", cc.unavailable_code)
        code = None if code is NIL or code == "" else code
        group = self.directory.group(user.group)
        if code is not None:
            known = group.active_codes()
            if not group.enable_unavailable_codes or not 1 <= len(code) <= 10 or (
                    known and code not in known):
                raise _Refusal(400, 4010)
        elif state == "Unavailable" and group.force_unavailable_codes and \
                group.enable_unavailable_codes:
            raise _Refusal(400, 4014)  # the group forces a code with Unavailable
        if (query.get("validatesignout", "").lower() == "true" and state == "Sign-Out"
                and set(fields) == {"agent_acd_state"} and self._last_staffing(user)):
            raise _Refusal(400, 4008)
        cc.state = state
        cc.unavailable_code = code if state == "Unavailable" else None

    def supervisor_sets(self, user_id: str, state: str,
                        unavailable_code: str | None = None) -> None:
        """Change an agent's ACD state behind the kiosk's back, as a supervisor (or the
        wrap-up timer, or an ACD key on the phone) would: not through the agent's Actions.
        Raises ValueError for an unknown user, a user without the agent service or a state."""
        with self.lock:
            user = self.directory.users.get(user_id.lower()) or self.directory.users.get(user_id)
            if user is None or user.call_center is None:
                raise ValueError(f"{user_id} is not a Call Center agent here")
            if state not in codec.ACD_STATES:
                raise ValueError(f"unknown ACD state {state!r}")
            user.call_center.state = state
            user.call_center.unavailable_code = unavailable_code if state == "Unavailable" \
                else None

    def _last_staffing(self, agent: User) -> bool:
        if agent.call_center.state == "Sign-Out":
            return False
        for queue in agent.call_center.queues:
            others = [u for u in self.directory.users.values()
                      if u is not agent and u.call_center and queue in u.call_center.queues
                      and u.call_center.state != "Sign-Out"]
            if not others:
                return True
        return False

    def _unavailable_codes(self, caller: User, group_id: str, query: dict[str, str]):
        """`GET …/group/{groupId}/services/CallCenter/UnavailableCodes?enterpriseId=` (or
        `?serviceProviderId=`): one of the two is required, and must name the group's."""
        if not caller.admin and caller.group != group_id:
            raise _Refusal(403, 4012)
        group = self.directory.group(group_id)
        provider = group.service_provider or caller.id.rpartition("@")[2]
        key = "enterpriseid" if group.enterprise else "serviceproviderid"
        other = "serviceproviderid" if group.enterprise else "enterpriseid"
        if key not in query:
            raise _Refusal(400, 4015 if other in query else 4016)
        if query[key] != provider:
            raise _Refusal(404, 4017)
        return self._ok(caller, codec.encode_unavailable_codes(group.unavailable_codes(),
                                                               encoding=caller.charset))
