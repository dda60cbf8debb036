"""The hosted Call Center (BroadWorks Xsi-Actions): an XML codec, a client, and a simulator."""

from kiosk.callcenter.client import XsiClient

__all__ = ["XsiClient"]
