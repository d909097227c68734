"""A throwaway certificate authority, made with the ``openssl`` command.

For tests over real TLS on 127.0.0.1 (tests/test_tls.py): :func:`make_pki`
writes a CA, a server certificate for ``127.0.0.1`` and ``localhost`` and a
client certificate, all signed by that CA, with the extensions Python 3.13's
strict verification (``VERIFY_X509_STRICT``) asks for. The ``openssl``
command (no Python dependency) takes a few tens of milliseconds for all of
it: EC keys, no prime search.

Example::

    pki = make_pki(tmp_path)
    with tls_emulator(pki) as emu:  # the emulator serving that certificate
        client = AsyncClient(token, emu.base_url, ssl=trusting(pki))
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wriftai_async.testing import Emulator

__all__ = ["PKI", "make_pki", "tls_emulator", "trusting"]

_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

# A whole configuration: the system's openssl.cnf is not read (its own
# extensions would be added to these).
_CONFIG = """\
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = {name}
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_LEAF_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = {usage}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
{names}
"""


@dataclass(frozen=True)
class PKI:
    """Paths of one CA's PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """A server's context presenting the 127.0.0.1/localhost certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=self.ca)
        return context


def trusting(pki: PKI, *, client_cert: PKI | None = None) -> ssl.SSLContext:
    """The README's recipe: the public CAs and ``pki``'s, maybe a client cert."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=pki.ca)
    if client_cert is not None:
        context.load_cert_chain(client_cert.client_cert, client_cert.client_key)
    return context


@contextlib.contextmanager
def tls_emulator(
    pki: PKI, *, require_client_cert: bool = False, **options: Any
) -> Iterator[Emulator]:
    """A seeded emulator serving TLS with ``pki``'s server certificate."""
    context = pki.server_context(require_client_cert=require_client_cert)
    with Emulator(seed=True, ssl_context=context, **options).run_in_thread() as emu:
        yield emu


def _openssl(*args: str | Path) -> None:
    subprocess.run(
        ["openssl", *map(str, args)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _leaf(folder: Path, name: str, ca: Path, ca_key: Path, usage: str) -> None:
    server = usage == "serverAuth"
    names = "subjectAltName = IP:127.0.0.1, DNS:localhost" if server else ""
    extensions = folder / f"{name}.ext"
    extensions.write_text(_LEAF_EXTENSIONS.format(usage=usage, names=names))
    csr, config = folder / f"{name}.csr", folder / f"{name}.cnf"
    config.write_text(_CONFIG.format(name=name))
    _openssl("req", "-new", "-config", config, *_KEY,
             "-keyout", folder / f"{name}.key", "-out", csr)  # fmt: skip
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
             "-CAcreateserial", "-days", "2", "-sha256",
             "-extfile", extensions, "-out", folder / f"{name}.pem")  # fmt: skip


def make_pki(folder: Path) -> PKI:
    """Write a fresh CA and its server and client certificates into ``folder``."""
    if shutil.which("openssl") is None:  # pragma: no cover - Debian has it
        raise RuntimeError("the TLS tests need the openssl command")
    ca, ca_key, config = folder / "ca.pem", folder / "ca.key", folder / "ca.cnf"
    config.write_text(_CONFIG.format(name="wriftai-async test CA"))
    _openssl("req", "-x509", "-config", config, *_KEY, "-keyout", ca_key,
             "-out", ca, "-days", "2", "-sha256")  # fmt: skip
    _leaf(folder, "server", ca, ca_key, "serverAuth")
    _leaf(folder, "client", ca, ca_key, "clientAuth")
    return PKI(
        ca=ca,
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
