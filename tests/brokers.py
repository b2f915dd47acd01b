"""Real brokers for integration tests: a mosquitto and a single-node KRaft Kafka.

Each broker lives in a temporary directory of its own (config, data, log), listens on
127.0.0.1 only, on free ports chosen at start, and can stop, crash and restart itself
while keeping its data and ports, so tests can take a broker away mid-stream. The
session fixtures start a broker the first time a test asks for it (Kafka takes seconds),
and kill it and remove its directory when the session ends, however it ends. Brokers
also die with the test process if that is killed outright (``PR_SET_PDEATHSIG``).

Fixtures are plain pytest fixtures, registered once in ``tests/integration/conftest.py``
so that one session has one broker of each kind; test modules just ask for them by name,
``kafka`` (``mosquitto``). Importing them into a test module would define them again
there and start a second broker for that module.

``kafka`` / ``mosquitto`` are per test: they hand over the session's broker, started
again first if an earlier test left it stopped.

Readiness is polled with a real client (aiomqtt connects; aiokafka sees the broker in
its metadata); nothing sleeps blind. The generous deadline only stops a hung start from
hanging the suite.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import aiomqtt
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

HANG_GUARD_S: Final = 120.0
POLL_INTERVAL_S: Final = 0.1
REPO: Final = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG: Final = 1


class BrokerFailed(RuntimeError):
    """A broker would not start or stop; carries the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it when the test process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# PDEATHSIG fires when the *thread* that forked the child ends, not the process. Brokers
# are restarted from worker threads (``arestart``) whose pools close with each test's
# event loop, so every broker is forked from this one thread, which lives as long as
# the test process does.
_SPAWNER: Final = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="broker-spawn")


def _spawn(command: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=cwd,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (tests only; the fork is single-threaded enough)
        )


class Broker:
    """One broker process on a directory of its own. Subclasses say how to run and probe."""

    name = "broker"
    stop_signal = signal.SIGTERM

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.log_path = directory / "broker.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # --- what subclasses provide -------------------------------------------------------

    def command(self) -> list[str]:
        raise NotImplementedError

    async def probe(self) -> bool:
        """True once a real client can use the broker."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Write config and initialise storage; runs once, before the first start."""

    # --- life cycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self) -> None:
        """Start the process (if not running) and return once clients can use it."""
        if not self.running:
            self._spawn()
        self._wait_ready()

    def stop(self) -> None:
        """Stop cleanly (the broker saves its state), killing it if it hangs."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self.stop_signal)
        try:
            proc.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BrokerFailed(f"{self.name} ignored {self.stop_signal.name}\n"
                               f"{self.log_tail()}") from None

    def kill(self) -> None:
        """Crash the broker: SIGKILL, nothing saved beyond what it already wrote."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self, *, crash: bool = False) -> None:
        """Stop (or crash) and start again on the same ports and data."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.start()

    async def arestart(self, *, crash: bool = False) -> None:
        """``restart`` from a coroutine, without blocking the test's event loop."""
        await asyncio.to_thread(self.restart, crash=crash)

    def close(self) -> None:
        """Kill the broker and remove its directory."""
        try:
            self.kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- internals -----------------------------------------------------------------------

    def _spawn(self) -> None:
        self._proc = _SPAWNER.submit(_spawn, self.command(), self.dir, self.log_path).result()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + HANG_GUARD_S
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self.name) as pool:
            while time.monotonic() < deadline:
                if not self.running:
                    raise BrokerFailed(f"{self.name} exited while starting\n{self.log_tail()}")
                if pool.submit(asyncio.run, self.probe()).result():
                    return
                time.sleep(POLL_INTERVAL_S)
        self.kill()
        raise BrokerFailed(f"{self.name} not ready after {HANG_GUARD_S:.0f}s\n{self.log_tail()}")


class Mosquitto(Broker):
    """``mosquitto -c DIR/mosquitto.conf``: anonymous, 127.0.0.1 only, persistent in DIR."""

    name = "mosquitto"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.data = directory / "data"

    def prepare(self) -> None:
        self.data.mkdir(exist_ok=True)
        self.config.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.data}/\n"
            # As root mosquitto would drop to 'mosquitto' and lose access to DIR.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.config)]

    async def probe(self) -> bool:
        try:
            async with aiomqtt.Client(self.host, self.port, timeout=2.0):
                return True
        except aiomqtt.MqttError:
            return False


class LockedMosquitto(Mosquitto):
    """mosquitto as the README locks it down: TLS only (a CA made here, a certificate for
    127.0.0.1), no anonymous clients, a password per client and the README's ACL."""

    name = "mosquitto-locked"

    def __init__(self, directory: Path, users: dict[str, str], acl: str) -> None:
        super().__init__(directory)
        self.users, self.acl = users, acl
        self.ca = directory / "ca.pem"

    def prepare(self) -> None:
        super().prepare()
        _make_certificates(self.dir)
        passwords = self.dir / "passwd"
        for user, password in self.users.items():
            flags = ["-c"] if not passwords.exists() else []
            subprocess.run(["mosquitto_passwd", *flags, "-b", str(passwords), user, password],
                           check=True, capture_output=True)
        (self.dir / "acl").write_text(self.acl)
        head = self.config.read_text().replace("allow_anonymous true\n", "")
        self.config.write_text(head + (
            "allow_anonymous false\n"
            f"password_file {passwords}\n"
            f"acl_file {self.dir / 'acl'}\n"
            f"cafile {self.ca}\n"
            f"certfile {self.dir / 'broker.pem'}\n"
            f"keyfile {self.dir / 'broker.key'}\n"
        ))

    def client(self, user: str = "", **options: Any) -> aiomqtt.Client:
        """A client over TLS, as ``user`` (anonymous when "")."""
        return aiomqtt.Client(self.host, self.port, username=user or None,
                              password=self.users.get(user), timeout=10.0,
                              tls_params=aiomqtt.TLSParameters(ca_certs=str(self.ca)), **options)

    async def probe(self) -> bool:
        try:
            async with self.client(next(iter(self.users))):
                return True
        except aiomqtt.MqttError:
            return False


def _make_certificates(directory: Path) -> None:
    """A throwaway CA and, signed by it, the broker's certificate for 127.0.0.1."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=shadowd test CA", "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "broker.key", "-out", "broker.csr")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "broker.pem")


KAFKA_PROPERTIES: Final = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={log_dirs}
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# A restarted broker must wait out its previous incarnation's session before it may
# register again (9 s by default); a single local node can afford a short one.
broker.session.timeout.ms=2000
broker.heartbeat.interval.ms=500
"""

LOG4J_PROPERTIES: Final = """\
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def kafka_jars() -> Path:
    """Where ``make kafka`` put the broker's jars (``$SHADOWD_KAFKA_JARS`` wins)."""
    configured = os.environ.get("SHADOWD_KAFKA_JARS")
    return Path(configured) if configured else REPO / ".cache" / "kafka" / "jars"


class Kafka(Broker):
    """A combined broker+controller KRaft node from the Maven jars, on Java 17."""

    name = "kafka"
    jvm_options: Final = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC",
                          "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")

    def __init__(self, directory: Path, jars: Path) -> None:
        super().__init__(directory)
        self.jars = jars
        self.host = "127.0.0.1"
        self.port = free_port()
        self.controller_port = free_port()
        self.config = directory / "server.properties"
        self.log4j = directory / "log4j.properties"
        self.data = directory / "data"
        self.cluster_id = ""

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def prepare(self) -> None:
        if not any(self.jars.glob("kafka_2.13-*.jar")):
            raise BrokerFailed(f"no Kafka jars in {self.jars}: run `make kafka`")
        self.config.write_text(self.properties())
        self.log4j.write_text(LOG4J_PROPERTIES)
        self.cluster_id = _kafka_cluster_id()
        self._format_storage()

    def properties(self) -> str:
        return KAFKA_PROPERTIES.format(host=self.host, port=self.port,
                                       controller_port=self.controller_port,
                                       log_dirs=self.data)

    def _java(self, main: str, *args: str) -> list[str]:
        return ["java", *self.jvm_options, f"-Dlog4j.configuration=file:{self.log4j}",
                "-cp", f"{self.jars}/*", main, *args]

    def _format_storage(self) -> None:
        cmd = self._java("kafka.tools.StorageTool", "format", "--standalone",
                         "-t", self.cluster_id, "-c", str(self.config))
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_GUARD_S,
                              check=False)
        if done.returncode != 0:
            raise BrokerFailed(f"kafka storage format exited {done.returncode}:\n"
                               f"{done.stdout}{done.stderr}")

    def command(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.config))

    def client_options(self) -> dict[str, Any]:
        """What a client needs besides the bootstrap address (nothing, here)."""
        return {}

    async def probe(self) -> bool:
        """Ready when the broker lists itself in metadata: registered and unfenced."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000,
                                    **self.client_options())
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
        except (KafkaError, OSError):
            return False
        finally:
            await admin.close()
        return any(b["node_id"] == 1 for b in cluster["brokers"])


class SaslKafka(Kafka):
    """The same node with one SASL listener (mechanism PLAIN), over TLS when ``tls`` (a
    CA made here, a certificate for 127.0.0.1, as ``LockedMosquitto``'s), and a user per
    entry of ``users``; ``admin`` is the broker's own, for talking to itself."""

    name = "kafka-sasl"

    def __init__(self, directory: Path, jars: Path, users: dict[str, str], *,
                 tls: bool = False) -> None:
        super().__init__(directory, jars)
        self.users = {"admin": "admin-secret", **users}
        self.tls = tls
        self.protocol = "SASL_SSL" if tls else "SASL_PLAINTEXT"
        self.ca = directory / "ca.pem"

    def prepare(self) -> None:
        if self.tls:
            _make_certificates(self.dir)
            keystore = (self.dir / "broker.key").read_text() + (self.dir / "broker.pem").read_text()
            (self.dir / "keystore.pem").write_text(keystore)
        super().prepare()

    def properties(self) -> str:
        accounts = " ".join(f'user_{u}="{p}"' for u, p in self.users.items())
        protocol = self.protocol
        text = super().properties().replace("=PLAINTEXT://", f"={protocol}://")
        text = text.replace("map=PLAINTEXT:PLAINTEXT,", f"map={protocol}:{protocol},")
        text = text.replace("inter.broker.listener.name=PLAINTEXT",
                            f"inter.broker.listener.name={protocol}")
        if self.tls:
            text += (f"ssl.keystore.type=PEM\nssl.keystore.location={self.dir}/keystore.pem\n"
                     f"ssl.truststore.type=PEM\nssl.truststore.location={self.ca}\n")
        return text + (
            "sasl.enabled.mechanisms=PLAIN\n"
            "sasl.mechanism.inter.broker.protocol=PLAIN\n"
            f"listener.name.{protocol.lower()}.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="admin" password="admin-secret" {accounts};\n')

    def client_options(self, user: str = "admin", password: str | None = None) -> dict[str, Any]:
        options: dict[str, Any] = {
            "security_protocol": self.protocol, "sasl_mechanism": "PLAIN",
            "sasl_plain_username": user,
            "sasl_plain_password": self.users[user] if password is None else password}
        if self.tls:
            options["ssl_context"] = ssl.create_default_context(cafile=str(self.ca))
        return options


def _kafka_cluster_id() -> str:
    """What ``kafka-storage random-uuid`` prints: 16 random bytes, URL-safe base64, never
    starting with ``-`` (the storage tool would take one for an option: 1 run in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


@contextlib.contextmanager
def running(broker: Broker) -> Iterator[Broker]:
    """Prepare and start ``broker``; kill it and remove its directory on the way out."""
    try:
        broker.prepare()
        broker.start()
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session", name="mosquitto_session")
def mosquitto_session_fixture() -> Iterator[Mosquitto]:
    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="shadowd-mosquitto-")))
    with running(broker):
        yield broker


@pytest.fixture(scope="session", name="kafka_session")
def kafka_session_fixture() -> Iterator[Kafka]:
    broker = Kafka(Path(tempfile.mkdtemp(prefix="shadowd-kafka-")), kafka_jars())
    with running(broker):
        yield broker


@pytest.fixture(name="mosquitto")
def mosquitto_fixture(mosquitto_session: Mosquitto) -> Mosquitto:
    """The session's mosquitto, running (started again if an earlier test stopped it)."""
    mosquitto_session.start()
    return mosquitto_session


@pytest.fixture(name="kafka")
def kafka_fixture(kafka_session: Kafka) -> Kafka:
    """The session's Kafka, running (started again if an earlier test stopped it)."""
    kafka_session.start()
    return kafka_session
