"""The ingester's edges bring meter ids to the telegrams' form: topics, payloads, the head-end's files.

A gateway of an older version, or another publisher, may write a meter id in upper case: the points
must still land in the one series of that meter, and the head-end must find its key and decoder.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.frame import LinkMode, ReceivedFrame
from gateway.ingest.headend import HeadEnd
from gateway.ingest.lineproto import READING, RECEPTION, lines_for
from gateway.uplink.messages import raw_message
from gateway.uplink.topics import MessageKind, TopicError, Topics, parse_topic
from tests.daemon.test_meter_ids import HEX_KEY, encrypted_hex_meter, vector

T0 = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["reading", "event", "monthly/2026-09"])
def test_a_topics_meter_level_comes_back_canonical(kind: str) -> None:
    parsed = parse_topic(f"wmbus/gw1/meters/0014A807/{kind}")
    assert parsed.meter_id == "0014a807"
    assert parse_topic(f"wmbus/gw1/meters/0014a807/{kind}") == parsed


@pytest.mark.parametrize("meter", ["1234", "0014A80Z", "4444 4444"])
def test_a_meter_level_that_is_no_meter_id_is_refused(meter: str) -> None:
    with pytest.raises(TopicError, match="not a meter id"):
        parse_topic(f"wmbus/gw1/meters/{meter}/reading")


def _reading_document(meter_id: str) -> dict[str, object]:
    return {
        "schema": "wmbus-gateway/reading/1", "gateway": "gw1", "meter_id": meter_id, "manufacturer": "APA",
        "medium": "water", "received_at": T0.isoformat(), "total_m3": 7.5, "source": "sim", "duplicates": 0,
    }


def test_an_upper_case_payload_lands_in_the_meters_one_series() -> None:
    topic = parse_topic("wmbus/gw1/meters/0014A807/reading")
    upper = lines_for(topic, _reading_document("0014A807"))
    lower = lines_for(parse_topic("wmbus/gw1/meters/0014a807/reading"), _reading_document("0014a807"))
    assert upper == lower
    assert any(line.startswith(f"{READING},") and "meter=0014a807" in line for line in upper)
    assert not any("0014A807" in line for line in upper)


def test_the_head_end_finds_keys_and_decoders_provisioned_in_upper_case(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys]\n"1234ABCD" = "{HEX_KEY.hex().upper()}"\n')
    keys.chmod(0o600)
    meters = tmp_path / "meters.toml"
    meters.write_text('[meters."0014A807"]\ndecoder = "oms"\n\n[meters."1234ABCD"]\n')
    headend = HeadEnd.open(keys, tmp_path / "headend.db", ZoneInfo("Europe/Rome"), meters_path=meters)

    apator = vector("015-apator172-0014a807")
    published = headend.publications_for(apator.telegram, T0, -70.0, source="gw1")
    (reading,) = [p for p in published if p.kind == "reading"]
    assert (reading.meter_id, reading.payload["decoder"]) == ("0014a807", "oms")  # the provisioned decoder

    frame = ReceivedFrame(encrypted_hex_meter(), LinkMode.T1, -75.0, T0, "gw2")
    message = raw_message(Topics("gw2"), frame, meter_id="1234ABCD", manufacturer="ZRI")
    document = json.loads(message.payload)
    points = headend.lines_for_raw(parse_topic(message.topic), document)
    assert any(line.startswith(f"{READING},") and "meter=1234abcd" in line for line in points)
    assert any(line.startswith(f"{RECEPTION},") and "meter=1234abcd" in line for line in points)
    assert MessageKind.RAW is parse_topic(message.topic).kind
