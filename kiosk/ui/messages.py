"""The sentences for the engine's codes (English msgids; translated through the catalogue).
Kivy-free, so a test can check that every code the engine can produce has its sentence."""

from __future__ import annotations

ERRORS = {
    "user_id.empty": "Enter your user ID.",
    "user_id.needs_domain": "Enter your full user ID (user@domain).",
    "user_id.bad_character": "Your user ID contains a character that is not allowed.",
    "user_id.empty_user": "Enter the part of your user ID before the @.",
    "user_id.bad_domain": "The domain of your user ID is not valid.",
    "user_id.too_long": "Your user ID is too long.",
    "invalid_credentials": "Your user ID or password is wrong.",
    "throttled": "Too many wrong passwords. Try again in {seconds} s.",
    "not_permitted": "You are not allowed to sign in at this desk.",
    "no_hoteling": "Hot-desking is not enabled for your account. Contact your administrator.",
    "rejected": "The Call Center refused the sign-in. Contact your administrator.",
    "not_found": "The Call Center does not know this user ID.",
    "server_busy": "The Call Center is busy. Try again in a moment.",
    "unreachable": "The Call Center cannot be reached. Try again in a moment.",
    "proxy_unreachable": "The network's proxy does not let the kiosk through. Tell facilities.",
    "protocol": "Something went wrong. Try again, or contact your administrator.",
    "internal": "Something went wrong. Try again, or contact your administrator.",
    "log_failed": "Something went wrong. Try again, or contact your administrator.",
    "phone_busy": "Put the handset down, then sign in again.",
    "phone_missing": "The desk phone is not responding.",
    "phone_silent": "The desk phone is not responding.",
    "phone_rejected": "The desk phone is not responding.",
    "phone_error": "The desk phone is not responding.",
    "one_agent_per_desk": "Someone is already signed in at this desk.",
    "out_of_order": "This desk is out of order.",
}

NOTICES = {
    "evicted_moved": "You signed in at another desk, so you were signed out here.",
    "evicted_released": "An administrator released this desk, so you were signed out.",
    "evicted_credentials_rejected":
        "Your password is no longer accepted, so you were signed out.",
    "signed_out_evicted": "You were signed out.",
    "signed_out_limit": "Your desk booking ended, so you were signed out.",
    "signed_out_end_of_day": "The working day ended, so you were signed out.",
    "signed_out_idle": "You were signed out because the desk was not used for a while.",
    "signed_out_connection_lost": "The connection was lost, so you were signed out.",
    "signed_out_button": "You were signed out with the desk button.",
    "signed_out_admin": "An administrator signed you out.",
    "signed_out_recovered": "You were signed out.",
}

WARNINGS = {
    "limit": "Your desk booking is ending.",
    "end_of_day": "The working day is ending.",
    "idle": "You have not used the kiosk for a while.",
}


def error_text(code: str | None) -> str:
    return ERRORS.get(code or "", ERRORS["internal"]) if code else ""
