"""Every dev water vector (../shared/vectors) decoded with the automatically found decoder.

The volume registers (total_m3, target_m3, target_date, total_backward_m3) must match the reference's
expected JSON where it has them, for at least 98% of the vectors; the rate and each miss are printed, and so
are the registers where we publish no volume on purpose (the maker's "no value" pattern, see water_check).
"""

from __future__ import annotations

from tests.decoders.water_check import check
from tests.vectors import water_vectors

REQUIRED_RATE = 0.98


def test_water_vectors_rate() -> None:
    vectors = water_vectors()
    outcomes = [check(vector) for vector in vectors]
    misses = [outcome for outcome in outcomes if not outcome.ok]
    rate = 1 - len(misses) / len(outcomes)
    print(f"\nwater vectors: {len(outcomes) - len(misses)}/{len(outcomes)} = {rate:.1%}")
    for outcome in misses:
        decoder = outcome.reading.decoder if outcome.reading else "-"
        print(f"  miss {outcome.vector.name} [{decoder}]: {'; '.join(outcome.misses)}")
    for outcome in outcomes:
        if outcome.deliberate:
            print(f"  deliberately different {outcome.vector.name}: {'; '.join(outcome.deliberate)}")
    assert len(outcomes) == 120
    assert rate >= REQUIRED_RATE


def test_every_water_vector_finds_a_specific_or_generic_decoder_without_exception() -> None:
    for vector in water_vectors():
        outcome = check(vector)
        if outcome.reading is not None:
            assert outcome.reading.meter_id
            assert outcome.reading.decoder
