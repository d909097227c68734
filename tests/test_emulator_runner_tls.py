"""The standalone emulator runner serving TLS: ``--certfile``/``--keyfile``.

The runner runs as a child process on a free loopback port (``--port 0``),
with a server certificate for 127.0.0.1 signed by a CA made for this test
run (tests/tls_certs.py); clients trust that CA through ``ssl=``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests._emulator_process import STOP_TIMEOUT, served
from tests.conftest import FAST_RETRY
from tests.tls_certs import PKI, make_pki, trusting
from wriftai_async import APIConnectionError, AsyncClient

COMMANDS = {
    "module": (sys.executable, "-m", "wriftai_async.testing"),
    "cli": (sys.executable, "-m", "wriftai_async", "emulator"),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("runner-pki"))


@pytest.mark.parametrize("command", COMMANDS)
async def test_serves_https_to_a_client_trusting_the_ca(command: str, pki: PKI) -> None:
    tls = ("--certfile", str(pki.server_cert), "--keyfile", str(pki.server_key))
    with served(*tls, command=COMMANDS[command]) as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        async with AsyncClient(
            server.token, server.base_url, ssl=trusting(pki), retry=FAST_RETRY
        ) as client:
            assert (await client.user.get()).username == "alice"
            model = await client.models.get("alice/text-echo")
            assert model.name == "text-echo"
        # Really TLS: a client without the CA refuses the certificate...
        async with AsyncClient(
            server.token, server.base_url, retry=FAST_RETRY
        ) as untrusting:
            with pytest.raises(APIConnectionError, match="was not trusted"):
                await untrusting.user.get()
        # ... and plain HTTP on the same port gets no answer.
        plain = server.base_url.replace("https://", "http://", 1)
        async with AsyncClient(server.token, plain, retry=FAST_RETRY) as client:
            with pytest.raises(APIConnectionError):
                await client.user.get()
        assert server.stop() == 0
        assert server.process.stderr is not None
        errors = server.process.stderr.read()
        assert "Traceback" not in errors and "emulator stopped" in errors


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wriftai_async.testing", "--port", "0", *args],
        stdin=subprocess.DEVNULL,  # an encrypted key must not prompt for a passphrase
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""  # refused before serving: no banner
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("python -m wriftai_async.testing: error: ")
    return lines[0]


@pytest.mark.parametrize("given", ["--certfile", "--keyfile"])
def test_one_without_the_other_is_refused(given: str, pki: PKI) -> None:
    line = assert_one_line_usage_error(run(given, str(pki.server_cert)))
    assert "--certfile and --keyfile go together" in line


def test_a_missing_file_is_named(pki: PKI, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.key"
    line = assert_one_line_usage_error(
        run("--certfile", str(pki.server_cert), "--keyfile", str(missing))
    )
    assert f"--keyfile {missing}: No such file or directory" in line


def test_a_file_that_is_not_pem_is_named(pki: PKI, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"\x00\xff not a certificate\n")
    line = assert_one_line_usage_error(
        run("--certfile", str(junk), "--keyfile", str(pki.server_key))
    )
    assert f"--certfile {junk}: not a PEM file holding a certificate" in line
    line = assert_one_line_usage_error(
        run("--certfile", str(pki.server_cert), "--keyfile", str(pki.server_cert))
    )
    assert "--keyfile" in line and "not a PEM file holding a private key" in line


def test_a_key_of_another_certificate_is_refused(pki: PKI) -> None:
    line = assert_one_line_usage_error(
        run("--certfile", str(pki.server_cert), "--keyfile", str(pki.client_key))
    )
    assert "the key is not the certificate's" in line


def test_a_damaged_certificate_is_refused(pki: PKI, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.pem"
    text = pki.server_cert.read_text()
    damaged.write_text(text.replace(text.splitlines()[3], "A" * 64))
    line = assert_one_line_usage_error(
        run("--certfile", str(damaged), "--keyfile", str(pki.server_key))
    )
    assert "not a usable certificate and key" in line


def test_an_encrypted_key_is_refused_without_a_prompt(pki: PKI, tmp_path: Path) -> None:
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(pki.server_key), "-aes256",
         "-passout", "pass:secret", "-out", str(encrypted)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    line = assert_one_line_usage_error(
        run("--certfile", str(pki.server_cert), "--keyfile", str(encrypted))
    )
    assert "the key is encrypted" in line


def test_the_readme_shows_the_error_as_printed(pki: PKI, tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    command = "$ wriftai-async emulator --certfile server.pem --keyfile client.key\n"
    shown = readme[readme.index(command) + len(command) :].splitlines()[0]
    (tmp_path / "server.pem").write_bytes(pki.server_cert.read_bytes())
    (tmp_path / "client.key").write_bytes(pki.client_key.read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "wriftai_async", "emulator",
         "--certfile", "server.pem", "--keyfile", "client.key"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == shown + "\n"
