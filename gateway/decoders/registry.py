"""The decoder registry: finds the decoder of a telegram in constant time and turns it into a Reading.

Decoders are indexed by (manufacturer, version, device type) with ``None`` as a wildcard; a lookup tries
at most four keys, then the generic OMS decoder. The cost does not grow with decoders or meters.
"""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.reading import Reading
from gateway.wmbus.telegram import Telegram

_Key = tuple[str, int | None, int | None]
FOUND_LIMIT = 1024  # (manufacturer, version, device type, CI) -> decoder; random input cannot grow it
_kind_of = attrgetter("manufacturer", "version", "device_type", "ci")  # the found-decoder key, in one C call


class UnknownDecoderError(LookupError):
    """A provisioned meter names a decoder that does not exist."""


class DecoderRegistry:
    """Decoders by name and by what they match."""

    def __init__(self, fallback: MeterDecoder) -> None:
        self.fallback = fallback
        self._by_name: dict[str, MeterDecoder] = {fallback.name: fallback}
        self._index: dict[_Key, list[tuple[Match, MeterDecoder]]] = {}
        self._found: dict[tuple[str, int, int, int], MeterDecoder] = {}

    def register(self, decoder: MeterDecoder) -> MeterDecoder:
        """Add ``decoder``; names must be unique."""
        for name in (decoder.name, *decoder.aliases):
            if name in self._by_name:
                raise ValueError(f"decoder name {name!r} registered twice")
            self._by_name[name] = decoder
        for match in decoder.matches:
            key = (match.manufacturer, match.version, match.device_type)
            candidates = self._index.setdefault(key, [])
            candidates.append((match, decoder))
            # A CI-restricted match is more specific than an open one under the same key.
            candidates.sort(key=lambda item: item[0].ci is None)
        self._found.clear()
        return decoder

    def names(self) -> list[str]:
        """Every name a meter may be given (decoders and their aliases), sorted."""
        return sorted(self._by_name)

    def named(self, name: str) -> MeterDecoder:
        """The decoder called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownDecoderError(f"no decoder named {name!r}") from None

    def find(self, telegram: Telegram) -> MeterDecoder:
        """The most specific decoder that claims ``telegram``; the generic one if none does."""
        key = _kind_of(telegram)
        found = self._found.get(key)
        if found is None:
            found = self._search(telegram)
            if len(self._found) >= FOUND_LIMIT:
                self._found.clear()
            self._found[key] = found
        return found

    def clear_cache(self) -> None:
        """Forget the decoders found so far (benchmarks and tests)."""
        self._found.clear()

    def _search(self, telegram: Telegram) -> MeterDecoder:
        maker, version, kind = telegram.manufacturer, telegram.version, telegram.device_type
        for key in ((maker, version, kind), (maker, version, None), (maker, None, kind), (maker, None, None)):
            for match, decoder in self._index.get(key, ()):
                if match.accepts(telegram):
                    return decoder
        return self.fallback

    def decode(
        self,
        telegram: Telegram,
        received_at: datetime,
        decoder: str | None = None,
        *,
        key: bytes | None = None,
        rssi_dbm: float | None = None,
    ) -> Reading:
        """The Reading of ``telegram``, by the named decoder or the one found for it; ``key`` is needed only
        by makers that encrypt inside their own frames. This is ``decoders.decode_reading``."""
        if decoder is None:
            chosen = self._found.get(_kind_of(telegram)) or self.find(telegram)
        else:
            chosen = self.named(decoder)
        # meter_id, manufacturer, decoder, medium, received_at, key, rssi_dbm: keywords cost more
        draft = ReadingDraft(
            telegram.meter_id, telegram.manufacturer, chosen.name, chosen.medium or telegram.medium,
            received_at, key, rssi_dbm,
        )
        chosen.decode(telegram, draft)
        return draft.freeze()
