"""The hosted Call Center (BroadWorks Xsi-Actions): an XML codec, a client, and a simulator.

`kiosk.callcenter.urls` is light (the configuration uses it); the client, which brings in
`requests`, is imported only when `XsiClient` is first asked for.
"""

__all__ = ["XsiClient"]


def __getattr__(name: str):
    if name == "XsiClient":
        from kiosk.callcenter.client import XsiClient

        return XsiClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
