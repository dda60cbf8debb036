"""The desk session engine: sign-in saga, sign-out, policies, Stay signed in, recovery.

Names are imported on first use, so that the touchscreen can load `kiosk.session.model`
(states and snapshots) without pulling in the network and serial stacks before its first frame.
"""

from importlib import import_module

_WHERE = {
    "DeskEngine": "kiosk.session.engine",
    "Clock": "kiosk.session.clock", "FakeClock": "kiosk.session.clock",
    "SystemClock": "kiosk.session.clock",
    "Agent": "kiosk.session.model", "Outcome": "kiosk.session.model",
    "Snapshot": "kiosk.session.model", "State": "kiosk.session.model",
    "StepProgress": "kiosk.session.model", "PolicyWarning": "kiosk.session.model",
    "PhoneStatus": "kiosk.session.model", "Connection": "kiosk.session.model",
    "Light": "kiosk.session.model",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'kiosk.session' has no attribute {name!r}")
