"""LSE water meters (Qundis QWater 5.5 builds that identify as LSE; versions 0x16-0x18, 0xD8): OMS records.

Format facts (public: wmbusmeters drivers/src/lse_07_17.xmq and src/driver_lse_07_17.cc): total volume,
the due day's volume and date in storage 1 (the billing set day; 0xFFFF while none has passed), a month
end in storage 8 with its date, model version (FD 0C), meter time, an error code sent as 02 BB 56 (a
"duration of last lower limit exceed" flow record, which the maker uses for its error code: 0 is no error;
the codes' bits are unpublished) and the date of the error (function "value during error", 0xFFFF when
none). The error code is not a flow. The maker's display codes (leak, reverse flow, hardware error, flow
too high, ...) have no published mapping to the telegram, so any non-zero code raises ``meter_error``.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.fields import Field
from gateway.decoders.plan import record_value, select
from gateway.decoders.units import hex_text, valid_date
from gateway.reading import Alarm
from gateway.wmbus.records import DataRecord, Function
from gateway.wmbus.telegram import Telegram

_FLOW_VIF = 0x3B  # volume flow, l/h
_LAST_LOWER_LIMIT_EXCEED = 0x56  # VIFE: duration of the last lower limit exceed (hours)
_UINT16 = 0x02  # DIF data field: 16-bit integer
_SECONDS_AN_HOUR = 3600


def _is_error_code(record: DataRecord) -> bool:
    vif = record.vif
    return (
        vif is not None
        and vif & 0x7F == _FLOW_VIF
        and record.vifes == (_LAST_LOWER_LIMIT_EXCEED,)
        and record.dif & 0x0F == _UINT16
    )


def _error_code(telegram: Telegram, draft: ReadingDraft) -> None:
    records = draft.records
    for index in select(records, _is_error_code):
        # The record's value is its two data bytes scaled as a duration in hours (the VIFE's unit): the
        # maker's code is the number sent.
        value = record_value(records, index)
        if type(value) is not int:
            continue
        code = value // _SECONDS_AN_HOUR & 0xFFFF
        draft.note_status(f"error_code=0x{code:04X}")
        if code:
            draft.alarms.add(Alarm.METER_ERROR)
            draft.extra["error_code"] = f"ERROR_CODE_{code:X}"
        else:
            draft.extra["error_code"] = "OK"
        return


_FIELDS = (
    # A flow record with a "duration of ..." VIFE is a duration (here the maker's error code), not a flow.
    *(
        replace(row, without=row.without | {"duration_of"}) if row.quantity == "volume_flow" else row
        for row in STANDARD_FIELDS
    ),
    Field("due_m3", "volume", storage=1),
    Field("due_date", "date", storage=1, convert=valid_date),
    Field("consumption_at_set_date_8_m3", "volume", storage=8),
    Field("set_date_8", "date", storage=8, convert=valid_date),
    Field("error_date", "date", function=Function.ERROR, convert=valid_date),
    Field("model_version", "model_version", convert=hex_text),
)

WATER = MeterDecoder(
    name="lse_07_17",
    matches=(
        Match("LSE", 0x18, 0x06),
        Match("LSE", 0x18, 0x07),
        Match("LSE", 0x16, 0x07),
        Match("LSE", 0x17, 0x07),
        Match("LSE", 0xD8, 0x07),
    ),
    description="LSE (Qundis QWater 5.5) water meter (OMS records, due day, error code)",
    fields=_FIELDS,
    proprietary=_error_code,
)

DECODERS = (WATER,)
