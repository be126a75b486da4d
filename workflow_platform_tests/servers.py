"""Real servers on 127.0.0.1 for tests: S3 (moto), SFTP (asyncssh), an HTTP webhook receiver, Slack's Web API and
PostgreSQL (initdb + postgres).

Import the fixtures into a conftest or test module:
`from workflow_platform_tests.servers import s3_server, sftp_server, webhook_server  # noqa: F401`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import requests

from workflow_platform_tests.support import free_port

# --------------------------------------------------------------------------------------------------------------- S3

S3_REGION = "us-east-1"
_ALLOW_ALL_S3 = json.dumps({"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


@dataclass
class S3Server:
    """A moto S3 server that checks signatures and IAM permissions; `bucket` exists and is unique to the test.

    `key`/`secret` belong to a user allowed `s3:*`; `denied_key`/`denied_secret` to a user with no permissions.
    """

    endpoint_url: str
    bucket: str
    key: str
    secret: str
    denied_key: str
    denied_secret: str
    region: str = S3_REGION

    def options(self, key: str, secret: str) -> dict[str, Any]:
        """Options for `fsspec.filesystem("s3", **options)` / `s3fs.S3FileSystem(**options)` with these keys."""
        return {"endpoint_url": self.endpoint_url, "key": key, "secret": secret,
                "client_kwargs": {"region_name": self.region}}

    @property
    def storage_options(self) -> dict[str, Any]:
        """s3fs options for the allowed user."""
        return self.options(self.key, self.secret)

    @property
    def denied_storage_options(self) -> dict[str, Any]:
        """s3fs options for a valid user without permissions: requests fail with AccessDenied."""
        return self.options(self.denied_key, self.denied_secret)

    def url(self, path: str = "") -> str:
        """`s3://bucket/path`."""
        return f"s3://{self.bucket}/{path.lstrip('/')}"

    def client(self):
        """A boto3 S3 client (allowed user) for checking what landed in the bucket."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.key,
                            aws_secret_access_key=self.secret, region_name=self.region)


@pytest.fixture
def s3_server(monkeypatch, tmp_path) -> Iterator[S3Server]:
    """A moto S3 server on a free loopback port with a fresh bucket; AWS env vars point nowhere real."""
    import boto3
    import s3fs
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-not-a-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-not-a-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", S3_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        # moto keeps state process-wide, shared by every server in this process: start clean
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
        iam = boto3.client("iam", endpoint_url=endpoint, region_name=S3_REGION)
        credentials = {}
        for user in ("writer", "denied"):
            iam.create_user(UserName=user)
            if user == "writer":
                iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=_ALLOW_ALL_S3)
            credentials[user] = iam.create_access_key(UserName=user)["AccessKey"]
        info = S3Server(endpoint_url=endpoint, bucket=f"test-{uuid.uuid4().hex[:12]}",
                        key=credentials["writer"]["AccessKeyId"], secret=credentials["writer"]["SecretAccessKey"],
                        denied_key=credentials["denied"]["AccessKeyId"],
                        denied_secret=credentials["denied"]["SecretAccessKey"])
        info.client().create_bucket(Bucket=info.bucket)
        # from now on every request must be signed by a known key and allowed by IAM
        monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
        s3fs.S3FileSystem.clear_instance_cache()
        yield info
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        try:
            requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        finally:
            server.stop()


# ------------------------------------------------------------------------------------------------------------- SFTP


@dataclass
class SFTPServerInfo:
    """An SFTP server whose `/` is the local folder `root`; log in with `client_key` or `password`."""

    host: str
    port: int
    username: str
    password: str
    client_key: Path  # OpenSSH private key file, no passphrase
    root: Path

    @property
    def storage_options(self) -> dict[str, Any]:
        """Key-based options for `fsspec.filesystem("sftp", **options)` (sshfs.SSHFileSystem)."""
        return {"host": self.host, "port": self.port, "username": self.username,
                "client_keys": [str(self.client_key)], "known_hosts": None}

    @property
    def password_storage_options(self) -> dict[str, Any]:
        """Password-based options for sshfs; client_keys=[] so no local key is tried."""
        return {"host": self.host, "port": self.port, "username": self.username, "password": self.password,
                "client_keys": [], "known_hosts": None}

    def url(self, path: str = "") -> str:
        """`sftp://127.0.0.1:port/path`."""
        return f"sftp://{self.host}:{self.port}/{path.lstrip('/')}"


class _SSHServer(asyncssh.SSHServer):
    """Accept the authorized client key, or the password for `username`; remember connections to close them."""

    def __init__(self, username: str, password: str, connections: set):
        self._username, self._password, self._connections = username, password, connections

    def connection_made(self, conn):
        self._connections.add(conn)

    def password_auth_supported(self):
        return True

    def validate_password(self, username, password):
        return username == self._username and password == self._password


@pytest.fixture
def sftp_server(tmp_path) -> Iterator[SFTPServerInfo]:
    """An asyncssh SFTP-only server on a free loopback port, chrooted to a temporary folder."""
    import sshfs

    root = tmp_path / "sftp-root"
    root.mkdir()
    keys = tmp_path / "sftp-keys"
    keys.mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key_path = keys / "id_ed25519"
    client_key.write_private_key(str(client_key_path))
    client_key_path.chmod(0o600)
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())
    username, password = "tester", uuid.uuid4().hex
    connections: set = set()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()

    def run(coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    async def start():
        return await asyncssh.listen(
            "127.0.0.1", 0, server_factory=lambda: _SSHServer(username, password, connections),
            server_host_keys=[host_key], authorized_client_keys=authorized,
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=os.fsencode(root)), allow_scp=False)

    async def stop(acceptor):
        acceptor.close()
        await acceptor.wait_closed()
        for conn in list(connections):
            conn.close()
        for conn in list(connections):
            await conn.wait_closed()

    acceptor = run(start())
    try:
        sshfs.SSHFileSystem.clear_instance_cache()
        yield SFTPServerInfo(host="127.0.0.1", port=acceptor.get_port(), username=username, password=password,
                             client_key=client_key_path, root=root)
    finally:
        sshfs.SSHFileSystem.clear_instance_cache()  # cached clients would hold a dead connection
        try:
            run(stop(acceptor))
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


# ---------------------------------------------------------------------------------------------------------- webhook


@dataclass
class RecordedRequest:
    """One request the webhook server received."""

    method: str
    path: str
    headers: dict[str, str]  # as sent; use `header()` for a case-insensitive lookup
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class ScriptedResponse:
    """A reply to send instead of the default 200."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before replying, e.g. to make the client time out


class WebhookServer:
    """Records every request; replies with scripted responses first, then `200 {"ok": true}`."""

    def __init__(self, httpd: ThreadingHTTPServer):
        self._httpd = httpd
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._script: list[ScriptedResponse] = []
        host, port = httpd.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        self.url = f"{self.base_url}/hook"  # any path is accepted

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def script(self, responses: Iterable[int | ScriptedResponse], retry_after: float | str | None = 1) -> None:
        """Queue replies for the next requests, e.g. `[429, 500]`; 429 and 503 get `Retry-After: retry_after`.

        `retry_after` may be seconds (0 allowed), an HTTP date string, or None for no header.
        """
        queued = []
        for item in responses:
            if isinstance(item, int):
                headers = {}
                if item in (429, 503) and retry_after is not None:
                    headers["Retry-After"] = str(retry_after)
                item = ScriptedResponse(item, headers, json.dumps({"error": f"scripted {item}"}).encode())
            queued.append(item)
        with self._lock:
            self._script.extend(queued)

    def _handle(self, handler: BaseHTTPRequestHandler) -> ScriptedResponse:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self._requests.append(RecordedRequest(handler.command, handler.path, dict(handler.headers.items()), body))
            if self._script:
                return self._script.pop(0)
        return ScriptedResponse(200, {}, b'{"ok": true}')


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint would
    timeout = 10

    def _reply(self):
        response = self.server.webhook._handle(self)
        if response.delay:
            time.sleep(response.delay)
        self.send_response(response.status)
        for name, value in {"Content-Type": "application/json", **response.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply

    def log_message(self, format, *args):  # keep pytest output quiet
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that timed out and hung up before the (delayed) reply is expected, not a failure


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    """An HTTP server on a free loopback port that records requests and replays a script of statuses."""
    httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
    server = httpd.webhook = WebhookServer(httpd)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-server",
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def http_date(seconds_from_now: float) -> str:
    """An HTTP date (for `Retry-After`) this many seconds from now."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


# --------------------------------------------------------------------------- Slack Web API


class SlackServer:
    """chat.postMessage on loopback; `fail_first` requests answer 500; with `error` set, every request answers
    Slack's `{"ok": false, "error": error}` (counted in `refused`)."""

    def __init__(self, fail_first: int = 0, error: str | None = None):
        self.messages: list[dict] = []
        self.fail_first = fail_first
        self.error = error
        self.refused = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if server.fail_first > 0:
                    server.fail_first -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                is_json = "json" in self.headers.get("Content-Type", "")
                form = json.loads(body or "{}") if is_json else dict(urllib.parse.parse_qsl(body))
                if server.error:
                    server.refused += 1
                    payload = json.dumps({"ok": False, "error": server.error}).encode()
                else:
                    server.messages.append({"path": self.path, "auth": self.headers.get("Authorization"), **form})
                    payload = json.dumps({"ok": True, "channel": form.get("channel"), "ts": "1"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slack():
    server = SlackServer()
    yield server
    server.close()


# --------------------------------------------------------------------------- a server that never answers


class BlackHole:
    """Accepts TCP connections on loopback and never sends a byte (a hung Slack or SMTP server)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/api/"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(connection)  # held open, never answered

    def close(self):
        self._stop.set()
        for connection in self.connections:
            connection.close()
        self.sock.close()


# ------------------------------------------------------------------------------------------------------- PostgreSQL

def postgres_binaries() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, postgres): on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else None


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1:`port`, user `postgres`, trust authentication."""

    port: int
    user: str = "postgres"
    host: str = "127.0.0.1"
    started_in: float = 0.0  # seconds from initdb to accepting connections

    def connect(self, database: str = "postgres"):
        import psycopg2  # comes with dagster-postgres

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=database)
        conn.autocommit = True
        return conn

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"wp_{uuid.uuid4().hex[:12]}"
        conn = self.connect()  # not `with conn`: psycopg2 would open a transaction, where CREATE DATABASE can't run
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name}")
        finally:
            conn.close()
        return name

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{database}"


def _as_server_user() -> dict[str, Any]:
    """initdb and postgres refuse to run as root: when the tests are root, run them as `nobody`."""
    return {"user": "nobody", "group": "nogroup"} if os.geteuid() == 0 else {}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL (Debian's `postgresql` package; `.ci/run` installs it) for this test session: initdb into
    a fresh folder, fsync off, listening on a free loopback port only. Tests make their own databases with
    `create_database()`. Without PostgreSQL the tests skip, unless CI is set (CI installs it, so there they fail)."""
    binaries = postgres_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's initdb was not found; CI must install the postgresql package (.ci/run)")
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="wp-postgres-"))  # not under pytest's 0700 folders: `nobody` must enter it
    user = _as_server_user()
    if user:
        shutil.chown(root, user="nobody", group="nogroup")
    started = time.monotonic()
    server = PostgresServer(port=free_port())
    subprocess.run([str(binaries / "initdb"), "-D", str(root / "data"), "-U", server.user, "-A", "trust",
                    "--no-sync", "-E", "UTF8", "--locale=C"], check=True, capture_output=True, cwd=root, **user)
    with open(root / "postgres.log", "w") as log:
        process = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(root / "data"), "-p", str(server.port), "-k", str(root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=300"],
            stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True, **user)
    try:
        _wait_for_postgres(server, process, root / "postgres.log")
        server.started_in = time.monotonic() - started
        yield server
    finally:
        process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect the clients, stop
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_postgres(server: PostgresServer, process: subprocess.Popen, log: Path) -> None:
    import psycopg2

    deadline = time.monotonic() + 30
    while True:
        try:
            server.connect().close()
            return
        except psycopg2.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"PostgreSQL did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.05)
