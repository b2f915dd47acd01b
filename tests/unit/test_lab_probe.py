"""Lab probes, pure parts: ping summaries, iperf3 3.12 ``-J`` reports and ``ss`` listings,
all captured from real runs between two namespaces (tests/data/lab/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowd.core.errors import ShadowdError
from shadowd.lab.probe import (
    Loss,
    ProbeError,
    Rtt,
    Throughput,
    listening,
    parse_iperf3_tcp,
    parse_iperf3_udp,
    parse_ping,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "lab"
ENDS = {"src": "prb-a", "dst_ns": "prb-b", "dst": "10.255.0.2"}


def ping(name: str, size: int = 56) -> Rtt:
    return parse_ping((DATA / name).read_text(), src="prb-a", dst="10.255.0.2", size=size)


def iperf3(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_ping_without_loss_reads_every_round_trip_figure() -> None:
    assert ping("ping_1400b.txt", size=1400) == Rtt(
        src="prb-a", dst="10.255.0.2", size=1400, sent=10, received=10, loss_pct=0.0,
        min_ms=0.039, avg_ms=0.056, max_ms=0.067, mdev_ms=0.008)


def test_ping_partial_loss_counts_and_keeps_round_trips() -> None:
    rtt = ping("ping_partial_loss.txt", size=1400)
    assert (rtt.sent, rtt.received) == (30, 10)
    assert rtt.loss_pct == pytest.approx(66.6667, abs=1e-3)
    assert rtt.avg_ms == pytest.approx(86.367)  # the "pipe 8" suffix does not disturb it


@pytest.mark.parametrize("name", ["ping_total_loss.txt", "ping_unreachable_errors.txt"])
def test_ping_total_loss_is_a_result_without_round_trips(name: str) -> None:
    rtt = ping(name)
    assert rtt.received == 0
    assert rtt.sent > 0
    assert rtt.loss_pct == 100.0
    assert (rtt.min_ms, rtt.avg_ms, rtt.max_ms, rtt.mdev_ms) == (None, None, None, None)


def test_ping_without_summary_says_what_is_missing() -> None:
    with pytest.raises(ProbeError, match="ping in prb-a: no 'packets transmitted'") as err:
        parse_ping("ping: connect: Network is unreachable\n", src="prb-a", dst="x", size=56)
    assert isinstance(err.value, ShadowdError)
    assert (err.value.tool, err.value.namespace) == ("ping", "prb-a")


def test_ping_replies_without_rtt_line_is_malformed() -> None:
    text = "3 packets transmitted, 3 received, 0% packet loss, time 2ms\n"
    with pytest.raises(ProbeError, match="3 replies but no 'rtt min/avg/max' line"):
        parse_ping(text, src="prb-a", dst="10.255.0.2", size=56)


def test_tcp_report_gives_what_the_receiver_got() -> None:
    assert parse_iperf3_tcp(iperf3("iperf3_tcp_client.json"), **ENDS) == Throughput(
        **ENDS, seconds=2.004868, bytes=12019848, bps=47962650.90769068, retransmits=0)


def test_udp_report_above_the_shaped_rate_counts_the_lost_tail_too() -> None:
    # 3453 sent; the server saw sequence numbers up to 3449 and 2547 gaps: 902 arrived.
    assert parse_iperf3_udp(iperf3("iperf3_udp_client_overload.json"), **ENDS) == Loss(
        **ENDS, offered_bps=20_000_000, seconds=2.098236, sent=3453, lost=2551,
        loss_pct=100 * 2551 / 3453, jitter_ms=0.6935622692733207,
        received_bps=4979786.830461397)


def test_udp_report_below_the_shaped_rate_loses_nothing() -> None:
    loss = parse_iperf3_udp(iperf3("iperf3_udp_client_underload.json"), **ENDS)
    assert (loss.offered_bps, loss.sent, loss.lost, loss.loss_pct) == (1_000_000, 173, 0, 0.0)
    assert loss.jitter_ms == pytest.approx(0.0186, abs=1e-4)


def test_iperf3_error_report_raises_its_message() -> None:
    with pytest.raises(ProbeError, match="unable to connect to server: Connection refused"):
        parse_iperf3_tcp(iperf3("iperf3_client_refused.json"), **ENDS)


def test_tcp_parser_refuses_a_udp_report() -> None:
    with pytest.raises(ProbeError, match="expected a TCP report, got UDP"):
        parse_iperf3_tcp(iperf3("iperf3_udp_client_underload.json"), **ENDS)


@pytest.mark.parametrize(("raw", "why"), [
    (b"iperf3: error - no such thing", "unreadable -J report: JSON is malformed"),
    (b'{"start": {}, "end": {"sum_sent": {"seconds": "two"}}}', r"\$.end.sum_sent.seconds"),
    (b'{"start": {"test_start": {"protocol": "TCP"}}, "end": {}}', "no end.sum_sent"),
])
def test_malformed_iperf3_report_names_what_was_wrong(raw: bytes, why: str) -> None:
    with pytest.raises(ProbeError, match=why) as err:
        parse_iperf3_tcp(raw, **ENDS)
    assert err.value.namespace == "prb-a"


SS = ("LISTEN 0      4096   10.255.0.2:5201 0.0.0.0:*\n"
      "LISTEN 0      4096        [::1]:5203    [::]:*\n"
      "LISTEN 0      4096            *:5202       *:*\n")


@pytest.mark.parametrize(("ip", "port", "found"), [
    ("10.255.0.2", 5201, True),
    ("::1", 5203, True),
    ("0:0::1", 5203, True),
    ("10.255.0.2", 5202, False),  # a wildcard listener is not the one we bound
    ("10.255.0.1", 5201, False),
])
def test_listening_matches_exact_address_and_port(ip: str, port: int, found: bool) -> None:
    assert listening(SS, ip, port) is found


def test_listening_on_empty_listing_is_false() -> None:
    assert listening("", "10.255.0.2", 5201) is False
