"""File secrets: only regular files of a bounded size, relative paths anchored at the file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from dnsauto.config.loader import load_config_file, resolve_secrets
from dnsauto.plugin.errors import SecretError
from dnsauto.plugin.registry import Registry
from dnsauto.plugin.types import SECRET_FILE_MAX_BYTES, SecretFile


def secret_file(path: Path | str) -> SecretFile:
    return SecretFile.model_validate({"@type": "File", "filePath": str(path)})


def test_a_secret_file_that_is_a_device_is_refused_without_reading_it() -> None:
    with pytest.raises(SecretError, match="cannot read secret file /dev/zero: not a regular file"):
        secret_file("/dev/zero").resolve()


def test_a_secret_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="not a regular file"):
        secret_file(tmp_path).resolve()


def test_a_secret_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # A writer that would feed a reader blocking on the FIFO; released below either way.
    writer = threading.Thread(target=lambda: fifo.write_text("c2VjcmV0\n"), daemon=True)
    writer.start()
    try:
        with pytest.raises(SecretError, match="not a regular file"):
            secret_file(fifo).resolve()
    finally:
        release = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        writer.join()
        os.close(release)


def test_a_secret_file_of_the_largest_size_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"k" * SECRET_FILE_MAX_BYTES)
    assert secret_file(path).resolve() == "k" * SECRET_FILE_MAX_BYTES
    assert SECRET_FILE_MAX_BYTES == 64 * 1024


def test_a_secret_file_larger_than_64_kib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge"
    path.write_bytes(b"k" * (SECRET_FILE_MAX_BYTES + 1))
    with pytest.raises(SecretError, match=f"cannot read secret file {path}: larger than 64 KiB"):
        secret_file(path).resolve()


def test_a_relative_secret_file_path_is_relative_to_the_config_file(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "memory.key").write_text("s3cret\n")
    path = folder / "config.toml"
    path.write_text(
        '[bootstrap]\nserverHostname = "mail.example.test"\ndefaultDomain = "example.test"\n'
        '[dnsServer.m]\n"@type" = "Memory"\ndescription = "m"\n'
        'secret = { "@type" = "File", filePath = "memory.key" }\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config_file(path, registry)
    assert resolve_secrets(config, str(path)) == []
    secret = config.dns_server["m"].secret  # type: ignore[attr-defined]
    assert secret.file_path == str(folder / "memory.key")
    assert secret.resolve() == "s3cret"
