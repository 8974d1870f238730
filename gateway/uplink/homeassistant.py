"""Home Assistant MQTT discovery: retained configs that make each meter a device with its sensors.

Per meter: a water sensor (total_m3, m³, total_increasing) on the meter's reading topic, a flow sensor
where the meter reports flow, the billing monthly index (its monthly topics), and one binary sensor per
normalised alarm. Availability follows the gateway's status topic. A meter no longer provisioned gets
empty retained configs, which is how Home Assistant removes an entity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.reading import Alarm
from gateway.uplink.messages import OutboundMessage
from gateway.uplink.topics import MessageKind, Topics

DEFAULT_DISCOVERY_PREFIX = "homeassistant"
MONTHLY_ATTRIBUTES = "{{ {'month': value_json.month, 'source': value_json.source} | tojson }}"

# alarm -> Home Assistant binary_sensor device class
ALARM_CLASSES: dict[Alarm, str] = {
    Alarm.LEAK: "moisture",
    Alarm.BURST: "problem",
    Alarm.BACKFLOW: "problem",
    Alarm.DRY: "problem",
    Alarm.TAMPER: "tamper",
    Alarm.REMOVAL: "tamper",
    Alarm.LOW_BATTERY: "battery",
    Alarm.METER_ERROR: "problem",
    Alarm.OVERFLOW: "problem",
}


@dataclass(frozen=True, slots=True)
class MeterDevice:
    """What Home Assistant shows of one meter."""

    meter_id: str
    manufacturer: str | None = None  # the three-letter maker code, once a reading has been seen
    model: str | None = None  # the decoder
    name: str | None = None  # the provisioned label
    has_flow: bool = False  # the meter's readings carry flow_m3h


def _components(meter_id: str) -> list[tuple[str, str]]:
    """(component, object id) of every config a meter may have."""
    found = [("sensor", "total_m3"), ("sensor", "flow_m3h"), ("sensor", "monthly_index_m3")]
    found += [("binary_sensor", f"alarm_{alarm.value}") for alarm in ALARM_CLASSES]
    return found


def config_topic(prefix: str, component: str, gateway: str, meter_id: str, object_id: str) -> str:
    return f"{prefix}/{component}/wmbus_{gateway}/{meter_id}_{object_id}/config"


def discovery_messages(
    topics: Topics, meter: MeterDevice, prefix: str = DEFAULT_DISCOVERY_PREFIX
) -> list[OutboundMessage]:
    """The retained configs of one meter (the flow sensor only where the meter reports flow)."""
    reading = topics.reading(meter.meter_id)
    monthly = f"{topics.base}/meters/{meter.meter_id}/monthly/+"
    device: dict[str, Any] = {
        "identifiers": [f"wmbus_{meter.meter_id}"],
        "name": meter.name or f"Water meter {meter.meter_id}",
        "manufacturer": meter.manufacturer or "unknown",
        "model": meter.model or "wM-Bus water meter",
        "serial_number": meter.meter_id,
    }
    common: dict[str, Any] = {
        "device": device,
        "availability_topic": topics.status(),
        "availability_template": "{{ value_json.state }}",
        "payload_available": "online",
        "payload_not_available": "offline",
        "origin": {"name": "wmbus-gateway"},
    }
    configs: dict[tuple[str, str], dict[str, Any]] = {
        ("sensor", "total_m3"): {
            "name": "Volume",
            "state_topic": reading,
            "value_template": "{{ value_json.total_m3 }}",
            "device_class": "water",
            "state_class": "total_increasing",
            "unit_of_measurement": "m³",
            "suggested_display_precision": 3,
        },
        ("sensor", "monthly_index_m3"): {
            "name": "Monthly index",
            "state_topic": monthly,
            "value_template": "{{ value_json.index_m3 }}",
            "json_attributes_topic": monthly,
            "json_attributes_template": MONTHLY_ATTRIBUTES,
            "device_class": "water",
            "state_class": "total",
            "unit_of_measurement": "m³",
            "suggested_display_precision": 3,
        },
    }
    if meter.has_flow:
        configs[("sensor", "flow_m3h")] = {
            "name": "Flow",
            "state_topic": reading,
            "value_template": "{{ value_json.flow_m3h }}",
            "device_class": "volume_flow_rate",
            "state_class": "measurement",
            "unit_of_measurement": "m³/h",
        }
    for alarm, device_class in ALARM_CLASSES.items():
        configs[("binary_sensor", f"alarm_{alarm.value}")] = {
            "name": f"Alarm {alarm.value.replace('_', ' ')}",
            "state_topic": reading,
            "value_template": "{{ 'ON' if '"
            + alarm.value
            + "' in (value_json.alarms or []) else 'OFF' }}",
            "device_class": device_class,
        }
    messages = []
    for (component, object_id), body in configs.items():
        document = {
            **body,
            **common,
            "unique_id": f"wmbus_{topics.gateway}_{meter.meter_id}_{object_id}",
            "object_id": f"wmbus_{meter.meter_id}_{object_id}",
        }
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        topic = config_topic(prefix, component, topics.gateway, meter.meter_id, object_id)
        messages.append(OutboundMessage(topic, payload, True, MessageKind.DISCOVERY, meter.meter_id))
    if not meter.has_flow:  # a flow sensor announced before is removed
        topic = config_topic(prefix, "sensor", topics.gateway, meter.meter_id, "flow_m3h")
        messages.append(OutboundMessage(topic, b"", True, MessageKind.DISCOVERY, meter.meter_id))
    return messages


def removal_messages(
    topics: Topics, meter_id: str, prefix: str = DEFAULT_DISCOVERY_PREFIX
) -> list[OutboundMessage]:
    """Empty retained configs: Home Assistant removes the meter's entities (and the device with them)."""
    return [
        OutboundMessage(
            config_topic(prefix, component, topics.gateway, meter_id, object_id),
            b"",
            True,
            MessageKind.DISCOVERY,
            meter_id,
        )
        for component, object_id in _components(meter_id)
    ]
