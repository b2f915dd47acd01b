"""The bounded types events' fields are declared with: names, numbers, prefixes, labels.

Each is an ``Annotated`` type whose msgspec ``Meta`` limits are checked while decoding,
and ``shadowd.core.events`` declares its fields with them, so they are part of the wire
schema: the rules there hold here too. ``NAME_RULE`` is what a name may hold, and
``name_rule_broken`` turns the name pattern's decode error into it. The ``Literal``
vocabularies (``Direction``, ``RolloutPhase``...) stay with the events that define them.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

# Every number has both bounds: msgspec then rejects NaN, infinities and ints the msgpack
# log cannot hold while decoding, in C, with the field's path in the error.
INT64_MAX: Final = 2**63 - 1
MAX_RATE: Final = 1e18  # bit/s: an exabit per second is beyond any link

# Names are data: routers, links, SRLGs, peers and sources take any printable characters,
# never a control character (newline, tab, escape: U+0000-U+001F, U+007F-U+009F, and the
# line and paragraph separators), which could forge a line of a config file or a table.
NAME_PATTERN: Final = "^[^\x00-\x1f\x7f-\x9f\u2028\u2029]+$"
NAME_RULE: Final = ("a name holds printable characters only: no newline, tab, escape or other "
                    "control character")
# The rule is checked where a name enters the shadow (router_added, link_added with its
# SRLGs, peer_added): an event that only refers to a name is refused unless that name is
# already known, and a regex per field of every event would cost the ingest hot path
# more than the decoding itself (800 ns of 1,150 per event, measured).
RouterName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
LinkId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
NewRouterName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
NewLinkId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
SrlgName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
SourceName = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=NAME_PATTERN)]
# An event's own source: the message it came in names the same source (the wire checks
# they are equal) under SourceName's rule, once per message rather than once per event.
SourceLabel = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Address = Annotated[str, msgspec.Meta(min_length=2, max_length=43,
                                      pattern=r"^[0-9A-Fa-f:.]+(/\d{1,3})?$")]
Metric = Annotated[int, msgspec.Meta(ge=1, le=16_777_214)]  # IS-IS wide metric range
Rate = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_RATE)]  # bits per second
Capacity = Annotated[float, msgspec.Meta(gt=0.0, le=MAX_RATE)]
Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
Count = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
Timestamp = Annotated[float, msgspec.Meta(ge=0.0, le=1e11)]  # seconds since 1970, < year 5000
DelayMs = Annotated[float, msgspec.Meta(ge=0.0, le=1e9)]
Longitude = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Latitude = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]

# BGP
PeerName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
NewPeerName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
Asn = Annotated[int, msgspec.Meta(ge=1, le=4_294_967_295)]
Prefix = Annotated[str, msgspec.Meta(min_length=9, max_length=18,
                                     pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")]
Med = Annotated[int, msgspec.Meta(ge=0, le=4_294_967_295)]
PathLength = Annotated[int, msgspec.Meta(ge=1, le=255)]

# shadowd's own records
Ratio = Annotated[float, msgspec.Meta(ge=0.0, le=1e6)]  # utilisations, scaling factors
Label = Annotated[str, msgspec.Meta(max_length=160)]
ScenarioName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Duration = Annotated[float, msgspec.Meta(ge=0.0, le=1e9)]  # seconds
PolicyId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
BgpValue = Annotated[int, msgspec.Meta(ge=0, le=4_294_967_295)]


def name_rule_broken(reason: str) -> str | None:
    """``NAME_RULE``, when ``reason`` (msgspec's words for a failed decode) is the name
    pattern's: its regex means nothing to whoever sent the name."""
    return NAME_RULE if repr(NAME_PATTERN)[1:-1] in reason else None
