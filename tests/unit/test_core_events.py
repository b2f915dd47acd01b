"""The event schema: tagged, frozen, validated; golden samples decode forever."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from shadowd.core import events as ev
from shadowd.core.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    DemandSet,
    LinkAdded,
    LinkUtilization,
    decode_batch,
    encode_batch,
    tag_of,
)
from tests.unit.samples import SAMPLES

GOLDEN = Path(__file__).parent.parent / "golden" / f"events-v{SCHEMA_VERSION}.msgpack"


def test_every_event_type_has_a_sample() -> None:
    assert {type(e) for e in SAMPLES} == set(EVENT_TYPES)


def test_tags_are_unique() -> None:
    tags = [t.__struct_config__.tag for t in EVENT_TYPES]
    assert len(tags) == len(set(tags))


def test_golden_samples_still_decode() -> None:
    """Once written, a golden file never changes: old logs must stay readable."""
    assert decode_batch(GOLDEN.read_bytes()) == SAMPLES


def test_round_trip() -> None:
    assert decode_batch(encode_batch(SAMPLES)) == SAMPLES


def test_events_are_frozen() -> None:
    with pytest.raises(AttributeError):
        SAMPLES[0].seq = 9  # type: ignore[misc]


def test_events_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        DemandSet("src", 1, 0.0, "a", "b", 1.0)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    ("patch", "complaint"),
    [
        ({"metric": -5}, "$[0].metric"),
        ({"metric": 0}, "$[0].metric"),
        ({"capacity_bps": 0}, "$[0].capacity_bps"),
        ({"seq": 0}, "$[0].seq"),
        ({"a": ""}, "$[0].a"),
        ({"type": "link_teleported"}, "Invalid value 'link_teleported'"),
    ],
)
def test_invalid_fields_are_rejected_with_their_path(
    patch: dict[str, object], complaint: str
) -> None:
    raw = msgspec.to_builtins(
        LinkAdded(source="s", seq=1, ts=0.0, link="l", a="a", b="b", metric=1, capacity_bps=1e9)
    )
    raw.update(patch)
    with pytest.raises(msgspec.ValidationError, match=complaint.replace("$", r"\$")
                       .replace("[", r"\[").replace("]", r"\]")):
        decode_batch(msgspec.msgpack.encode([raw]))


def test_new_fields_with_defaults_decode_old_messages() -> None:
    """Schema evolution: an older producer's message lacks optional fields."""
    old = {"type": "link_util", "source": "s", "seq": 3, "ts": 1.5, "link": "l",
           "ab_bps": 1.0, "ba_bps": 2.0}
    (event,) = decode_batch(msgspec.msgpack.encode([old]))
    assert event == LinkUtilization(source="s", seq=3, ts=1.5, link="l", ab_bps=1.0, ba_bps=2.0)


def test_tag_of_names_the_wire_tag() -> None:
    assert tag_of(SAMPLES[0]) == "router_added"
    assert ev.EVENT_DECODER.decode(ev.ENCODER.encode(SAMPLES[0])) == SAMPLES[0]
