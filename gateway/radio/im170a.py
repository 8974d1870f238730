"""IMST iM170A (169 MHz, wM-Bus N mode) over the same WM-Bus HCI as the iM871A, 57600 baud.

The HCI framing, messages and RSSI byte are the iM871A's (gateway.radio.imst); what differs is the
module type in the device info (0x36) and the link mode codes of SetConfig (HCI spec table "Link
Modes": N1a 0x0A, N2a 0x0B, ... N1f 0x14, N2f 0x15; the iM871A reads 0x0A as C1+T1). The stick is
set to device mode "other" (a collector) in the same SetConfig: one configured as a meter hears nothing.
Telegrams arrive as WMBUSMSG_IND from the C field on, the frame format B CRCs checked and removed.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from gateway.frame import LinkMode
from gateway.radio.base import SourceError
from gateway.radio.imst import (
    CONFIG_VOLATILE,
    IIFLAG1_LINK_MODE,
    IIFLAG2_RSSI,
    IIFLAG2_TIMESTAMP,
    MODULE_IM170A,
    Im871aSource,
)
from gateway.radio.nmode import CHANNELS
from gateway.radio.serial_source import dongle_mode

IIFLAG1_DEVICE_MODE = 0x01
DEVICE_MODE_OTHER = 0x00  # a collector; 0x01 would make the stick a meter


class Im170aLinkMode(IntEnum):
    """SetConfig link mode codes of the iM170A."""

    N1A = 0x0A
    N2A = 0x0B
    N1B = 0x0C
    N2B = 0x0D
    N1C = 0x0E
    N2C = 0x0F
    N1D = 0x10
    N2D = 0x11
    N1E = 0x12
    N2E = 0x13
    N1F = 0x14
    N2F = 0x15


_LINK_MODES = {frozenset({mode}): Im170aLinkMode[mode.name] for mode in CHANNELS}


def link_mode_code(modes: tuple[LinkMode, ...]) -> Im170aLinkMode:
    """The code for one N sub-mode (the stick listens on one channel at a time)."""
    return dongle_mode(modes, _LINK_MODES, "iM170A")


class Im170aSource(Im871aSource):
    """iM170A-USB: one N sub-mode (N1a-N1f, N2a-N2f) in volatile memory, RSSI and timestamp attached."""

    kind: ClassVar[str] = "im170a"

    async def _initialise(self) -> None:
        mode = link_mode_code(self.link_modes)
        info = await self._identify()
        if info.module_type != MODULE_IM170A:
            raise SourceError(
                f"the stick is not an iM170A (module type {info.module_type:#04x}; an iM871A is 0x33: "
                'configure it as type = "im871a")'
            )
        await self._set_config(
            bytes(
                [
                    CONFIG_VOLATILE,
                    IIFLAG1_DEVICE_MODE | IIFLAG1_LINK_MODE,
                    DEVICE_MODE_OTHER,
                    mode,
                    IIFLAG2_RSSI | IIFLAG2_TIMESTAMP,
                    0x01,
                    0x01,
                ]
            )
        )
