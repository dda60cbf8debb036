"""The Xsi URL as administrators are given it, and the bases the kiosk derives from it.

`callcenter.url` is either the XSP's root (`https://xsp1.tipt.example`) or its Actions base
(`https://xsp1.tipt.example/com.broadsoft.xsi-actions/v2.0`), with or without a trailing slash.
`XsiUrls.parse` checks it and derives every base from the root:

    >>> urls = XsiUrls.parse("https://xsp.example/")
    >>> urls.actions
    'https://xsp.example/com.broadsoft.xsi-actions/v2.0'
    >>> urls.events
    'https://xsp.example/com.broadsoft.xsi-events/v2.0'

Pure: no Kivy, no network. Nothing here ever echoes a password given inside a URL.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

ACTIONS_PATH = "/com.broadsoft.xsi-actions/v2.0"
EVENTS_PATH = "/com.broadsoft.xsi-events/v2.0"
STREAM_PATH = "/com.broadsoft.async/com.broadsoft.xsi-events/v2.0"


class XsiUrlError(ValueError):
    """Why a URL cannot be the Xsi URL; the text never holds the URL's credentials."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def masked(url: str) -> str:
    """`url` with any user name and password in it replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<not a URL>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


@dataclass(frozen=True)
class XsiUrls:
    root: str  # scheme://host[:port], no trailing slash

    @property
    def actions(self) -> str:
        return self.root + ACTIONS_PATH

    @property
    def events(self) -> str:
        return self.root + EVENTS_PATH

    @property
    def stream(self) -> str:
        """The Events base for the streaming channel only (the protocol's `S`)."""
        return self.root + STREAM_PATH

    @classmethod
    def parse(cls, url: str) -> XsiUrls:
        shown = masked(url)
        if url != url.strip():
            raise XsiUrlError(f"has spaces around it (got {shown!r})")
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise XsiUrlError(f"is not a valid URL ({exc})") from None
        if parts.scheme not in ("https", "http") or not host:
            raise XsiUrlError(f"must be an https:// URL (got {shown!r})")
        if parts.scheme == "http" and not is_loopback(host):
            raise XsiUrlError("must use https:// (plain http:// is allowed only to a loopback "
                              f"host; got {shown!r})")
        if parts.username is not None or parts.password is not None:
            raise XsiUrlError("must not carry a user name or password (the kiosk signs in with "
                              f"the desk host's and agents' credentials; got {shown!r})")
        if parts.query or url.endswith("?"):
            raise XsiUrlError(f"must not have a query (?…) (got {shown!r})")
        if parts.fragment or url.endswith("#"):
            raise XsiUrlError(f"must not have a fragment (#…) (got {shown!r})")
        path = parts.path.rstrip("/") if parts.path.endswith("/") else parts.path
        if path not in ("", ACTIONS_PATH):
            raise XsiUrlError(
                f"must be the XSP's root (https://xsp.example) or its Xsi-Actions base "
                f"(https://xsp.example{ACTIONS_PATH}); the path {parts.path!r} is neither")
        if parts.path.endswith("//"):
            raise XsiUrlError(f"has a doubled slash at the end (got {shown!r})")
        return cls(urlunsplit((parts.scheme, parts.netloc.lower(), "", "", "")))
