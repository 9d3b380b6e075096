"""A throwaway PostgreSQL server for end-to-end tests (stdlib only).

Runs the server binaries of the machine (Debian's `postgresql` package puts them under
/usr/lib/postgresql/<major>/bin, off PATH) on 127.0.0.1 with a free port, trust auth, and a data
directory in a temporary folder that is deleted on stop. PostgreSQL refuses to run as root, so when
the tests run as root the server runs as the `postgres` system user (or `nobody`).

Used by the `postgres` fixture in tests/conftest.py; also runnable by hand:
`python tests/e2e/postgres_server.py` starts one and prints its URL until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
DEFAULT_DATABASE = "marketo"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bin_dir() -> Path | None:
    """The directory holding `initdb` and `postgres`, newest major version first.

    Order: $PG_BIN_DIR, Debian's /usr/lib/postgresql/*/bin, then PATH (other distributions,
    Homebrew). `pg_config --bindir` is not used: Debian's pg_config comes with libpq-dev, not the
    server, so it can point at a directory without `postgres`.
    """
    candidates: list[Path] = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]))

    def major(path: str) -> tuple[int, ...]:
        version = Path(path).parent.name
        return tuple(int(p) for p in re.findall(r"\d+", version)) or (0,)

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
    candidates.extend(Path(p) for p in debian)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: None when not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable(
        "running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL"
    )


@dataclass
class PostgresServer:
    """One PostgreSQL server process; `start()` / `stop()`, or use it as a context manager."""

    database: str = DEFAULT_DATABASE
    bin_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    user: str = SUPERUSER
    startup_timeout: float = 60.0
    base_dir: Path | None = field(default=None, init=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    # -- addresses -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """libpq URL (psycopg.connect, psql)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "postgres.log"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> PostgresServer:
        bin_dir = self.bin_dir or find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable(
                "no PostgreSQL server binaries (initdb, postgres) under /usr/lib/postgresql/*/bin,"
                " $PG_BIN_DIR or PATH; install them with `apt-get install postgresql`"
            )
        self.bin_dir = bin_dir
        account = _server_account()
        self.base_dir = Path(tempfile.mkdtemp(prefix="tap-marketo-bulk-pg-"))
        try:
            if account is not None:
                # The server user must own its data dir and be able to reach it and the socket dir.
                os.chown(self.base_dir, account.pw_uid, account.pw_gid)
            data_dir = self.base_dir / "data"
            self._run_as(
                account,
                [
                    str(bin_dir / "initdb"),
                    "--pgdata", str(data_dir),
                    "--username", self.user,
                    "--auth", "trust",
                    "--encoding", "UTF8",
                    # C locale: independent of the machine's locales (a fresh image may have none).
                    "--locale", "C",
                    "--no-sync",
                ],
            )
            # A port picked now may be taken before the server binds it: retry with another.
            last_error = ""
            for _attempt in range(3):
                self.port = self.port or free_port()
                if self._launch(account, bin_dir, data_dir):
                    break
                last_error = self.log_tail()
                self.port = 0
            else:
                raise RuntimeError(f"PostgreSQL did not start:\n{last_error}")
            self._create_database(bin_dir)
        except BaseException:
            self.stop()
            raise
        return self

    def _run_as(self, account: pwd.struct_passwd | None, argv: list[str]) -> None:
        result = subprocess.run(
            argv,
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            check=False,
            **_as_user(account),
        )
        if result.returncode != 0:
            output = result.stdout + result.stderr
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}):\n{output}")

    def _launch(self, account: pwd.struct_passwd | None, bin_dir: Path, data_dir: Path) -> bool:
        assert self.base_dir is not None
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D", str(data_dir),
                    "-h", self.host,
                    "-p", str(self.port),
                    # Socket in our temp dir: /var/run/postgresql may not exist or be writable.
                    "-k", str(self.base_dir),
                    # Durability is worthless for a throwaway database; speed is not.
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                    "-c", "max_connections=40",
                ],
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group so a Ctrl-C in the terminal reaches pytest, which stops us.
                start_new_session=True,
                **_as_user(account),
            )
        finally:
            log.close()
        pg_isready = bin_dir / "pg_isready"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            if pg_isready.is_file():
                ready = subprocess.run(
                    [str(pg_isready), "-h", self.host, "-p", str(self.port), "-U", self.user,
                     "-d", "postgres", "-q"],
                    check=False,
                ).returncode == 0
            else:
                ready = _port_open(self.host, self.port)
            if ready:
                return True
            time.sleep(0.1)
        self._terminate()
        return False

    def _create_database(self, bin_dir: Path) -> None:
        if self.database == "postgres":
            return
        result = subprocess.run(
            [str(bin_dir / "createdb"), "-h", self.host, "-p", str(self.port), "-U", self.user,
             self.database],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"createdb failed: {result.stderr.strip()}")

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # SIGINT = "fast shutdown": rolls back open transactions and exits promptly.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGQUIT)  # immediate shutdown
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server (if running) and delete its data; safe to call twice."""
        self._terminate()
        base_dir, self.base_dir = self.base_dir, None
        if base_dir is not None:
            shutil.rmtree(base_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _as_user(account: pwd.struct_passwd | None) -> dict[str, object]:
    """subprocess keyword arguments to drop root for the server (Python's own setuid/setgid)."""
    if account is None:
        return {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(HOME=account.pw_dir or "/", USER=account.pw_name, LOGNAME=account.pw_name)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [], "env": env}


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def main() -> int:
    with PostgresServer() as server:
        # Blocked only now: the server process must not inherit a mask that hides SIGINT.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        print(server.url, flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    sys.exit(main())
