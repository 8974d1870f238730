"""The decoder registry: finds the decoder of a telegram in constant time and turns it into a Reading.

Decoders are indexed by (manufacturer, version, device type) with ``None`` as a wildcard; a lookup tries
at most four keys, then the generic OMS decoder. The cost does not grow with decoders or meters.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        self._builtin: list[MeterDecoder] = []
        self._added: tuple[MeterDecoder, ...] = ()  # from decoder files, replaced as a whole on reload
        self._by_name: dict[str, MeterDecoder] = {fallback.name: fallback}
        self._index: dict[_Key, list[tuple[Match, MeterDecoder]]] = {}
        self._found: dict[tuple[str, int, int, int], MeterDecoder] = {}

    def register(self, decoder: MeterDecoder) -> MeterDecoder:
        """Add a built-in ``decoder``; names must be unique."""
        self._install((*self._builtin, decoder), self._added)
        return decoder

    def replace_added(self, decoders: Sequence[MeterDecoder]) -> None:
        """Put ``decoders`` (from decoder files) in place of those added before; the built-ins stay.

        Under the same (manufacturer, version, device type) an added decoder is tried before a built-in
        one (it overrides it); a CI-restricted match still comes before an open one. Names must be new."""
        self._install(tuple(self._builtin), tuple(decoders))

    def _install(self, builtin: Sequence[MeterDecoder], added: Sequence[MeterDecoder]) -> None:
        # Built aside and swapped in whole: a failed check leaves the registry as it was.
        by_name = {self.fallback.name: self.fallback}
        index: dict[_Key, list[tuple[Match, MeterDecoder]]] = {}
        for decoder in (*added, *builtin):
            for name in (decoder.name, *decoder.aliases):
                if name in by_name:
                    raise ValueError(f"decoder name {name!r} registered twice")
                by_name[name] = decoder
            for match in decoder.matches:
                index.setdefault((match.manufacturer, match.version, match.device_type), []).append(
                    (match, decoder)
                )
        for candidates in index.values():
            # A CI-restricted match is more specific than an open one under the same key (a stable sort:
            # added decoders stay before built-in ones).
            candidates.sort(key=lambda item: item[0].ci is None)
        self._builtin, self._added = list(builtin), tuple(added)
        self._by_name, self._index = by_name, index
        self._found.clear()

    @property
    def builtin(self) -> tuple[MeterDecoder, ...]:
        """The decoders that come with the gateway, the generic one first."""
        return (self.fallback, *self._builtin)

    @property
    def added(self) -> tuple[MeterDecoder, ...]:
        """The decoders added from decoder files."""
        return self._added

    def names(self) -> list[str]:
        """Every name a meter may be given (decoders and their aliases), sorted."""
        return sorted(self._by_name)

    def builtin_names(self) -> frozenset[str]:
        """The names (and aliases) of the built-in decoders: a decoder file may not reuse them."""
        return frozenset(name for decoder in self.builtin for name in (decoder.name, *decoder.aliases))

    def claims(self, telegram: Telegram) -> MeterDecoder | None:
        """The decoder that claims ``telegram`` by its matches, None when only the generic one would."""
        found = self._search(telegram)
        return None if found is self.fallback else found

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
        # meter_id, manufacturer, decoder, medium, received_at, key, rssi_dbm, link_id: keywords cost more
        draft = ReadingDraft(
            telegram.meter_id, telegram.manufacturer, chosen.name, chosen.medium or telegram.medium,
            received_at, key, rssi_dbm, telegram.link_id,
        )
        chosen.decode(telegram, draft)
        return draft.freeze()
