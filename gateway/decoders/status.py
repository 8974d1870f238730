"""Status normalisation: the TPL status byte and makers' error-flag words become Alarm codes.

TPL status bits (EN 13757-7 / OMS Vol. 2 section 7.2.2): bits 0-1 application state (01 busy, 10 error,
11 abnormal condition / alarm), bit 2 power low, bit 3 permanent error, bit 4 temporary error, bits 5-7
manufacturer specific. Makers' bit meanings live in each maker's module as a :class:`FlagTable`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.decoders.draft import ReadingDraft
from gateway.reading import Alarm

POWER_LOW = 0x04
PERMANENT_ERROR = 0x08
TEMPORARY_ERROR = 0x10


@dataclass(frozen=True, slots=True)
class Flag:
    """One bit (or bit group) of a status word: the maker's name and the alarm it means, if any."""

    mask: int
    label: str
    alarm: Alarm | None = None
    value: int | None = None  # for multi-bit groups: the value the masked bits must equal (default: any set)

    def is_set(self, word: int) -> bool:
        """Whether this flag is raised in ``word``."""
        if self.value is None:
            return bool(word & self.mask)
        return word & self.mask == self.value


@dataclass(frozen=True, slots=True)
class FlagTable:
    """A maker's status word: the flags it defines, in order."""

    name: str
    flags: tuple[Flag, ...]
    unknown_prefix: str | None = None  # name set bits no flag covers as PREFIX_<hex> (else ignore them)
    ignored: int = 0  # bits that are not part of the status, as the maker documents (never named)

    def labels(self, word: int) -> list[str]:
        """The maker's names of the flags set in ``word``."""
        word &= ~self.ignored
        labels = [  # Flag.is_set inlined: a heat meter's table has 30 flags
            flag.label for flag in self.flags
            if (word & flag.mask if flag.value is None else word & flag.mask == flag.value)
        ]
        if self.unknown_prefix is not None:
            covered = 0
            for flag in self.flags:
                covered |= flag.mask
            if word & ~covered:
                labels.append(f"{self.unknown_prefix}_{word & ~covered:X}")
        return labels

    def apply(self, word: int, draft: ReadingDraft, *, width: int = 4) -> list[str]:
        """Raise the alarms of the set flags and note the raw word; return the labels that are set."""
        key = (id(self), word, width)
        meaning = _MEANINGS.get(key)
        if meaning is None or meaning[0] is not self:
            labels = self.labels(word)
            alarms = tuple(
                flag.alarm for flag in self.flags if flag.alarm is not None and flag.is_set(word)
            )
            meaning = (self, tuple(labels), alarms, f"{self.name}=0x{word:0{width}X}")
            if len(_MEANINGS) >= MEANINGS_LIMIT:
                _MEANINGS.clear()
            _MEANINGS[key] = meaning
        _, labels_set, alarms_raised, text = meaning
        if alarms_raised:
            draft.alarms.update(alarms_raised)
        draft.note_status(text)
        draft.add_labels(labels_set)
        return list(labels_set)


# (table id, word, width) -> (the table, kept alive so its id stays its own; labels; alarms; status text).
# Meters repeat their status words (mostly all clear), and a heat meter's table has 30 flags to test.
MEANINGS_LIMIT = 1024
_MEANINGS: dict[tuple[int, int, int], tuple[FlagTable, tuple[str, ...], tuple[Alarm, ...], str]] = {}


def clear_meanings() -> None:
    """Forget the status words seen so far (benchmarks and tests)."""
    _MEANINGS.clear()


# The standard bits, named as the reference decoder's users know them; alarms are raised in apply_tpl_status.
TPL_STATUS = FlagTable(
    "tpl",
    (
        Flag(0x03, "BUSY", value=0x01),
        Flag(0x03, "ERROR", value=0x02),
        Flag(0x03, "ALARM", value=0x03),
        Flag(POWER_LOW, "POWER_LOW"),
        Flag(PERMANENT_ERROR, "PERMANENT_ERROR"),
        Flag(TEMPORARY_ERROR, "TEMPORARY_ERROR"),
    ),
)


_TPL_TEXT = tuple(f"tpl=0x{status:02X}" for status in range(256))
_TPL_LABELS = tuple([flag.label for flag in TPL_STATUS.flags if flag.is_set(status)] for status in range(256))


def apply_tpl_status(status: int | None, draft: ReadingDraft, maker_bits: FlagTable | None = None) -> None:
    """Normalise the TPL status byte; ``maker_bits`` gives bits 5-7 the maker's meaning."""
    if status is None:
        return
    parts = draft.status_parts  # draft.note_status, inlined: nearly every telegram has a TPL status
    text = _TPL_TEXT[status]
    if text not in parts:
        parts.append(text)
    if not status:
        return
    draft.add_labels(_TPL_LABELS[status])
    if status & POWER_LOW:
        draft.alarms.add(Alarm.LOW_BATTERY)
    if status & PERMANENT_ERROR:
        draft.alarms.add(Alarm.METER_ERROR)
    if maker_bits is not None:
        for flag in maker_bits.flags:
            if flag.is_set(status):
                draft.add_labels([flag.label])
                if flag.alarm is not None:
                    draft.alarms.add(flag.alarm)


def word_of(value: object) -> int | None:
    """An error-flags record value as an integer (little-endian when the record kept raw bytes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray):
        return int.from_bytes(value, "little")
    return None
