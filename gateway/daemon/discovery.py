"""Keeps Home Assistant's view of the fleet in step with the provisioned meters, through the outbox.

At start and on every reload: a meter whose configs changed (new, renamed, first flow seen) gets them
again; a meter no longer provisioned gets empty retained configs. What was announced is kept in the
state database (a digest per meter), so a restart of a large fleet republishes nothing unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping

from gateway.billing.meters import MeterEntry
from gateway.billing.state import StateStore
from gateway.uplink.homeassistant import MeterDevice, discovery_messages, removal_messages
from gateway.uplink.messages import OutboundMessage
from gateway.uplink.outbox import Outbox
from gateway.uplink.topics import Topics

log = logging.getLogger(__name__)

ANNOUNCED_META_KEY = "homeassistant.announced"  # {meter id: digest of its configs}


def sync_discovery(
    store: StateStore, outbox: Outbox, topics: Topics, meters: Mapping[str, MeterEntry], prefix: str
) -> int:
    """Queue the configs that changed and the removals; the number of messages queued."""
    announced: dict[str, str] = json.loads(store.get_meta(ANNOUNCED_META_KEY) or "{}")
    messages: list[OutboundMessage] = []
    now_announced: dict[str, str] = {}
    for meter_id, entry in meters.items():
        last = store.last_reading(meter_id) or {}
        device = MeterDevice(
            meter_id,
            manufacturer=last.get("manufacturer"),
            model=entry.decoder or last.get("decoder"),
            name=entry.name,
            has_flow=last.get("flow_m3h") is not None,
        )
        configs = discovery_messages(topics, device, prefix)
        digest = hashlib.sha256(b"".join(m.topic.encode() + m.payload for m in configs)).hexdigest()[:16]
        now_announced[meter_id] = digest
        if announced.get(meter_id) != digest:
            messages += configs
    removed = sorted(set(announced) - set(meters))
    for meter_id in removed:
        messages += removal_messages(topics, meter_id, prefix)
    if messages:
        outbox.put_many(messages)
    store.set_meta(ANNOUNCED_META_KEY, json.dumps(now_announced, separators=(",", ":")))
    store.commit()
    if messages:
        log.info(
            "Home Assistant discovery: %d meters announced, %d removed (%d messages)",
            sum(1 for m in now_announced if announced.get(m) != now_announced[m]),
            len(removed),
            len(messages),
        )
    return len(messages)
