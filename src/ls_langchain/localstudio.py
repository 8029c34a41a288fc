"""Start and stop a local Label Studio server for the demo and the test suite.

Label Studio pins dependencies that clash with current LangChain, so it lives in its own virtual environment
(``.venv-labelstudio/`` by default); this module only runs its ``label-studio`` executable as a subprocess.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx

from ls_langchain.errors import LocalStudioError

__all__ = ["LocalStudio", "find_executable", "free_port", "start_from_template"]

_EXECUTABLE_ENV = "LS_LANGCHAIN_LABEL_STUDIO_BIN"
_DEFAULT_USERNAME = "admin@example.com"
_DEFAULT_PASSWORD = "ls-langchain-demo"
_DEFAULT_LEGACY_TOKEN = "0123456789abcdef0123456789abcdef01234567"
# Label Studio phones home in several places; there is no network here and users rarely want it in tests.
_QUIET_ENV = {
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "LATEST_VERSION_CHECK": "false",
    "COLLECT_ANALYTICS": "false",
}


def find_executable() -> Path:
    """Locate the ``label-studio`` executable: the environment override, the project's venv, then ``PATH``."""
    override = os.environ.get(_EXECUTABLE_ENV)
    candidates = [Path(override)] if override else []
    candidates.append(Path.cwd() / ".venv-labelstudio" / "bin" / "label-studio")
    candidates.append(Path(__file__).resolve().parents[2] / ".venv-labelstudio" / "bin" / "label-studio")
    found = shutil.which("label-studio")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise LocalStudioError(
        "No label-studio executable found: run `make labelstudio` to create .venv-labelstudio/, "
        f"or set {_EXECUTABLE_ENV} to the path of label-studio."
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class LocalStudio:
    """One Label Studio process on 127.0.0.1 with a data dir of its own and a known admin user."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        username: str = _DEFAULT_USERNAME,
        password: str = _DEFAULT_PASSWORD,
        legacy_token: str = _DEFAULT_LEGACY_TOKEN,
        extra_env: dict[str, str] | None = None,
        log_path: Path | None = None,
        executable: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port if port is not None else free_port()
        self.username = username
        self.password = password
        self.legacy_token = legacy_token
        self.extra_env = dict(extra_env or {})
        self.log_path = log_path or self.data_dir.parent / f"{self.data_dir.name}.log"
        self.executable = executable
        self._process: subprocess.Popen[bytes] | None = None
        self._personal_token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 240.0) -> None:
        """Start the server and wait until ``/health/`` answers on our port."""
        if self.running:
            return
        if _port_is_open(self.port):
            raise LocalStudioError(
                f"Port {self.port} on 127.0.0.1 is already in use: stop what listens there or pick another port."
            )
        executable = self.executable or find_executable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **_QUIET_ENV,
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
            "LABEL_STUDIO_USERNAME": self.username,
            "LABEL_STUDIO_PASSWORD": self.password,
            "LABEL_STUDIO_USER_TOKEN": self.legacy_token,
            **self.extra_env,
        }
        # The server must not inherit our own client settings.
        for key in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
            env.pop(key, None)
        command = [
            str(executable), "start", "--no-browser", "--internal-host", "127.0.0.1",
            "--port", str(self.port), "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed by the OS at exit
        self._process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise LocalStudioError(f"Label Studio exited while starting: see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/health/", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise LocalStudioError(f"Label Studio did not answer on {self.url} within {timeout:.0f} s: see {self.log_path}")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until the port is free."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        deadline = time.monotonic() + timeout
        while _port_is_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> LocalStudio:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _session(self) -> httpx.Client:
        """A browser-like session, logged in as the admin user, for what the token API cannot do itself."""
        client = httpx.Client(base_url=self.url, timeout=30.0)
        client.get("/user/login/")
        response = client.post(
            "/user/login/",
            data={
                "email": self.username,
                "password": self.password,
                "csrfmiddlewaretoken": client.cookies.get("csrftoken") or "",
            },
            headers={"Referer": f"{self.url}/user/login/"},
        )
        if response.status_code != 302:
            client.close()
            raise LocalStudioError(f"Could not log in to {self.url} as {self.username} (HTTP {response.status_code}).")
        return client

    def _post_json(self, path: str, body: dict[str, object]) -> dict[str, object]:
        client = self._session()
        try:
            response = client.post(
                path,
                json=body,
                headers={"X-CSRFToken": client.cookies.get("csrftoken") or "", "Referer": f"{self.url}/"},
            )
        finally:
            client.close()
        if response.status_code >= 400:
            raise LocalStudioError(f"POST {path} on {self.url} failed with HTTP {response.status_code}.")
        result: dict[str, object] = response.json()
        return result

    def personal_token(self) -> str:
        """A personal access token (JWT refresh token) of the admin user.

        Label Studio lets a user hold one, so it is kept in the data dir (readable by its owner only) and reused.
        """
        saved = self.data_dir / ".ls-langchain-token"
        if self._personal_token is None and saved.exists():
            self._personal_token = saved.read_text().strip()
        if self._personal_token is None:
            self._personal_token = str(self._post_json("/api/token/", {})["token"])
            saved.touch(mode=0o600)
            saved.write_text(self._personal_token)
        return self._personal_token

    def set_legacy_tokens(self, enabled: bool) -> None:
        """Turn the organization's legacy ``Token <key>`` authentication on or off."""
        self._post_json("/api/jwt/settings", {"legacy_api_tokens_enabled": enabled, "api_tokens_enabled": True})


def _migrated_template(template: Path, scratch: Path, extra_env: dict[str, str]) -> Path:
    """A data dir that has been migrated once (~40 s), made on first use and kept at ``template``."""
    if (template / "label_studio.sqlite3").exists():
        return template
    building = scratch / "template"
    with LocalStudio(building, extra_env=extra_env):
        pass
    template.parent.mkdir(parents=True, exist_ok=True)
    staging = template.with_name(f"{template.name}.{os.getpid()}")
    shutil.copytree(building, staging)
    try:
        staging.rename(template)
    except OSError:  # another run made it first
        shutil.rmtree(staging, ignore_errors=True)
    return template


def start_from_template(
    template: Path, data_dir: Path, *, extra_env: dict[str, str] | None = None, port: int | None = None
) -> LocalStudio:
    """Start a Label Studio in ``data_dir``, a copy of a migrated template: ~8 s instead of ~40 s."""
    env = dict(extra_env or {})
    shutil.copytree(_migrated_template(template, data_dir.parent, env), data_dir)
    studio = LocalStudio(data_dir, extra_env=env, port=port)
    studio.start()
    return studio
