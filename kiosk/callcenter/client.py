"""The Xsi-Actions client: the kiosk's only way into the hosted Call Center.

One `XsiClient` acts as one user (an agent, or the desk's host) over one `requests.Session`:

- HTTP Basic on every request, the password read from a `Secret` at the moment of sending;
- `(connect, read)` timeouts on every call;
- TLS verified against `ca_bundle` or the system trust store; `REQUESTS_CA_BUNDLE`,
  `CURL_CA_BUNDLE` and proxy variables in the environment are ignored (the session does not
  trust the environment), so nothing outside the configuration can change whom we trust;
- the server's session cookie is kept and sent back;
- redirects are never followed: a 3xx is a `ProtocolError`;
- retries live in the transport adapter: GET and PUT only, on 502/503/504 and connection resets,
  with exponential backoff that honours `Retry-After`, bounded in count and total time. A read
  timeout is not retried (a slow server is not helped by asking again), and **a 401 is never
  retried**: a retried bad password walks an agent into BroadWorks' account lockout.
"""

from __future__ import annotations

import base64
import logging
import re
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ReadTimeoutError
from urllib3.util.retry import Retry

from kiosk import __version__
from kiosk.callcenter import codec
from kiosk.errors import (
    CallCenterError,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    ProtocolError,
    Rejected,
    ServerBusy,
    Unreachable,
)
from kiosk.secret import Secret

log = logging.getLogger(__name__)

USER_AGENT = f"hotdesk-kiosk/{__version__} python-requests/{requests.__version__}"
RETRY_STATUSES = frozenset({502, 503, 504})


class XsiRetry(Retry):
    """urllib3's Retry, plus: no retry of read timeouts, a cap on `Retry-After`, and a deadline
    for the whole call (first try to last), so the retries of one call stay bounded in time."""

    def __init__(self, *args, deadline_s: float = 8.0, started: float | None = None,
                 retry_after_max_s: float = 4.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline_s = deadline_s
        self.started = started
        self.retry_after_max_s = retry_after_max_s

    def new(self, **kw):
        kw.setdefault("deadline_s", self.deadline_s)
        kw.setdefault("started", self.started if self.started is not None else time.monotonic())
        kw.setdefault("retry_after_max_s", self.retry_after_max_s)
        return super().new(**kw)

    def get_retry_after(self, response):
        after = super().get_retry_after(response)
        return None if after is None else min(after, self.retry_after_max_s)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):
        if isinstance(error, ReadTimeoutError):
            raise error.with_traceback(_stacktrace)
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = (retry.get_retry_after(response) if response is not None else None)
        if wait is None:
            wait = retry.get_backoff_time()
        if retry.started is not None and (
            time.monotonic() - retry.started + wait > retry.deadline_s
        ):
            raise MaxRetryError(_pool, url, error or "retry deadline reached")
        return retry


class SecretBasicAuth(requests.auth.AuthBase):
    """Basic auth whose password is revealed only while the header is built."""

    def __init__(self, user_id: str, password: Secret):
        self.user_id = user_id
        self.password = password

    def __call__(self, request):
        token = f"{self.user_id}:{self.password.reveal()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        return request


def _system_trust_store() -> str:
    """The path of the operating system's CA bundle (or directory)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, "/etc/ssl/certs/ca-certificates.crt", paths.capath):
        if candidate and Path(candidate).exists():
            return candidate
    import certifi  # requests' own fallback, for systems without a store

    return certifi.where()


def unreachable(exc: requests.RequestException, url: str, proxy: str = "") -> Unreachable:
    """Map a transport failure to `Unreachable`, naming which kind it was; a failure of the
    site's proxy (`proxy`) is named as the proxy's (cause `proxy`), not the Call Center's."""
    host = urlsplit(url).netloc
    chain = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "reason", None)
        if not isinstance(seen, BaseException):
            seen = None
    names = " ".join(type(e).__name__ for e in chain) + " " + " ".join(str(e) for e in chain)
    if proxy and (isinstance(exc, requests.exceptions.ProxyError) or "ProxyError" in names):
        return Unreachable(f"cannot reach the Call Center at {host}: the proxy "
                           f"{urlsplit(proxy).netloc} failed: {_proxy_reason(names)}",
                           cause="proxy", url=url)
    if isinstance(exc, requests.exceptions.SSLError) or "SSL" in names or "CERTIFICATE" in names:
        cause, why = "tls", "TLS failed: the server's certificate is not trusted or invalid"
    elif isinstance(exc, requests.exceptions.Timeout) or "Timeout" in names:
        cause, why = "timeout", "no answer in time"
    elif "NameResolution" in names or "gaierror" in names or "Name or service" in names:
        cause, why = "dns", "the server's name does not resolve (DNS)"
    elif "ConnectionRefused" in names or "Connection refused" in names:
        cause, why = "refused", "connection refused"
    elif any(w in names for w in ("ConnectionReset", "RemoteDisconnected", "ProtocolError",
                                  "Connection aborted", "BrokenPipe")):
        cause, why = "reset", "the connection was dropped"
    else:
        cause, why = "other", type(exc).__name__
    return Unreachable(f"cannot reach the Call Center at {host}: {why}", cause=cause, url=url)


def _proxy_reason(names: str) -> str:
    tunnel = re.search(r"Tunnel connection failed: (\d{3}[^'\"\)]*)", names)
    if tunnel:
        return f"it refused the tunnel ({tunnel.group(1).strip()}; check its rules for the " \
               "Call Center's host and port)"
    if "ConnectionRefused" in names or "Connection refused" in names:
        return "connection refused (is the proxy running, and callcenter.proxy right?)"
    if "Timeout" in names or "timed out" in names:
        return "no answer in time"
    if "NameResolution" in names or "gaierror" in names or "Name or service" in names:
        return "its name does not resolve (DNS)"
    return "the connection through it failed"


class XsiClient:
    """Xsi-Actions as one user. A context manager; `close()` twice is harmless.

    `base_url` is the Xsi-Actions root (`…/com.broadsoft.xsi-actions/v2.0`). Operations default
    to acting on the client's own user; most take `user_id=` to act on another user's data where
    the server allows it.
    """

    def __init__(
        self,
        base_url: str,
        user_id: str,
        password: Secret | str,
        *,
        ca_bundle: str | Path | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
        session: requests.Session | None = None,
        retries: int = 2,
        backoff_s: float = 0.25,
        retry_deadline_s: float = 8.0,
        proxy: str = "",
    ):
        """`proxy`: the site's proxy (`http://host:port`); HTTPS goes through it by CONNECT,
        so TLS is still verified end to end. The environment's proxy variables never count."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an Xsi-Actions URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self.timeout = timeout
        self._password = password if isinstance(password, Secret) else Secret(password)
        self.verify = str(ca_bundle) if ca_bundle else _system_trust_store()
        self.session = session or requests.Session()
        self.session.trust_env = False
        self.proxy = proxy
        if proxy:
            self.session.proxies = {"https": proxy, "http": proxy}
        self.session.auth = SecretBasicAuth(user_id, self._password)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/xml"
        retry = XsiRetry(
            total=retries, connect=0, read=retries, status=retries, other=0, redirect=0,
            allowed_methods=frozenset({"GET", "PUT"}), status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff_s, backoff_max=2.0, respect_retry_after_header=True,
            raise_on_status=False, raise_on_redirect=False, deadline_s=retry_deadline_s,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=4)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.requests_sent = 0
        self._closed = False

    @classmethod
    def from_config(cls, callcenter, user_id: str, password: Secret | str, **kwargs) -> XsiClient:
        """A client for `user_id` with the URL, CA bundle and timeouts of a `CallCenterConfig`."""
        return cls(callcenter.url, user_id, password, ca_bundle=callcenter.ca_bundle,
                   timeout=callcenter.timeout, proxy=getattr(callcenter, "proxy", ""), **kwargs)

    # --- the seam for other Xsi interfaces on the same server (Xsi-Events) -----------------

    def url(self, *segments: str) -> str:
        """`base_url` joined with `segments`, each quoted (an `@` is kept)."""
        return self.base_url + "/" + "/".join(quote(s, safe="@") for s in segments)

    def send(self, method: str, url: str, body: bytes | None = None,
              params: dict | None = None) -> requests.Response:
        """One request with this client's credentials, timeouts, TLS and retries; raises the
        `CallCenterError` the answer means (`raise_for_status`)."""
        if self._closed:
            raise CallCenterError("this Call Center client is closed", url=url)
        headers = {"Content-Type": "application/xml; charset=UTF-8"} if body is not None else None
        self.requests_sent += 1
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, data=body, params=params, headers=headers, timeout=self.timeout,
                verify=self.verify, allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = unreachable(exc, url, self.proxy)
            log.debug("%s %s: %s", method, url, error)  # the caller reports it, once
            raise error from exc
        log.debug("%s %s -> %s in %.0f ms", method, url, response.status_code,
                  (time.monotonic() - started) * 1000)
        self.raise_for_status(response, url)
        return response

    def raise_for_status(self, response: requests.Response, url: str) -> None:
        """Raise the `CallCenterError` a non-2xx answer means (401, 403, 404, 4xx, 503, 3xx)."""
        status = response.status_code
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise ProtocolError(
                f"the Call Center redirected ({status}) to {response.headers.get('Location')!r};"
                " redirects are not followed", status=status, url=url)
        if status == 401:
            raise InvalidCredentials(f"the Call Center refused the credentials of {self.user_id}",
                                     status=status, url=url)
        if status in RETRY_STATUSES:
            raise ServerBusy(f"the Call Center is busy ({status}) and still was after retries",
                             status=status, url=url)
        info = self._error_info(response)
        english = (info.summary_english or info.summary or "").strip() if info else ""
        if status == 403:
            raise NotPermitted(f"not permitted: {english or 'outside the caller rights'}",
                               status=status, url=url)
        if status == 404:
            raise NotFound(f"not found: {url.removeprefix(self.base_url)}", status=status, url=url)
        if 400 <= status < 500:
            raise Rejected(
                f"the Call Center rejected the request: {english or f'status {status}'}",
                code=info.error_code if info else None, summary_english=english,
                summary=(info.summary or "") if info else "", status=status, url=url)
        raise ProtocolError(f"the Call Center answered {status}", status=status, url=url)

    @staticmethod
    def _error_info(response: requests.Response) -> codec.ErrorInfo | None:
        if b"ErrorInfo" not in response.content[:512]:
            return None
        try:
            return codec.decode_error_info(response.content)
        except ProtocolError:
            return None

    def _get(self, decode: Callable[[bytes], object], *segments: str):
        response = self.send("GET", self.url(*segments))
        return decode(response.content)

    def _put(self, body: bytes, *segments: str, params: dict | None = None) -> None:
        self.send("PUT", self.url(*segments), body, params)

    # --- operations -------------------------------------------------------------------------

    def profile(self, user_id: str | None = None) -> codec.Profile:
        """The user's profile; also the credentials check (`InvalidCredentials` on 401)."""
        return self._get(codec.decode_profile, "user", user_id or self.user_id, "profile")

    def hoteling_guest(self, user_id: str | None = None) -> codec.HotelingGuest:
        return self._get(codec.decode_hoteling_guest, "user", user_id or self.user_id,
                         "services", "HotelingGuest")

    def associate(self, host_user_id: str, *, limit_hours: int,
                  user_id: str | None = None) -> None:
        """Make the user a hoteling guest at the desk of `host_user_id`."""
        self._put(codec.associate_body(host_user_id, limit_hours=limit_hours),
                  "user", user_id or self.user_id, "services", "HotelingGuest")

    def clear_association(self, user_id: str | None = None) -> None:
        """The guest leaves whatever desk they sit at."""
        self._put(codec.clear_association_body(), "user", user_id or self.user_id,
                  "services", "HotelingGuest")

    def hoteling_host(self, host_user_id: str | None = None) -> codec.HotelingHost:
        return self._get(codec.decode_hoteling_host, "user", host_user_id or self.user_id,
                         "services", "HotelingHost")

    def force_release(self, host_user_id: str | None = None) -> None:
        """Free the desk of its guest, with the host's own credentials."""
        self._put(codec.force_release_body(), "user", host_user_id or self.user_id,
                  "services", "HotelingHost")

    def call_center(self, user_id: str | None = None) -> codec.CallCenter:
        """The agent's ACD state and queues."""
        return self._get(codec.decode_call_center, "user", user_id or self.user_id,
                         "services", "CallCenter")

    def acd_state(self, user_id: str | None = None) -> str | None:
        return self.call_center(user_id).agent_acd_state

    def set_acd_state(self, state: str, *, unavailable_code: str | None = None,
                      validate_sign_out: bool = False, user_id: str | None = None) -> None:
        """Set the agent's ACD state (`Available`, `Unavailable`, `Wrap-Up`, `Sign-Out`, …)."""
        params = {"validateSignOut": "true"} if validate_sign_out else None
        self._put(codec.acd_state_body(state, unavailable_code=unavailable_code),
                  "user", user_id or self.user_id, "services", "CallCenter", params=params)

    def unavailable_codes(self, profile: codec.Profile) -> codec.UnavailableCodes:
        """The agent's group's unavailable codes. The server requires the group's enterprise
        (`isEnterprise`) or service provider as a query parameter, from the profile."""
        if not profile.group_id or not profile.service_provider_id:
            raise ValueError("the profile names no group or service provider")
        key = "enterpriseId" if profile.is_enterprise else "serviceProviderId"
        url = self.url("group", profile.group_id, "services", "CallCenter", "UnavailableCodes")
        response = self.send("GET", url, params={key: profile.service_provider_id})
        return codec.decode_unavailable_codes(response.content)

    def available_hosts(self, user_id: str | None = None) -> codec.AvailableHotelingHosts:
        return self._get(codec.decode_available_hosts, "user", user_id or self.user_id,
                         "directories", "HotelingHosts")

    def logout(self) -> None:
        """End the server's cookie session (best effort: errors are logged, not raised)."""
        if not self.session.cookies:
            return
        try:
            self.send("GET", self.url("user", self.user_id, "profile", "j_logout"))
        except CallCenterError as exc:
            log.debug("j_logout failed: %s", exc)

    def close(self) -> None:
        """Log out of the cookie session and close the connections. Idempotent."""
        if self._closed:
            return
        self.logout()
        self._closed = True
        self.session.close()

    def __enter__(self) -> XsiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
