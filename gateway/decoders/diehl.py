"""Diehl Metering (DME, HYD, SAP, EWT, SPL): IZAR radio modules (PRIOS, CI 0xA0-0xA7) and OMS meters.

PRIOS facts (public: wmbusmeters src/driver_izar.cc and src/manufacturer_specificities.cc):
- The payload from byte 15 of the frame is XOR-scrambled with a 32-bit LFSR (taps 1, 2, 11, 31; the key
  shifts left 8 times per byte and the low byte is the mask). The seed is the meter key (first 8 bytes,
  the two big-endian halves XORed) XOR big-endian words of frame bytes 2-5, 6-9 and 10-13. The first
  plain byte is 0x4B. Without a key, two public default keys are tried: 39BC8A10E66D83F8 and
  51728910E66D83F8.
- Plain bytes 1-4: current volume (uint32 LE, litres); 5-8: last period volume; 9-10: its date
  (day = b9 & 0x1F, month = b10 & 0x0F, year = (b10 & 0xF0) >> 1 | b9 >> 5, + 2000 below 81).
- Frame byte 11: bit 7 general alarm, bits 0-3 transmit period (2 ** (n + 2) s). Byte 12: bit 7 leak now,
  bit 6 leak before, bit 5 meter blocked, bits 0-4 battery life in half years. Byte 13: bit 7 back flow,
  6 underflow, 5 overflow, 4 submarine, 3 sensor fraud now, 2 before, 1 mechanical fraud now, 0 before.
- DME/HYD PRIOS frames (not SAP) carry version and type before the id: the protocol core reads the id
  where they put it (gateway.wmbus.diehl); SAP PRIOS frames encode the label's prefix and serial number.
Diehl OMS meters (Hydrus, Altair, ...) keep several closed periods (set day in storage 1, month end in
storage 3 or 8 with a date-time): the most recent dated one is the target. "Real data" telegrams (CI 0x7A
with bit 12 of the configuration word set) scramble the records with the same LFSR; the check is that
the byte sum of the plain records, masked with 0xEF, equals the configuration word's high byte masked
likewise (manufacturer_specificities.cc, ``CHECKSUM_AND_0XEF``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.fields import apply_fields, offer_set_days
from gateway.decoders.status import Flag, FlagTable
from gateway.reading import Alarm
from gateway.wmbus.diehl import AddressLayout, address_layout, sap_label
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.records import DataRecord, parse_records
from gateway.wmbus.telegram import Telegram
from gateway.wmbus.tpl import ALARM_REPORT_CI

DEFAULT_KEYS = (bytes.fromhex("39BC8A10E66D83F8"), bytes.fromhex("51728910E66D83F8"))
_CHECK_BYTE = 0x4B
_REAL_DATA_BIT = 0x1000
_CONTENT_START = 15
_PRIOS_CIS = frozenset(range(0xA0, 0xA8))
_MAKERS = ("DME", "HYD", "SAP", "EWT", "SPL")

ALARM_BITS = FlagTable(
    "alarms",
    (
        Flag(0x800000, "GENERAL_ALARM"),
        Flag(0x008000, "LEAKAGE", Alarm.LEAK),
        Flag(0x004000, "LEAKAGE_PREVIOUSLY"),
        Flag(0x002000, "METER_BLOCKED", Alarm.METER_ERROR),
        Flag(0x000080, "BACK_FLOW", Alarm.BACKFLOW),
        Flag(0x000040, "UNDERFLOW"),
        Flag(0x000020, "OVERFLOW", Alarm.OVERFLOW),
        Flag(0x000010, "SUBMARINE"),
        Flag(0x000008, "SENSOR_FRAUD", Alarm.TAMPER),
        Flag(0x000004, "SENSOR_FRAUD_PREVIOUSLY"),
        Flag(0x000002, "MECHANICAL_FRAUD", Alarm.TAMPER),
        Flag(0x000001, "MECHANICAL_FRAUD_PREVIOUSLY"),
    ),
)


def _seed(key: bytes) -> int:
    return int.from_bytes(key[0:4], "big") ^ int.from_bytes(key[4:8], "big")


def _lfsr_byte(state: int) -> int:
    """The state after 8 LFSR shifts (taps 1, 2, 11, 31), bit by bit: the specification of the tables."""
    for _ in range(8):
        bit = ((state >> 1) ^ (state >> 2) ^ (state >> 11) ^ (state >> 31)) & 1
        state = ((state << 1) | bit) & 0xFFFFFFFF
    return state


# The 8 bits an LFSR byte step shifts in are a linear (XOR) function of the state, so they are the XOR of
# one table entry per state byte: 4 lookups a byte instead of 8 shifts of 4 taps each.
_SHIFTED_IN = tuple(
    tuple(_lfsr_byte(value << (8 * index)) & 0xFF for value in range(256)) for index in range(4)
)


def _prios_state(header: bytes, key: bytes) -> int:
    state = _seed(key)
    state ^= int.from_bytes(header[2:6], "big")
    state ^= int.from_bytes(header[6:10], "big")
    return state ^ int.from_bytes(header[10:14], "big")


def _keystream(state: int, length: int) -> bytes:
    t0, t1, t2, t3 = _SHIFTED_IN
    out = bytearray(length)
    for index in range(length):
        low = t0[state & 0xFF] ^ t1[(state >> 8) & 0xFF] ^ t2[(state >> 16) & 0xFF] ^ t3[state >> 24]
        state = ((state << 8) & 0xFFFFFF00) | low
        out[index] = low
    return bytes(out)


def prios_keystream(header: bytes, key: bytes, length: int) -> bytes:
    """The LFSR mask for ``length`` content bytes of a frame whose first 14 bytes are ``header``."""
    return _keystream(_prios_state(header, key), length)


def _xor(data: bytes, mask: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(len(data), "big")


def descramble(frame: bytes, key: bytes) -> bytes | None:
    """The PRIOS plaintext of ``frame`` (L field first) under ``key``; None when the check byte fails."""
    content = frame[_CONTENT_START:]
    if not content:
        return None
    state = _prios_state(frame, key)
    if content[0] ^ _keystream(state, 1)[0] != _CHECK_BYTE:
        return None  # a wrong key: the first byte tells, the rest of the mask is not worth computing
    return _xor(content, _keystream(state, len(content)))


def _real_data_plain(frame: bytes, key: bytes) -> bytes | None:
    content = frame[_CONTENT_START:]
    if not content:
        return None
    plain = _xor(content, prios_keystream(frame, key, len(content)))
    return plain if sum(plain) & 0xEF == frame[14] & 0xEF else None


def _is_real_data(telegram: Telegram) -> bool:
    tpl = telegram.tpl
    return tpl is not None and telegram.ci == 0x7A and bool((tpl.config or 0) & _REAL_DATA_BIT)


def _has_index(records: Sequence[DataRecord]) -> bool:
    return any(
        record.quantity == "volume" and record.storage == 0 and isinstance(record.value, int | float)
        for record in records
    )


def _real_data(telegram: Telegram, draft: ReadingDraft) -> None:
    if telegram.ci == ALARM_REPORT_CI:  # the meaning of its bytes is not public
        draft.mark_unsupported(f"Diehl alarm report (CI 0x71): {telegram.payload.hex()}")
        return
    if not _is_real_data(telegram):
        return
    frame = telegram.raw
    keys = ((draft.key,) if draft.key is not None else ()) + DEFAULT_KEYS
    plain = next((p for p in (_real_data_plain(frame, key) for key in keys) if p is not None), None)
    records: tuple[DataRecord, ...] = ()
    if plain is not None:
        try:
            records = parse_records(plain, _CONTENT_START)
        except WMBusError:
            records = ()
    # A front end may have descrambled the telegram already; the byte-sum check passes by chance about
    # once in 128, so the reading that yields an index wins, the descrambled one on a tie.
    if not records or (_has_index(draft.records) and not _has_index(records)):
        if not draft.records:
            draft.mark_unsupported("Diehl real-data telegram: no key descrambles it")
        return
    draft.clear_measurements()  # whatever the scrambled bytes looked like as records is noise
    draft.records = records
    apply_fields(records, STANDARD_FIELDS, draft)
    offer_set_days(records, draft)


def _period_date(low: int, high: int) -> date | None:
    year = ((high & 0xF0) >> 1) | (low >> 5)
    try:
        return date(year + (1900 if year > 80 else 2000), high & 0x0F, low & 0x1F)
    except ValueError:
        return None


def _prios(telegram: Telegram, draft: ReadingDraft) -> None:
    frame = telegram.raw
    if len(frame) < _CONTENT_START + 5:
        raise ValueError("PRIOS frame too short")
    keys = ((draft.key,) if draft.key is not None else ()) + DEFAULT_KEYS
    plain = None
    for key in keys:
        plain = descramble(frame, key)
        if plain is not None:
            break
    if plain is None:
        draft.mark_unsupported("IZAR PRIOS data did not descramble with the meter key or the default keys")
        return
    if address_layout(frame) is AddressLayout.SAP_PRIOS:
        label = sap_label(frame)  # the id the core reports is the A field's; the label says more
        draft.extra["prefix"] = label.prefix
        draft.extra["serial_number"] = label.serial_number
        draft.extra["manufacture_year"] = label.manufacture_year
    draft.total_m3 = int.from_bytes(plain[1:5], "little") / 1000
    if len(plain) > 8:
        draft.target_m3 = int.from_bytes(plain[5:9], "little") / 1000
    if len(plain) > 10:
        draft.target_date = _period_date(plain[9], plain[10])
    draft.extra["remaining_battery_life_y"] = (frame[12] & 0x1F) / 2
    draft.extra["transmit_period_s"] = 1 << ((frame[11] & 0x0F) + 2)
    labels = ALARM_BITS.apply(int.from_bytes(frame[11:14], "big") & 0x80E0FF, draft, width=6)
    names = [label.lower() for label in labels if label != "GENERAL_ALARM"]
    current = [name for name in names if not name.endswith("_previously")]
    previous = [name.removesuffix("_previously") for name in names if name.endswith("_previously")]
    draft.extra["current_alarms"] = ",".join(current) or "no_alarm"
    draft.extra["previous_alarms"] = ",".join(previous) or "no_alarm"


IZAR = MeterDecoder(
    name="izar",
    aliases=("izarv2",),
    matches=tuple(Match(maker, ci=_PRIOS_CIS) for maker in _MAKERS),
    description="Diehl IZAR radio (PRIOS scrambled frame, CI 0xA0-0xA7)",
    proprietary=_prios,
    medium="water",
)
DIEHL_OMS = MeterDecoder(
    name="diehl",
    aliases=("hydrus", "dme173", "dme_07", "sharky", "sharky774"),
    matches=tuple(Match(maker) for maker in _MAKERS),
    description="Diehl OMS meters (Hydrus, Altair, Sharky ...): standard records, latest closed period",
    latest_set_day=True,
    proprietary=_real_data,
)

DECODERS = (IZAR, DIEHL_OMS)
