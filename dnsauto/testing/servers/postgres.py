"""Debian's PostgreSQL (``postgresql-15``) for the tests: initdb in a temporary directory.

:func:`start_postgres` makes a cluster with ``initdb`` in a fresh temporary directory, starts
``postgres`` on 127.0.0.1 at a free high port with its unix socket in that directory (never
``/var/run/postgresql``), and waits until the postmaster says it is ready (the status line of
``postmaster.pid``, the one ``pg_ctl -w`` reads; no connection is tried). The superuser
``dnsauto`` has a random password (``scram-sha-256`` for every connection, TCP and socket),
so a store configured with :meth:`PostgresServer.store_config` proves ``authSecret`` is sent.

Run as root (the suite does, in CI), ``initdb`` and ``postgres`` refuse to start; they run as
an unprivileged user instead: ``$DNSAUTO_PG_USER`` if set, else Debian's ``postgres`` (made
by the ``postgresql-common`` package), else ``nobody``. The temporary directory is chowned to
that user, and the processes get its uid, gid and no supplementary groups
(``subprocess.Popen(user=, group=, extra_groups=[])``); the temporary directory is made in
``$DNSAUTO_PG_TMPDIR``, else ``$TMPDIR`` if that user can reach it, else ``/tmp``. Run as
anyone else, they run as the caller. The programs are found in ``$DNSAUTO_PG_BIN``, else the newest
``/usr/lib/postgresql/<version>/bin``; missing, :class:`ServerUnavailable` is raised (the
fixtures skip, which fails under ``CI=true``).

The cluster trades durability for speed (``fsync=off``): a clean :meth:`restart` loses
nothing; a crash of the machine loses the test's cluster, which is thrown away anyway.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnsauto.testing.servers._common import (
    HOST,
    READY_TIMEOUT,
    ServerFailed,
    ServerUnavailable,
    free_port,
)

__all__ = ["PostgresServer", "find_pg_bin", "start_postgres"]

SUPERUSER = "dnsauto"
DATABASE = "dnsauto"
_PG_ROOT = Path("/usr/lib/postgresql")
_USERS = ("postgres", "nobody")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_pg_bin() -> Path:
    """The directory with ``initdb`` and ``postgres``: ``$DNSAUTO_PG_BIN`` or Debian's newest."""
    configured = os.environ.get("DNSAUTO_PG_BIN")
    candidates = [Path(configured)] if configured else []
    if not configured and _PG_ROOT.is_dir():
        versions = [p for p in _PG_ROOT.iterdir() if p.name.isdigit()]
        candidates = [p / "bin" for p in sorted(versions, key=lambda p: int(p.name), reverse=True)]
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    raise ServerUnavailable("PostgreSQL (initdb, postgres) is not installed")


@dataclass(frozen=True)
class _RunAs:
    """Whom ``initdb`` and ``postgres`` run as (``None``: the caller, who is not root)."""

    user: str | None
    uid: int
    gid: int

    def popen_args(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs(None, os.geteuid(), os.getegid())
    names = [os.environ["DNSAUTO_PG_USER"]] if os.environ.get("DNSAUTO_PG_USER") else _USERS
    for name in names:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            if entry.pw_uid != 0:
                return _RunAs(name, entry.pw_uid, entry.pw_gid)
    raise ServerUnavailable(f"no unprivileged user to run PostgreSQL as (tried {', '.join(names)})")


@dataclass
class PostgresServer:
    """A PostgreSQL cluster started for the tests; :meth:`stop` it (the fixtures do)."""

    bin_dir: Path
    workdir: Path
    port: int
    password: str = field(repr=False)
    run_as: _RunAs
    host: str = HOST
    user: str = SUPERUSER
    database: str = DATABASE
    startup_seconds: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _databases: int = 0

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.workdir / "socket"

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- what clients need ---------------------------------------------------------------------

    def dsn(self, database: str | None = None) -> str:
        """A libpq conninfo string (with the password) for ``psycopg.connect``."""
        return (
            f"host={self.host} port={self.port} dbname={database or self.database} "
            f"user={self.user} password={self.password} connect_timeout=5"
        )

    def url(self, database: str | None = None) -> str:
        """A SQLAlchemy URL (``postgresql+psycopg://``, with the password)."""
        return (
            f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/"
            f"{database or self.database}"
        )

    def store_config(self, database: str | None = None, **fields: Any) -> dict[str, Any]:
        """A ``[daemon.store]`` table of ``@type = "PostgreSql"`` for this cluster (camelCase,
        as in the configuration file); ``fields`` add or override keys (``timeout`` ...)."""
        return {
            "@type": "PostgreSql",
            "host": self.host,
            "port": self.port,
            "database": database or self.database,
            "authUsername": self.user,
            "authSecret": {"@type": "Value", "secret": self.password},
            "timeout": "5s",
            **fields,
        }

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (for a test of its own); its name."""
        import psycopg
        from psycopg import sql

        if name is None:
            self._databases += 1
            name = f"test_{os.getpid()}_{self._databases}_{secrets.token_hex(3)}"
        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start ``postgres`` on :attr:`port` and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        started = time.monotonic()
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        command = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            f"unix_socket_directories={self.socket_dir}",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=16MB",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
                **self.run_as.popen_args(),
            )
        deadline = started + READY_TIMEOUT
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                state = (
                    f"exited with {self.process.returncode}"
                    if self.process.returncode is not None
                    else f"not ready after {READY_TIMEOUT:.0f}s"
                )
                log_text = self.log()
                self.shutdown()
                raise ServerFailed(f"postgres {state}; log:\n{log_text[-4000:]}")
            time.sleep(0.005)
        self.startup_seconds = time.monotonic() - started

    def _ready(self) -> bool:
        # postmaster.pid: pid, data dir, start time, port, socket dir, listen address, shmem
        # key, status ("ready" once it accepts connections; "starting", "stopping" before).
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        assert self.process is not None
        return len(lines) >= 8 and lines[0] == str(self.process.pid) and lines[7].strip() == "ready"

    def shutdown(self) -> None:
        """Stop ``postgres`` (fast shutdown: open sessions are ended) and keep the cluster."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop ``postgres`` (every client's connection breaks) and start it again on the
        same port with the same data; returns once it accepts connections again."""
        self.shutdown()
        self.start()

    def stop(self) -> None:
        """Stop ``postgres`` and delete the cluster."""
        self.shutdown()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None


def _temporary_root(run_as: _RunAs) -> str | None:
    """Where the cluster's directory goes: ``$DNSAUTO_PG_TMPDIR``, else the usual temporary
    directory when the user PostgreSQL runs as can reach it, else ``/tmp``."""
    configured = os.environ.get("DNSAUTO_PG_TMPDIR")
    if configured:
        return configured
    root = Path(tempfile.gettempdir()).resolve()
    if run_as.user is None or all(p.stat().st_mode & 0o001 for p in (root, *root.parents)):
        return None
    return "/tmp"  # world-writable and sticky: the other user can reach it


def start_postgres() -> PostgresServer:
    """initdb a new cluster in a temporary directory and start it; see the module docstring."""
    bin_dir = find_pg_bin()
    run_as = _run_as()
    tempdir = tempfile.TemporaryDirectory(prefix="dnsauto-pg-", dir=_temporary_root(run_as))
    workdir = Path(tempdir.name)
    server: PostgresServer | None = None
    try:
        password = secrets.token_urlsafe(24)
        pwfile = workdir / "pwfile"
        pwfile.write_text(password + "\n")
        (workdir / "socket").mkdir(mode=0o700)
        for path in (workdir, pwfile, workdir / "socket"):
            if run_as.user is not None:
                os.chown(path, run_as.uid, run_as.gid)
        initdb = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(workdir / "data"),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            capture_output=True,
            cwd=workdir,
            check=False,
            **run_as.popen_args(),
        )
        pwfile.unlink()
        if initdb.returncode != 0:
            output = (initdb.stdout + initdb.stderr).decode(errors="replace")
            raise ServerFailed(f"initdb exited with {initdb.returncode}:\n{output[-4000:]}")
        server = PostgresServer(
            bin_dir=bin_dir,
            workdir=workdir,
            port=free_port(),
            password=password,
            run_as=run_as,
            _tempdir=tempdir,
        )
        server.start()
        server.create_database(DATABASE)
    except BaseException:
        if server is not None:
            server.shutdown()
        tempdir.cleanup()
        raise
    return server
