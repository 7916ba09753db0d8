"""A PostgreSQL and a Redis of the test's own, to restart in the middle of a batch.

The machine's shared servers are never restarted (other suites test against them): these
run from a temporary directory on free ports and are stopped when the test ends.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.delivery_servers import free_port


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} (PostgreSQL server binaries) not found")
    return path


def as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def fresh_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="retention-pg-"))


@dataclass
class OwnPostgres:
    """A cluster in a fresh temporary directory (owned by ``postgres`` when run as root)."""

    directory: Path = field(default_factory=fresh_directory)
    port: int = 0

    def start(self) -> None:
        data = self.directory / "data"
        if not data.exists():
            self.port = free_port()
            if os.geteuid() == 0:
                shutil.chown(self.directory, user="postgres")
            subprocess.run(
                [
                    *as_postgres_user(),
                    postgres_bin("initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                ],
                check=True,
                capture_output=True,
            )
        subprocess.run(
            [
                *as_postgres_user(),
                postgres_bin("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.directory / "postgres.log"),
                "-o",
                f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=50",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [
                *as_postgres_user(),
                postgres_bin("pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            check=False,
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self, down_seconds: float) -> None:
        """Stop (every connection drops), stay down a while, start again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@dataclass
class OwnRedis:
    directory: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = self.port or free_port()
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def restart(self, down_seconds: float) -> None:
        """Without persistence: every queued task is gone when it comes back."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"
