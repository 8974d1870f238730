"""Home Assistant MQTT discovery: what a fresh Home Assistant subscriber finds on a real mosquitto."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.billing.meters import Provisioning
from gateway.daemon.config import ConfigError, GatewayConfig, parse_config
from gateway.daemon.runner import Daemon, RunOptions
from gateway.reading import Alarm
from tests.servers import Mosquitto
from tests.uplink.helpers import retained

# What Home Assistant's MQTT discovery needs of every config we publish (its schema for the platforms
# and device registry): a state topic, a unique id to make entities editable and tie them to a device,
# a device with identifiers, and availability in the shape it documents.
REQUIRED = {"state_topic", "unique_id", "device", "availability_topic", "payload_available"}
SENSOR_CLASSES = {"water", "volume_flow_rate"}
BINARY_CLASSES = {"moisture", "problem", "tamper", "battery"}
TOPIC = re.compile(r"homeassistant/(sensor|binary_sensor)/wmbus_ha/(\w{8})_(\w+)/config")


async def _run_for(daemon: Daemon, seconds: float) -> None:
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 30)
    for _ in range(int(seconds * 10)):
        await asyncio.sleep(0.1)
        if daemon.outbox is not None and len(daemon.outbox) == 0 and daemon.pipeline.counters.readings:
            break
    daemon.stop()
    assert await task == 0


def _configs(mosquitto: Mosquitto) -> dict[str, dict[str, Any]]:
    return dict(asyncio.run(retained(mosquitto.host, mosquitto.port, "homeassistant/#", quiet_s=1.0)))


def test_discovery_configs_meet_home_assistants_needs_and_follow_the_fleet(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config = GatewayConfig(gateway_id="ha", state_dir=tmp_path)
    options = RunOptions(mqtt_url=mosquitto.url, speed=600, ha_discovery=True)
    asyncio.run(_run_for(Daemon(config, options, printer=lambda line: None), 20))

    configs = _configs(mosquitto)
    meters = Provisioning(config.meters_path, config.keys_path).load().meters
    assert meters
    by_meter: dict[str, dict[str, dict[str, Any]]] = {}
    for topic, document in configs.items():
        match = TOPIC.fullmatch(topic)
        assert match, topic
        component, meter_id, object_id = match.groups()
        by_meter.setdefault(meter_id, {})[object_id] = document
        assert document.keys() >= REQUIRED, (topic, REQUIRED - document.keys())
        assert document["device"]["identifiers"] == [f"wmbus_{meter_id}"]
        assert document["device"]["serial_number"] == meter_id
        assert document["availability_topic"] == "wmbus/ha/status"
        assert document["unique_id"] == f"wmbus_ha_{meter_id}_{object_id}"
        classes = SENSOR_CLASSES if component == "sensor" else BINARY_CLASSES
        if object_id != "monthly_index_m3":
            assert document["device_class"] in classes
    assert set(by_meter) == set(meters)
    unique_ids = [document["unique_id"] for document in configs.values()]
    assert len(unique_ids) == len(set(unique_ids))

    readings = dict(asyncio.run(retained(mosquitto.host, mosquitto.port, "wmbus/ha/meters/+/reading")))
    for meter_id, entities in by_meter.items():
        water = entities["total_m3"]
        assert water["device_class"] == "water"
        assert water["state_class"] == "total_increasing"
        assert water["unit_of_measurement"] == "m³"
        assert water["state_topic"] == f"wmbus/ha/meters/{meter_id}/reading"
        assert water["value_template"] == "{{ value_json.total_m3 }}"
        assert {f"alarm_{alarm.value}" for alarm in Alarm} <= entities.keys()
        assert entities["monthly_index_m3"]["state_topic"] == f"wmbus/ha/meters/{meter_id}/monthly/+"
        # the field the template reads is in the meter's retained reading
        if f"wmbus/ha/meters/{meter_id}/reading" in readings:
            assert isinstance(readings[f"wmbus/ha/meters/{meter_id}/reading"]["total_m3"], int | float)
    assert readings, "no reading reached the broker"

    # a meter removed from the fleet: its configs are cleared (empty retained) at the next start
    gone = sorted(meters)[0]
    assert Provisioning(config.meters_path, config.keys_path).remove(gone)
    second = Daemon(config, options, printer=lambda line: None)
    asyncio.run(_run_for(second, 5))
    after = _configs(mosquitto)
    assert not [topic for topic in after if f"/{gone}_" in topic]
    assert {TOPIC.fullmatch(t).group(2) for t in after} == set(meters) - {gone}  # type: ignore[union-attr]


def test_unchanged_configs_are_not_published_again(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = GatewayConfig(gateway_id="ha", state_dir=tmp_path)
    options = RunOptions(mqtt_url=mosquitto.url, speed=600, ha_discovery=True)
    first = Daemon(config, options, printer=lambda line: None)
    asyncio.run(_run_for(first, 10))
    second = Daemon(config, options, printer=lambda line: None)
    second._open_state()
    second._open_uplink()
    assert second.outbox is not None
    fleet = Provisioning(config.meters_path, config.keys_path).load()
    # the first run announced the meters before their first readings: now maker and flow are known
    queued = len(second.outbox)
    second._sync_discovery(fleet)
    assert len(second.outbox) > queued
    # nothing changed since: a restart (or reload) publishes nothing
    queued = len(second.outbox)
    second._sync_discovery(fleet)
    assert len(second.outbox) == queued
    second.outbox.close()
    second.store.close()


def test_configuration() -> None:
    config = parse_config('[homeassistant]\ndiscovery = true\nprefix = "ha"\n')
    assert (config.ha_discovery, config.ha_prefix) == (True, "ha")
    assert parse_config("").ha_discovery is False
    with pytest.raises(ConfigError, match=r"homeassistant\.prefix"):
        parse_config('[homeassistant]\nprefix = "ha/#"\n')
