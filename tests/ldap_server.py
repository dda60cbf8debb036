"""A real OpenLDAP server (Debian's slapd) on loopback for the badge directory's tests: its own
configuration and database in a temporary folder, StartTLS with a certificate from `trustme`,
the entries given as LDIF, and a referral that points wherever a test wants.

```python
with Slapd(tmp_path, ca=trustme.CA(), entries=[...]) as directory:
    directory.url                        # ldap://127.0.0.1:PORT (StartTLS offered)
    directory.ldaps_url                  # ldaps://127.0.0.1:PORT2
    directory.stop(); directory.start()  # an outage, and the directory back
```
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SUFFIX = "dc=corp,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
KIOSK_DN = f"cn=kiosk,ou=services,{SUFFIX}"
KIOSK_PASSWORD = "kiosk-bind-Secret-7"


def available() -> bool:
    return os.path.exists(SLAPD)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Slapd:
    def __init__(self, folder: Path, *, ca, entries: list[dict]):
        self.folder = folder
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.tls_port = _free_port()
        self.ldaps_url = f"ldaps://127.0.0.1:{self.tls_port}"
        self.ca_path = folder / "ca.pem"
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        ca.cert_pem.write_to_path(str(self.ca_path))
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(folder / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
        (folder / "db").mkdir(exist_ok=True)
        (folder / "slapd.conf").write_text(f"""\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
TLSCACertificateFile {self.ca_path}
TLSCertificateFile {folder}/cert.pem
TLSCertificateKeyFile {folder}/key.pem
database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw admin
directory {folder}/db
access to attrs=userPassword by self read by anonymous auth by * none
access to * by dn.exact="{KIOSK_DN}" read by * none
""")
        ldif = [_ldif({"dn": SUFFIX, "objectClass": ["dcObject", "organization"],
                       "dc": "corp", "o": "Corp"}),
                _ldif({"dn": f"ou=services,{SUFFIX}", "objectClass": "organizationalUnit",
                       "ou": "services"}),
                _ldif({"dn": KIOSK_DN, "cn": "kiosk", "userPassword": KIOSK_PASSWORD,
                       "objectClass": ["organizationalRole", "simpleSecurityObject"]}),
                _ldif({"dn": f"ou=people,{SUFFIX}", "objectClass": "organizationalUnit",
                       "ou": "people"})]
        ldif += [_ldif(entry) for entry in entries]
        subprocess.run([shutil.which("slapadd") or "/usr/sbin/slapadd", "-f",
                        str(folder / "slapd.conf")], input="\n".join(ldif), text=True,
                       check=True, capture_output=True)

    def start(self) -> Slapd:
        self.process = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(self.folder / "slapd.conf"), "-h",
             f"{self.url} {self.ldaps_url}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"slapd exited {self.process.returncode}") from None
                time.sleep(0.05)
        raise RuntimeError("slapd did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Slapd:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _ldif(entry: dict) -> str:
    lines = [f"dn: {entry['dn']}"]
    for key, value in entry.items():
        if key == "dn":
            continue
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, str) and (one != one.strip() or any(ord(c) < 32 for c in one)
                                         or one.startswith((":", "<"))):
                import base64

                lines.append(f"{key}:: {base64.b64encode(one.encode()).decode()}")
            else:
                lines.append(f"{key}: {one}")
    return "\n".join(lines) + "\n"


class CaptureServer:
    """Where a referral points: a listener that answers just enough LDAP (an empty search, a
    refused bind) for a client to go on to bind, and keeps every byte it is sent, so that a
    test sees whether the bind DN and password ever arrive (in clear, on plain LDAP)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        buffer = b""
        try:
            while chunk := conn.recv(4096):
                self.received += chunk
                buffer += chunk
                while (message := _one_message(buffer)) is not None:
                    buffer = buffer[len(message):]
                    reply = _answer(message)
                    if reply:
                        conn.sendall(reply)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


def _length(data: bytes, at: int) -> tuple[int, int] | None:
    """A BER length at `at`: (length, where the content starts), or None if incomplete."""
    if at >= len(data):
        return None
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if at + 1 + count > len(data):
        return None
    return int.from_bytes(data[at + 1:at + 1 + count], "big"), at + 1 + count


def _one_message(data: bytes) -> bytes | None:
    header = _length(data, 1) if data else None
    if header is None or header[1] + header[0] > len(data):
        return None
    return data[:header[1] + header[0]]


def _answer(message: bytes) -> bytes:
    """An LDAPMessage's reply: SearchResultDone (success) to a search, BindResponse
    (invalidCredentials) to a bind, ExtendedResponse (unavailable) to StartTLS: a server that
    strips StartTLS; nothing to anything else."""
    _, content = _length(message, 1)
    id_length = message[content + 1]
    message_id = message[content:content + 2 + id_length]  # INTEGER, as it came
    op = message[content + 2 + id_length]
    done = {0x63: 0x65, 0x60: 0x61, 0x77: 0x78}.get(op)  # search, bind, extended
    if done is None:
        return b""
    code = {0x63: 0, 0x60: 49, 0x77: 52}[op]
    body = bytes([0x0A, 0x01, code, 0x04, 0x00, 0x04, 0x00])
    operation = bytes([done, len(body)]) + body
    inner = message_id + operation
    return bytes([0x30, len(inner)]) + inner
