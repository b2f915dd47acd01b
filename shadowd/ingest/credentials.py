"""A broker feed's credentials and TLS, read once when the feed is built, in the forms
aiomqtt and aiokafka take. A password lives in a file of its own, not in the config."""

from __future__ import annotations

import ssl
from typing import Any

from shadowd.config import KafkaSourceConfig, MqttSourceConfig
from shadowd.core.errors import ConfigError

BrokerConfig = KafkaSourceConfig | MqttSourceConfig


def password(config: BrokerConfig) -> str | None:
    """The password in ``password_file`` (its first line), or None when none is set."""
    if not config.password_file:
        return None
    try:
        with open(config.password_file, encoding="utf-8") as file:
            return file.readline().rstrip("\r\n")
    except OSError as err:
        raise ConfigError(f"source {config.name!r}: cannot read password_file "
                          f"{config.password_file}: {err.strerror}") from None


def tls_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """A client TLS context verifying the broker (``ca_file``, else the system's CAs),
    with ``cert_file``/``key_file`` as this client's certificate; None without ``tls``."""
    if not config.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=config.ca_file or None)
        if config.cert_file:
            context.load_cert_chain(config.cert_file, config.key_file or None)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"source {config.name!r}: TLS files: {err}") from None
    return context


def mqtt_options(config: MqttSourceConfig) -> dict[str, Any]:
    return {"username": config.username or None, "password": password(config),
            "tls_context": tls_context(config)}


def kafka_options(config: KafkaSourceConfig) -> dict[str, Any]:
    """``security_protocol`` and the rest: SASL when a user is set, SSL with ``tls``."""
    layer = "SSL" if config.tls else "PLAINTEXT"
    options: dict[str, Any] = {
        "security_protocol": f"SASL_{layer}" if config.username else layer,
        "ssl_context": tls_context(config),
    }
    if config.username:
        options |= {"sasl_mechanism": config.sasl_mechanism,
                    "sasl_plain_username": config.username,
                    "sasl_plain_password": password(config) or ""}
    return options
