"""Makers' published default AES keys, for meters shipped without an individual key.

Diehl (DME, HYD, SAP, EWT, SPL) OMS telegrams in security mode 5 use, unless the utility set its own key,
the PRIOS default key 51728910E66D83F8 repeated to 16 bytes (public: wmbusmeters
src/manufacturer_specificities.cc, ``addDefaultManufacturerKeyIfAny``). A mode-5 short header with bit 12
of the configuration word set is Diehl "real data" (LFSR scrambled, not AES) and gets no key.
"""

from __future__ import annotations

from gateway.wmbus.manufacturer import decode_manufacturer

_DIEHL = frozenset({"DME", "HYD", "SAP", "EWT", "SPL"})
_DIEHL_OMS_KEY = bytes.fromhex("51728910E66D83F8") * 2
_SND_NR_IR = (0x44, 0x46)
_MODE_5 = 5
_REAL_DATA_BIT = 0x1000
_CONFIG_OFFSET = {0x7A: 13, 0x72: 21}  # frame offset of the TPL configuration word by CI
_CHECK_BYTES = b"\x2f\x2f"


def default_key(frame: bytes) -> bytes | None:
    """The maker's default key for this radio frame (L field first), or None when there is none."""
    if len(frame) < 15 or frame[0] == 0x68 or frame[1] not in _SND_NR_IR:
        return None
    if decode_manufacturer(frame[2] | frame[3] << 8) not in _DIEHL:
        return None
    offset = _CONFIG_OFFSET.get(frame[10])
    if offset is None or len(frame) < offset + 2:
        return None
    config = frame[offset] | frame[offset + 1] << 8
    if (config >> 8) & 0x1F != _MODE_5 or (frame[10] == 0x7A and config & _REAL_DATA_BIT):
        return None
    if frame[offset + 2 : offset + 4] == _CHECK_BYTES:
        return None  # already in plaintext (a front end decrypted it)
    return _DIEHL_OMS_KEY
