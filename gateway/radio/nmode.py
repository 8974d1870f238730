"""The 169 MHz N mode of EN 13757-4: which channel, frequency and bit rate each sub-mode uses.

N1x (the meter only sends) and N2x (it also listens) share channel x; a receiver tuned to a channel
hears the meters of both. Channels 1a, 1b, 3a and 3b carry 4.8 kbit/s, 2a and 2b 2.4 kbit/s (GFSK,
12.5 kHz spacing). Frames are in format B. Channel 0 (N2g, 38.4 kbit/s 4GFSK) is for relaying and no
supported stick receives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.frame import LinkMode


@dataclass(frozen=True, slots=True)
class NChannel:
    """One N-mode channel as the standard names it."""

    name: str
    frequency_mhz: float
    bit_rate_kbps: float

    def describe(self) -> str:
        return f"channel {self.name}, {self.frequency_mhz:.6f} MHz, {self.bit_rate_kbps:g} kbit/s"


_1A = NChannel("1a", 169.40625, 4.8)
_1B = NChannel("1b", 169.41875, 4.8)
_2A = NChannel("2a", 169.43125, 2.4)
_2B = NChannel("2b", 169.44375, 2.4)
_3A = NChannel("3a", 169.45625, 4.8)
_3B = NChannel("3b", 169.46875, 4.8)

CHANNELS: dict[LinkMode, NChannel] = {
    LinkMode.N1A: _1A,
    LinkMode.N2A: _1A,
    LinkMode.N1B: _1B,
    LinkMode.N2B: _1B,
    LinkMode.N1C: _2A,
    LinkMode.N2C: _2A,
    LinkMode.N1D: _2B,
    LinkMode.N2D: _2B,
    LinkMode.N1E: _3A,
    LinkMode.N2E: _3A,
    LinkMode.N1F: _3B,
    LinkMode.N2F: _3B,
}

N_MODES: tuple[LinkMode, ...] = tuple(CHANNELS)


def is_n_mode(mode: LinkMode) -> bool:
    """True for the 169 MHz N sub-modes (and the unnamed N of rtl_wmbus)."""
    return mode in CHANNELS or mode is LinkMode.N


def same_channel(first: LinkMode, second: LinkMode) -> bool:
    """Whether two N sub-modes are sent on the same channel (N1c and N2c are)."""
    return first in CHANNELS and second in CHANNELS and CHANNELS[first] == CHANNELS[second]
