"""B Meters (BMT): Hydrodigit, IWM-TX5 (OMS records) and the old RFM-TX1 obfuscated frame.

Format facts (public: wmbusmeters src/driver_rfmtx1.cc, drivers/src/hydrodigit.xmq, iwmtx5.xmq):
RFM-TX1 with configuration word 0x1006 XORs the first 6 payload bytes with the access number and with a
row of a fixed 16 x 6 table chosen by the access number's low nibble; bytes 2-5 of the result are the
total as 8 BCD digits (LE, litres). Payload bytes 13-18 are the meter time as BCD s, min, h, d, month, yy.
"""

from __future__ import annotations

from datetime import datetime

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.wmbus.telegram import Telegram

_RFM_TX1_CONFIG = 0x1006
# The de-obfuscation table, one 6-byte row per value of the access number's low nibble.
_RFM_TX1_ROWS = (
    "75967A101A0A", "5B7F70132213", "B318B90B8E99", "8E7D79074A16", "B591079ACB69", "B8A332A1390E",
    "BD809C7E6099", "275CB4C480A3", "30D00ACE1903", "C24CF005A586", "544B1698115E", "4BEE0CC97DA2",
    "87CA4A48E41F", "C487772E8AE8", "E330BD78578C", "A49A396F2805",
)
_ROWS = tuple(bytes.fromhex(row) for row in _RFM_TX1_ROWS)


def _bcd(value: int) -> int:
    return (value >> 4) * 10 + (value & 0x0F)


def _is_obfuscated(telegram: Telegram) -> bool:
    return telegram.tpl is not None and telegram.tpl.config == _RFM_TX1_CONFIG


def _rfm_tx1(telegram: Telegram, draft: ReadingDraft) -> None:
    if not _is_obfuscated(telegram):
        return  # newer RFM-TX1 firmware sends standard records
    data = telegram.payload
    access = telegram.access_number or 0
    if len(data) < 19:
        raise ValueError("RFM-TX1 payload too short")
    plain = bytes(data[i] ^ access ^ _ROWS[access & 0x0F][i] for i in range(6))
    digits = plain[2:6][::-1].hex()
    if not digits.isdigit():
        draft.mark_unsupported("RFM-TX1 total did not de-obfuscate to BCD digits")
        return
    draft.total_m3 = int(digits) / 1000
    second, minute, hour, day, month, year = (_bcd(b) for b in data[13:19])
    try:
        draft.meter_datetime = datetime(2000 + year, month, day, hour, minute, second)
    except ValueError:
        draft.meter_datetime = None


RFM_TX1 = MeterDecoder(
    name="rfmtx1",
    matches=(Match("BMT", 0x05, 0x07),),
    description="B Meters RFM-TX1 (obfuscated total in old firmware, else OMS records)",
    proprietary=_rfm_tx1,
    records_valid=lambda telegram: not _is_obfuscated(telegram),
)
WATER = MeterDecoder(
    name="bmeters",
    aliases=("hydrodigit", "iwmtx5"),
    matches=tuple(Match("BMT", device_type=kind) for kind in (0x06, 0x07, 0x16)),
    description="B Meters Hydrodigit / IWM-TX5 water meters (OMS records)",
)

DECODERS = (RFM_TX1, WATER)
