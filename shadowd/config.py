"""shadowd's configuration: one strict, frozen Struct decoded once from TOML.

Unknown keys are rejected and every error names the key's ``$.path``, so a typo never
starts a half-configured daemon. ``config/shadowd.toml`` is the documented default.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from shadowd.core.conditions import ConditionError, parse_condition
from shadowd.core.errors import ConfigError

Positive = Annotated[float, msgspec.Meta(gt=0.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class DaemonConfig(_Section, frozen=True):
    state_dir: str = "/var/lib/shadowd"
    progress_interval_s: Positive = 2.0
    # Used when systemd does not pass WATCHDOG_USEC; 0 disables the watchdog ping.
    watchdog_interval_s: NonNegative = 0.0


class LogConfig(_Section, frozen=True):
    fsync_window_ms: Annotated[float, msgspec.Meta(ge=0.0, le=1000.0)] = 2.0
    max_batch_events: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 50_000
    segment_mb: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    snapshot_every: Annotated[int, msgspec.Meta(ge=1)] = 200_000
    keep_snapshots: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    # Where the log lives: "local" segment files in the state dir, or a Kafka topic that
    # several shadowd instances can fold to the same state (one writer per topic).
    backend: Literal["local", "kafka"] = "local"
    kafka_bootstrap: str = ""
    kafka_topic: str = "shadowd.log"


class ControlConfig(_Section, frozen=True):
    socket: str = "/run/shadowd/shadowd.sock"
    mode: Annotated[int, msgspec.Meta(ge=0, le=0o777)] = 0o660
    group: str = ""
    allowed_uids: list[Annotated[int, msgspec.Meta(ge=0)]] = []
    allowed_gids: list[Annotated[int, msgspec.Meta(ge=0)]] = []
    max_request_bytes: Annotated[int, msgspec.Meta(ge=64, le=64 * 1024 * 1024)] = 1024 * 1024
    request_timeout_s: Positive = 10.0
    # Open connections at most (the longest idle one is closed to make room), and bytes of
    # replies not yet read by their peers, in all: no number of clients exhausts the
    # daemon's file descriptors or memory.
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=65_536)] = 256
    max_unread_bytes: Annotated[int, msgspec.Meta(ge=1024 * 1024, le=2**34)] = 256 * 2**20


class LoggingConfig(_Section, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class ReplaySourceConfig(_Section, frozen=True, tag="replay", tag_field="kind"):
    """Feed a recorded or generated telemetry trace, paced by its own timestamps.

    ``trace`` is a trace file, or ``builtin:NAME`` for a trace generated deterministically
    from a bundled real topology (``builtin:geant``). ``speed`` is trace seconds per wall
    second; 0 replays as fast as shadowd can take it.
    """

    name: Name = "replay"
    trace: str = "builtin:geant"
    speed: NonNegative = 3600.0
    days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 7
    seed: int = 1
    # builtin: only: demand surges toward one router each (``TraceSpec.surges_per_week``),
    # so spikes happen and the predictor has something to see coming; 0: none.
    surges_per_week: Annotated[float, msgspec.Meta(ge=0.0, le=1000.0)] = 0.0


class _BrokerSourceConfig(_Section, frozen=True):
    """What every broker feed shares: how it keeps in sync, and how it reconnects."""

    # Delta batches held back while the seqs before them are missing (then: the snapshot
    # answering the resync brings them).
    max_held_batches: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1024
    resync_retry_s: Positive = 5.0  # ask a silent source again after this long
    reconnect_initial_s: Positive = 0.2  # jittered exponential backoff, from this ...
    reconnect_max_s: Positive = 30.0  # ... to this
    # Events stamped further than this ahead of shadowd's clock are refused.
    max_skew_s: Annotated[float, msgspec.Meta(ge=0.0, le=31_536_000.0)] = 300.0
    # The sources this feed may speak for; [] = any (never shadowd's own). Beside it, a
    # message must speak for the source its MQTT topic level or Kafka key names.
    sources: list[Name] = msgspec.field(default_factory=list)
    # The broker's credentials: a user, and a file holding the password (kept out of the
    # config, readable by shadowd alone); TLS with the CA to trust ("" = the system's) and,
    # for brokers that want one, a client certificate and key.
    username: Annotated[str, msgspec.Meta(max_length=256)] = ""
    password_file: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


class KafkaSourceConfig(_BrokerSourceConfig, frozen=True, tag="kafka", tag_field="kind"):
    """A Kafka consumer group. Offsets are committed only once the deltas they carried are
    durable in the log, and every snapshot records them, so a restart resumes exactly."""

    name: Name = "kafka"
    bootstrap: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1:9092"
    group_id: Name = "shadowd"
    topics: Annotated[list[Name], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["shadowd.telemetry"])
    control_topic: Name = "shadowd.control"  # resync requests, keyed by source
    deadletter_topic: Annotated[str, msgspec.Meta(max_length=128)] = "shadowd.deadletter"
    max_poll_records: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 500
    # With username set: SASL over TLS (tls = true) or plain TCP; the mechanism to use.
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"


class MqttSourceConfig(_BrokerSourceConfig, frozen=True, tag="mqtt", tag_field="kind"):
    """An MQTT persistent session (clean_session=False) subscribed at QoS 1. Each message
    is acknowledged only once what it carried is durable in the log."""

    name: Name = "mqtt"
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    client_id: Name = "shadowd"
    topics: Annotated[list[str], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["shadowd/telemetry/+"])
    control_prefix: Annotated[str, msgspec.Meta(min_length=1)] = "shadowd/control/"
    keepalive_s: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 30


SourceConfig = ReplaySourceConfig | KafkaSourceConfig | MqttSourceConfig


class LabConfig(_Section, frozen=True):
    """The lab tier: the shadow as FRR routers in network namespaces (``ID-ROUTER``),
    following the log. Needs root and FRR; without them the model tier runs alone."""

    enabled: bool = False  # bring the lab up when the daemon starts
    # Lower-case letters and digits: namespaces are ID-ROUTER, FRR pathspaces the same.
    id: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]{1,12}$")] = "shadow"
    igp: Literal["ospf", "isis"] = "ospf"
    scale: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 1e-3  # tc rate = capacity x scale
    converge_timeout_s: Positive = 60.0  # after a change: agree with the model within this


class PredictConfig(_Section, frozen=True):
    """Predictive injection: forecast each directed link, and before a predicted spike run
    the scenarios that matter in the shadow (the model, and the lab when it is up)."""

    enabled: bool = True
    threshold_util: Annotated[float, msgspec.Meta(gt=0.0, le=10.0)] = 0.8  # a spike: over this
    horizon_s: Annotated[float, msgspec.Meta(gt=0.0, le=7 * 86_400.0)] = 1800.0  # look ahead
    lead_s: Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)] = 900.0  # inject this early
    check_every_s: Annotated[float, msgspec.Meta(gt=0.0, le=86_400.0)] = 300.0  # log time
    surge_factor: Annotated[float, msgspec.Meta(gt=1.0, le=1000.0)] = 2.0
    max_runs_per_spike: Annotated[int, msgspec.Meta(ge=0, le=20)] = 3
    run_duration_s: Annotated[float, msgspec.Meta(gt=0.0, le=1e7)] = 1800.0  # per failure
    max_factor: Annotated[float, msgspec.Meta(ge=1.0, le=1000.0)] = 10.0  # demand scaling cap
    lab: bool = True  # run the scenarios in the lab too, when it is up
    keep_runs: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 200  # for `scenarios runs`
    # The scenario library; a relative path is relative to the config file's directory.
    scenarios_dir: Annotated[str, msgspec.Meta(min_length=1)] = "scenarios"


RouterName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SegmentConfig(_Section, frozen=True):
    """A named set of production routers a rollout widens over, in this order."""

    name: Name
    routers: Annotated[list[RouterName], msgspec.Meta(min_length=1)]


class RolloutConfig(_Section, frozen=True):
    """``deploy_policy(policy, segment, rollout_percentage, monitoring_interval)``'s
    defaults; ``shadowctl policies deploy`` may override each."""

    segment: Name = "all"  # "all": every router the policy changes, in name order
    rollout_percentage: Annotated[float, msgspec.Meta(gt=0.0, le=100.0)] = 34.0  # per step
    monitoring_interval_s: Annotated[float, msgspec.Meta(gt=0.0, le=86_400.0)] = 60.0
    # Conditions on the gate's sample: latency_ms, throughput_bps, loss_pct, max_util.
    success_conditions: tuple[str, ...] = ("loss_pct < 1", "max_util < 0.95")
    failure_conditions: tuple[str, ...] = ("loss_pct >= 2",)
    failure_limit: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0  # failures tolerated
    manual_approval: bool = False  # hold before the first step until `policies approve`


class FrrTargetRouter(_Section, frozen=True):
    name: RouterName
    namespace: str = ""  # where its interfaces are ("" = shadowd's own)
    pathspace: str | None = None  # vtysh -N (defaults to the namespace)


class ProbeConfig(_Section, frozen=True):
    """A data-plane probe across production for the rollout gates: ping for latency and
    loss; with ``offered_bps``, an iperf3 UDP stream for loss and throughput instead."""

    src_namespace: str
    dst: str  # the address probed
    dst_namespace: str = ""  # where iperf3's server runs (needed with offered_bps)
    offered_bps: Annotated[float, msgspec.Meta(ge=0.0)] = 0.0
    seconds: Annotated[int, msgspec.Meta(ge=1, le=600)] = 2


class PolicyConfig(_Section, frozen=True):
    """Route policies from the shadow, proven in the lab, rolled out to production in
    metric-gated phases (``driver`` "dry-run" writes what it would do and touches nothing)."""

    enabled: bool = True
    target_util: Annotated[float, msgspec.Meta(gt=0.0, le=10.0)] = 0.8  # worst case under this
    failure_set: Literal["links", "nodes", "srlg"] = "links"
    max_changes: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4  # tactical, not re-weighting
    # Propose when a pre-spike scenario run finds a link over target (log time, at most
    # every ``propose_every_s``); "manual": only `shadowctl policies propose`.
    propose_on: Literal["scenario", "manual"] = "scenario"
    propose_every_s: Annotated[float, msgspec.Meta(ge=0.0, le=7 * 86_400.0)] = 3600.0
    validate_in_lab: bool = True  # when the lab is up; otherwise the model validates
    auto_deploy: bool = False  # deploy what validates, without `policies deploy`
    driver: Literal["dry-run", "frr"] = "dry-run"
    dry_run_dir: str = "dry-run"  # relative to the state dir
    igp: Literal["ospf", "isis"] = "ospf"  # production's IGP (the frr driver's commands)
    routers: list[FrrTargetRouter] = []  # the frr driver's production routers
    probes: list[ProbeConfig] = []  # the gates' data-plane probes
    feedback_after_s: Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)] = 60.0
    feedback_gain: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.5  # of the error, per cycle
    rollout: RolloutConfig = RolloutConfig()
    segments: list[SegmentConfig] = []


class MetricsConfig(_Section, frozen=True):
    """Prometheus text metrics over HTTP (GET /metrics). ``shadowctl metrics`` prints the
    same text over the control socket, whether or not ``listen`` is set."""

    listen: str = ""  # "127.0.0.1:9469", "[::1]:9469"; "" = no HTTP endpoint
    allow_remote: bool = False  # a non-loopback ``listen`` is refused unless this is true
    top_links: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 20  # link_utilization rows
    # The worst case is swept again (in a worker thread) at most this often; 0 = never.
    worst_case_every_s: Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)] = 60.0
    read_timeout_s: Annotated[float, msgspec.Meta(gt=0.0, le=300.0)] = 5.0
    max_request_bytes: Annotated[int, msgspec.Meta(ge=256, le=1024 * 1024)] = 8192


class Config(_Section, frozen=True):
    daemon: DaemonConfig = DaemonConfig()
    log: LogConfig = LogConfig()
    control: ControlConfig = ControlConfig()
    logging: LoggingConfig = LoggingConfig()
    sources: list[SourceConfig] = []
    lab: LabConfig = LabConfig()
    predict: PredictConfig = PredictConfig()
    policy: PolicyConfig = PolicyConfig()
    metrics: MetricsConfig = MetricsConfig()

    def with_overrides(self, *, state_dir: str | None = None, socket: str | None = None) -> Config:
        """Command-line flags win over the file, so instances can run side by side."""
        daemon, control = self.daemon, self.control
        if state_dir is not None:
            daemon = msgspec.structs.replace(daemon, state_dir=state_dir)
        if socket is not None:
            control = msgspec.structs.replace(control, socket=socket)
        return msgspec.structs.replace(self, daemon=daemon, control=control)

    @property
    def state_path(self) -> Path:
        return Path(self.daemon.state_dir)


def parse_config(text: str, *, file: str = "<config>") -> Config:
    try:
        config = msgspec.toml.decode(text, type=Config)
    except msgspec.ValidationError as err:
        raise ConfigError(f"{file}: {err}", file=file, path=_error_path(str(err))) from None
    except msgspec.DecodeError as err:
        raise ConfigError(f"{file}: not valid TOML: {err}", file=file) from None
    _check_unique_sources(config, file)
    _check_conditions(config.policy.rollout, file)
    _check_metrics(config.metrics, file)
    if config.log.backend == "kafka" and not config.log.kafka_bootstrap:
        raise ConfigError(f"{file}: backend \"kafka\" needs kafka_bootstrap - at "
                          "`$.log.kafka_bootstrap`", file=file, path="$.log.kafka_bootstrap")
    return config


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config: {err.strerror}", file=str(path)) from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})", file=str(path)) from None
    return parse_config(text, file=str(path))


def _check_unique_sources(config: Config, file: str) -> None:
    seen: set[str] = set()
    for i, source in enumerate(config.sources):
        if source.name in seen:
            raise ConfigError(
                f"{file}: source name {source.name!r} used twice - at `$.sources[{i}].name`",
                file=file, path=f"$.sources[{i}].name",
            )
        seen.add(source.name)


def _check_conditions(rollout: RolloutConfig, file: str) -> None:
    for key in ("success_conditions", "failure_conditions"):
        for i, text in enumerate(getattr(rollout, key)):
            try:
                parse_condition(text)
            except ConditionError as err:
                path = f"$.policy.rollout.{key}[{i}]"
                raise ConfigError(f"{file}: {err} - at `{path}`", file=file, path=path) from None


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT`` for IPv6) with HOST an IP address or ``localhost``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (say \"127.0.0.1:9469\")")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IP address or localhost") from None
    return host, int(port)


def is_loopback(host: str) -> bool:
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def _check_metrics(metrics: MetricsConfig, file: str) -> None:
    if not metrics.listen:
        return
    path = "$.metrics.listen"
    try:
        host, _ = parse_listen(metrics.listen)
    except ValueError as err:
        raise ConfigError(f"{file}: {err} - at `{path}`", file=file, path=path) from None
    if not is_loopback(host) and not metrics.allow_remote:
        raise ConfigError(
            f"{file}: {host} is not a loopback address; metrics are served to anyone who can "
            f"reach it, so set `$.metrics.allow_remote = true` to mean it - at `{path}`",
            file=file, path=path)


def _error_path(message: str) -> str:
    marker = " - at `"
    if marker not in message:
        return "$"
    return message.rsplit(marker, 1)[1].rstrip("`")
