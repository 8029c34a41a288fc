"""Start and stop a local Label Studio server for the demo, the test suite and the benchmarks, on either engine.

Label Studio pins dependencies that clash with current LangChain, so it lives in its own virtual environment
(``.venv-labelstudio/`` by default); this module only runs its executables as subprocesses. On SQLite (its embedded
default) it is ``label-studio start``, Django's threaded development server. On PostgreSQL it is deployed the way
Label Studio's Docker image does it: migrations and the admin user by ``label-studio init``, then its WSGI app
(``label_studio.core.wsgi``) under a pre-forking server with several worker processes (gunicorn here, uwsgi in the
image), on a PostgreSQL cluster of its own (:class:`PostgresCluster`).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

import httpx

from ls_langchain.errors import LocalStudioError

__all__ = [
    "GUNICORN_OPTIONS",
    "WSGI_APP",
    "WSGI_SETTINGS",
    "Engine",
    "LocalStudio",
    "PostgresCluster",
    "find_executable",
    "free_port",
    "start_from_template",
]

Engine = Literal["sqlite", "postgresql"]

#: Label Studio's WSGI app, and the settings under which it runs there (``DJANGO_SETTINGS_MODULE``).
WSGI_APP = "label_studio.core.wsgi:application"
WSGI_SETTINGS = "label_studio.core.settings.label_studio"
#: gunicorn's options besides address and worker count, those of the Docker image's uwsgi.ini: one thread per
#: worker, a request killed after 120 s, a worker recycled after 5,000 requests.
GUNICORN_OPTIONS = ("--threads", "1", "--timeout", "120", "--graceful-timeout", "30", "--max-requests", "5000")

_EXECUTABLE_ENV = "LS_LANGCHAIN_LABEL_STUDIO_BIN"
_PG_BIN_ENV = "LS_LANGCHAIN_PG_BIN"
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


def _pg_bin_dir() -> Path:
    """Where PostgreSQL's server programs are: the override, ``PATH``, then Debian's newest ``/usr/lib/postgresql``."""
    override = os.environ.get(_PG_BIN_ENV)
    found = shutil.which("initdb")
    candidates = [Path(override)] if override else []
    candidates += [Path(found).resolve().parent] if found else []  # a link in /usr/local/bin leads to the rest
    candidates += [Path(d) for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)]
    for candidate in candidates:
        if all((candidate / program).is_file() for program in ("initdb", "pg_ctl", "createdb", "psql")):
            return candidate
    raise LocalStudioError(
        "No PostgreSQL server programs (initdb, pg_ctl, createdb) found: run `make postgres`, "
        f"or set {_PG_BIN_ENV} to their directory."
    )


def _version_key(path: str) -> int:
    version = Path(path).parent.name
    return int(version) if version.isdigit() else 0


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run ``command`` as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresCluster:
    """A PostgreSQL cluster of its own on a loopback port, in a directory its server user owns.

    As root the cluster runs as the ``postgres`` user (``initdb`` refuses root), so its directory is made under the
    system's temp dir, which that user can reach, rather than under a private one such as pytest's.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        port: int | None = None,
        database: str = "labelstudio",
        user: str = "labelstudio",
        password: str | None = None,
    ) -> None:
        self.directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="ls-pg-"))
        self.port = port if port is not None else free_port()
        self.database = database
        self.user = user
        self.password = password or _read_secret(self.directory / "password") or secrets.token_hex(16)
        self._bin = _pg_bin_dir()
        self._running = False
        _give_to_postgres(self.directory)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgresql.log"

    @property
    def running(self) -> bool:
        return self._running

    def env(self) -> dict[str, str]:
        """The variables that put Label Studio on this cluster."""
        return {
            "DJANGO_DB": "default",
            "POSTGRE_NAME": self.database,
            "POSTGRE_USER": self.user,
            "POSTGRE_PASSWORD": self.password,
            "POSTGRE_HOST": "127.0.0.1",
            "POSTGRE_PORT": str(self.port),
        }

    def sql(self, statement: str) -> str:
        """Run one statement in Label Studio's database with ``psql``; returns its unaligned output."""
        return self._run(
            "psql", "-h", str(self.directory), "-p", str(self.port), "-U", self.user, "-d", self.database,
            "-At", "-c", statement,
        ).strip()  # fmt: skip

    def _run(self, *command: str, timeout: float = 120.0) -> str:
        result = subprocess.run(
            _as_postgres([str(self._bin / command[0]), *command[1:]]),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LocalStudioError(f"PostgreSQL {command[0]} failed in {self.directory}: {last[0]}")
        return result.stdout

    def initialize(self) -> None:
        """Make the cluster (a superuser with a password, loopback only) and Label Studio's database in it."""
        secret = self.directory / "password"
        secret.write_text(self.password)
        _give_to_postgres(secret)
        secret.chmod(0o600)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", self.user, f"--pwfile={secret}", "-E", "UTF8",
            "--auth-local=trust", "--auth-host=scram-sha-256",
        )  # fmt: skip
        self.start()
        self._run("createdb", "-h", str(self.directory), "-p", str(self.port), "-U", self.user, self.database)

    def start(self) -> None:
        """Start the server on our port (the data dir may be a copy made elsewhere, on another port)."""
        if self._running:
            return
        if _port_is_open(self.port):
            raise LocalStudioError(f"Port {self.port} on 127.0.0.1 is already in use: pick another port.")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-o", options, "start")
        self._running = True

    def stop(self) -> None:
        if not self._running:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        self._running = False

    def remove(self) -> None:
        """Stop the server and delete the cluster's directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _read_secret(path: Path) -> str | None:
    return path.read_text().strip() if path.is_file() else None


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


class LocalStudio:
    """One Label Studio deployment on 127.0.0.1 with a data dir of its own and a known admin user.

    Without ``database`` it is ``label-studio start`` on SQLite; with one, ``workers`` processes of its WSGI app
    (default: two per core, as Label Studio's Docker image sizes uwsgi) on that PostgreSQL cluster, which the studio
    then starts and stops with itself.
    """

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
        database: PostgresCluster | None = None,
        workers: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port if port is not None else free_port()
        self.username = username
        self.password = password
        self.legacy_token = legacy_token
        self.extra_env = dict(extra_env or {})
        self.log_path = log_path or self.data_dir.parent / f"{self.data_dir.name}.log"
        self.executable = executable
        self.database = database
        self.workers = workers if workers is not None else 2 * (os.cpu_count() or 1)
        self._process: subprocess.Popen[bytes] | None = None
        self._personal_token: str | None = None
        self._initialized = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def engine(self) -> Engine:
        return "sqlite" if self.database is None else "postgresql"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def environment(self) -> dict[str, str]:
        """The variables Label Studio runs with (the recipe in ``deploy/`` sets the same ones)."""
        env = {
            **_QUIET_ENV,
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
            "LABEL_STUDIO_USERNAME": self.username,
            "LABEL_STUDIO_PASSWORD": self.password,
            "LABEL_STUDIO_USER_TOKEN": self.legacy_token,
            **(self.database.env() if self.database is not None else {}),
            **self.extra_env,
        }
        return env

    def start(self, timeout: float | None = None) -> None:
        """Start the database if any, then the server, and wait until ``/health/`` answers on our port (by default
        within 240 s on SQLite; 900 s on PostgreSQL, where ``label-studio init`` and each worker load Django)."""
        if timeout is None:
            timeout = 240.0 if self.database is None else 900.0
        if self.running:
            return
        if _port_is_open(self.port):
            raise LocalStudioError(
                f"Port {self.port} on 127.0.0.1 is already in use: stop what listens there or pick another port."
            )
        executable = self.executable or find_executable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.environment()}
        # The server must not inherit our own client settings.
        for key in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
            env.pop(key, None)
        if self.database is None:
            command = [
                str(executable), "start", "--no-browser", "--internal-host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", str(self.data_dir),
            ]  # fmt: skip
        else:
            self.database.start()
            if not self._initialized:  # a restart of the workers needs no second look at the migrations
                self._initialize(executable, env, timeout)
                self._initialized = True
            command = self._wsgi_command(executable)
            env["DJANGO_SETTINGS_MODULE"] = WSGI_SETTINGS
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed by the OS at exit
        self._process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._wait_healthy(timeout)

    def _initialize(self, executable: Path, env: dict[str, str], timeout: float) -> None:
        """What the Docker image does before it serves: migrations, then the admin user and organization."""
        with open(self.log_path, "ab") as log:
            try:
                done = subprocess.run(
                    [str(executable), "init", "--no-browser", "--data-dir", str(self.data_dir)],
                    env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout,
                    check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise LocalStudioError(f"label-studio init took over {timeout:.0f} s: see {self.log_path}") from None
        if done.returncode != 0:
            raise LocalStudioError(f"label-studio init failed on PostgreSQL: see {self.log_path}")

    def _wsgi_command(self, executable: Path) -> list[str]:
        """Label Studio's WSGI app under gunicorn, with the options ``deploy/docker-compose.yml`` gives it too."""
        gunicorn = executable.parent / "gunicorn"
        packages = sorted(
            glob.glob(str(executable.parent.parent / "lib" / "python*" / "site-packages" / "label_studio"))
        )
        if not gunicorn.is_file() or not packages:
            raise LocalStudioError(
                f"No gunicorn next to {executable}: run `make labelstudio` to install it in .venv-labelstudio/."
            )
        return [
            str(gunicorn), WSGI_APP, "--pythonpath", packages[-1], "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers), *GUNICORN_OPTIONS,
        ]  # fmt: skip

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
        """Stop the server (SIGTERM, then SIGKILL) and wait until the port is free; then its database, if any."""
        self._stop_server(timeout)
        if self.database is not None:
            self.database.stop()

    def _stop_server(self, timeout: float) -> None:
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

    def pause(self) -> None:
        """Freeze the server (SIGSTOP to its process group): it takes connections but answers nothing, like a
        server too busy to; ``resume`` thaws it."""
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGCONT)

    def restart(self) -> None:
        """Stop and start the server (every worker), keeping the database up."""
        self._stop_server(20.0)
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
    _keep(building, template)
    return template


def _migrated_cluster(template: Path, extra_env: dict[str, str]) -> Path:
    """A stopped PostgreSQL cluster migrated by Label Studio (minutes), made on first use and kept at ``template``."""
    if (template / "data" / "PG_VERSION").exists():
        return template
    cluster = PostgresCluster()
    try:
        cluster.initialize()
        studio = LocalStudio(cluster.directory / "labelstudio", extra_env=extra_env, database=cluster, workers=1)
        studio.start(timeout=1200.0)  # Label Studio's migrations on PostgreSQL: 3.5 min on 2 busy cores
        studio.stop()
        for scratch in ("labelstudio", "labelstudio.log", "postgresql.log"):
            path = cluster.directory / scratch
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        _keep(cluster.directory, template)
    finally:
        cluster.remove()
    return template


def _copy(source: Path, destination: Path) -> None:
    """Copy a tree with its owners and modes (a cluster's files must stay its server user's)."""
    subprocess.run(["cp", "-a", f"{source}/.", str(destination)], check=True)


def _keep(built: Path, template: Path) -> None:
    """Move a finished copy into place under ``template``, unless another run made it first."""
    template.parent.mkdir(parents=True, exist_ok=True)
    staging = template.with_name(f"{template.name}.{os.getpid()}")
    staging.mkdir()
    _copy(built, staging)
    try:
        staging.rename(template)
    except OSError:  # another run made it first
        shutil.rmtree(staging, ignore_errors=True)


def start_from_template(
    template: Path,
    data_dir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
    engine: Engine = "sqlite",
    workers: int | None = None,
) -> LocalStudio:
    """Start a Label Studio in ``data_dir`` from a copy of a migrated template: ~8 s instead of ~40 s on SQLite.

    On PostgreSQL ``template`` holds a migrated cluster instead; the copy gets a temp dir and port of its own, and
    ``stop()`` leaves it in place (``studio.database.remove()`` deletes it).
    """
    env = dict(extra_env or {})
    if engine == "sqlite":
        shutil.copytree(_migrated_template(template, data_dir.parent, env), data_dir)
        studio = LocalStudio(data_dir, extra_env=env, port=port)
    else:
        migrated = _migrated_cluster(template, env)
        directory = Path(tempfile.mkdtemp(prefix="ls-pg-"))
        _give_to_postgres(directory)
        _copy(migrated, directory)
        database = PostgresCluster(directory)
        studio = LocalStudio(data_dir, extra_env=env, port=port, database=database, workers=workers)
    try:
        studio.start()
    except BaseException:
        if studio.database is not None:
            studio.database.remove()
        raise
    return studio
