"""Axioma (AXI) Qalcosonic W1 / Q400 ultrasonic water meters: OMS records.

Format facts (public: wmbusmeters drivers/src/q400.xmq, src/driver_q400.cc; Axioma's Qalcosonic W1 wM-Bus
description): current, forward (VIFE 0x3B) and backward (VIFE 0x3C) volumes, flow, water temperature,
meter time, on time (VIF 0x20, seconds), and the previous billing period in storage 1: its date-time and
its total, forward and backward volumes (the set day). Newer firmware (version 0x20, some 0x01) adds the
error-free operating time (VIF 0x24, seconds) and an error counter sent as the error-flags record with the
"value during error state" function (DIF 0x34, VIF 0xFD 0x17); 01 FD 74 is the battery left in percent.
Status and alarms come from the TPL status byte.
"""

from __future__ import annotations

from datetime import datetime

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import Direction, Field
from gateway.reading import JsonScalar
from gateway.wmbus.records import Function

_SECONDS_PER_HOUR = 3600


def seconds_to_hours(value: object) -> JsonScalar:
    """A duration in seconds as hours, as the reference prints them (6 decimals)."""
    return round(value / _SECONDS_PER_HOUR, 6) if type(value) is int or type(value) is float else None


def minutes(value: object) -> JsonScalar:
    """A date-time as ``YYYY-MM-DD HH:MM`` (the reference's display of type F date-times)."""
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else None


Q400 = MeterDecoder(
    name="q400",
    matches=tuple(Match("AXI", version, 0x07) for version in (0x01, 0x10, 0x20)),
    description="Axioma Qalcosonic W1 / Q400 water meter (OMS records, previous billing period)",
    fields=(
        *STANDARD_FIELDS,
        Field("total_forward_m3", "volume", direction=Direction.FORWARD),
        Field("on_time_h", "on_time", convert=seconds_to_hours),
        Field("error_free_time_h", "operating_time", convert=seconds_to_hours),
        Field("error_code_counter", "error_flags", function=Function.ERROR),  # a plain count
        Field("battery_pct", "remaining_battery_life"),  # percent here, not the standard's days
        Field("set_datetime", "datetime", storage=1, convert=minutes),
        Field("consumption_at_set_date_m3", "volume", storage=1, direction=Direction.PLAIN),
        Field("forward_at_set_date_m3", "volume", storage=1, direction=Direction.FORWARD),
        Field("backward_at_set_date_m3", "volume", storage=1, direction=Direction.BACKWARD),
    ),
)

DECODERS = (Q400,)
