"""The desk phone: the HD-AT/1 codec, the driver, and a simulated phone."""

from hardware.phone.driver import (
    DeskPhone,
    GuestLine,
    PhoneBusy,
    PhoneDisconnected,
    PhoneError,
    PhoneIdentity,
    PhoneRejected,
    PhoneState,
    PhoneTimeout,
)

__all__ = ["DeskPhone", "GuestLine", "PhoneBusy", "PhoneDisconnected", "PhoneError",
           "PhoneIdentity", "PhoneRejected", "PhoneState", "PhoneTimeout"]
