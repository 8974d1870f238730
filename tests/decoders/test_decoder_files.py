"""Decoder files: TOML compiled into the same MeterDecoder as a built-in one, errors with file:line, the
registry's added decoders, and the example files equal to their built-in twins over the vectors."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.decoders import REGISTRY, clear_caches
from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.decoder_file import DecoderFileError, parse_decoder
from gateway.decoders.oms import GENERIC
from gateway.decoders.registry import DecoderRegistry
from gateway.reading import Alarm
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import parsed_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[2] / "gateway" / "decoders" / "examples"
# Each example file and the built-in decoder it is written after.
TWINS = {"minomess.toml": "minomess", "kadenwater.toml": "ecomess"}

# A telegram of a maker nobody claims ("XYZ"), written for these tests from EN 13757-3 records: TPL status
# 0x20 (maker bit 5); 04 13 volume 12.345 m3; 44 13 / 42 6C storage 1: 10 m3 on 2026-09-30; 84 04 13 /
# 82 04 6C storage 8: 20 m3 on 2026-08-31; 84 10 13 tariff 1: 4.096 m3; 02 FD 17 error flags 0x0040.
XYZ = ("44" "3A63" "78563412" "01" "07" "7A" "2A" "20" "0000" "2F2F" "0413" "39300000" "4413" "10270000"
       "426C" "5E39" "840413" "204E0000" "82046C" "5F38" "841013" "00100000" "02FD17" "4000")
XYZ_FILE = """\
# a water meter the gateway does not know
name = "xyz-water"
description = "XYZ test meter"
target_storage = 8

[[match]]
manufacturer = "xyz"
version = 1
device_type = 0x07

[[field]]
name = "total_tariff1_m3"
quantity = "volume"
tariff = 1

[error_flags]
REMOVED = { mask = 0x0040, alarm = "removal" }
LOW = 0x0001

[tpl_bits]
LEAK = { mask = 0x20, alarm = "leak" }
"""


def _xyz_telegram() -> bytes:
    body = bytes.fromhex(XYZ)
    return bytes([len(body)]) + body


def _registry(*added: MeterDecoder) -> DecoderRegistry:
    """A registry with the gateway's built-in decoders and ``added`` (the global one stays untouched)."""
    registry = DecoderRegistry(GENERIC)
    for decoder in REGISTRY.builtin[1:]:
        registry.register(decoder)
    registry.replace_added(added)
    return registry


def _example(name: str) -> MeterDecoder:
    path = EXAMPLES / name
    return parse_decoder(path.read_text(), path, taken=REGISTRY.builtin_names())


# -- the example files and their built-in twins --------------------------------------------------------


@pytest.mark.parametrize("file_name", sorted(TWINS))
def test_example_file_compiles_to_its_builtin_twin(file_name: str) -> None:
    from_file, builtin = _example(file_name), REGISTRY.named(TWINS[file_name])
    for item in dataclasses.fields(MeterDecoder):
        if item.name not in ("name", "description", "aliases"):
            assert getattr(from_file, item.name) == getattr(builtin, item.name), item.name


@pytest.mark.parametrize("file_name", sorted(TWINS))
def test_example_file_gives_the_same_readings_over_the_vectors(file_name: str) -> None:
    from_file, builtin = _example(file_name), REGISTRY.named(TWINS[file_name])
    registry = _registry(from_file)
    clear_caches()
    compared = 0
    for (vector, telegram), (_, again) in zip(parsed_vectors(), parsed_vectors(), strict=True):
        claimed_by_file = registry.find(telegram) is from_file
        assert claimed_by_file == (REGISTRY.find(telegram) is builtin), vector.name
        if not claimed_by_file:
            continue
        reading = registry.decode(telegram, AT, key=vector.key)
        expected = REGISTRY.decode(again, AT, key=vector.key)
        assert reading.decoder == from_file.name
        assert dataclasses.replace(reading, decoder=builtin.name) == expected, vector.name
        compared += 1
    assert compared >= 3  # the vectors hold 3 Minomess and 7 Kaden/Ecomess telegrams


# -- a meter nobody knows, described in a file --------------------------------------------------------


def test_a_decoder_file_reads_a_meter_nobody_claims() -> None:
    decoder = parse_decoder(XYZ_FILE)
    assert decoder.matches == (Match("XYZ", 0x01, 0x07),)
    reading = _registry(decoder).decode(parse_telegram(_xyz_telegram()), AT)
    assert reading.decoder == "xyz-water"
    assert reading.total_m3 == pytest.approx(12.345)
    assert reading.target_m3 == pytest.approx(20.0)
    assert reading.target_date == date(2026, 8, 31)
    assert reading.extra["total_tariff1_m3"] == pytest.approx(4.096)
    assert reading.alarms == {Alarm.REMOVAL, Alarm.LEAK}
    assert reading.status_raw == "tpl=0x20 error_flags=0x0040"
    assert set(str(reading.extra["status"]).split()) == {"REMOVED", "LEAK"}
    generic = _registry().decode(parse_telegram(_xyz_telegram()), AT)
    assert generic.decoder == "oms" and not generic.alarms
    assert generic.target_m3 == pytest.approx(10.0)
    assert "total_tariff1_m3" not in generic.extra


def test_lists_multiply_into_matches_and_standard_rows_can_come_last() -> None:
    decoder = parse_decoder(
        'name = "two"\nstandard_fields = "last"\n'
        '[[match]]\nmanufacturer = ["AAA", "BBB"]\nversion = [1, 2]\nci = [0x7A, 0x72]\n'
        '[[field]]\nname = "max_flow_m3h"\nquantity = "volume_flow"\n'
    )
    assert len(decoder.matches) == 4
    assert {(m.manufacturer, m.version, m.device_type) for m in decoder.matches} == {
        ("AAA", 1, None), ("AAA", 2, None), ("BBB", 1, None), ("BBB", 2, None)
    }
    assert all(m.ci == frozenset({0x7A, 0x72}) for m in decoder.matches)
    assert decoder.fields[0].name == "max_flow_m3h" and len(decoder.fields) > 1
    assert decoder.description == "two (decoder file)"


def test_field_options_reach_the_row() -> None:
    decoder = parse_decoder(
        'name = "rows"\nstandard_fields = "none"\n[[field]]\nname = "peak_m3h"\nquantity = "volume_flow"\n'
        'function = "maximum"\nstorage = "any"\ntariff = 2\nsubunit = "any"\ndirection = "backward"\n'
        'vif = [0x38, 0x3F]\nwithout = ["forward_flow"]\noccurrence = 1\n'
    )
    (row,) = decoder.fields
    assert (row.function.name, row.storage, row.tariff, row.subunit) == ("MAXIMUM", None, 2, None)  # type: ignore[union-attr]
    assert (row.direction.value, row.vif, row.without, row.occurrence) == (
        "backward", (0x38, 0x3F), frozenset({"forward_flow"}), 1
    )


# -- errors name the file, the line and the key --------------------------------------------------------


def _error(text: str, taken: frozenset[str] = frozenset()) -> DecoderFileError:
    with pytest.raises(DecoderFileError) as info:
        parse_decoder(text, Path("/etc/wmbus-gateway/decoders.d/x.toml"), taken=taken)
    return info.value


HEAD = 'name = "mine"\n[[match]]\nmanufacturer = "ABC"\n'  # lines 1-3


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        ('name = "Mine!"\n', "name", 1, "lower-case"),
        ('\nname = "mine"\nflavour = 1\n', "flavour", 3, "unknown key"),
        ('name = "mine"\nmedium = "beer"\n', "medium", 2, "unknown medium"),
        ('name = "mine"\nstandard_fields = "middle"\n', "standard_fields", 2, "first, last, none"),
        ('name = "mine"\nstandard_fields = "none"\n', "field", None, "at least one"),
        ('name = "mine"\ntarget_storage = 0\n', "target_storage", 2, "at least 1"),
        ('name = "mine"\nset_days = "yes"\n', "set_days", 2, "true or false"),
        ('name = "mine"\naliases = ["mine"]\n', "aliases", 2, "twice"),
        ('name = "mine"\n[[match]]\nversion = 1\n', "match[0]", 2, "manufacturer"),
        ('name = "mine"\n[[match]]\nmanufacturer = "ABCD"\n', "match[0].manufacturer", 3, "three-letter"),
        (HEAD + "version = 300\n", "match[0].version", 4, "0 to 255"),
        (HEAD + "device_type = [7, -1]\n", "match[0].device_type[1]", 4, "0 to 255"),
        (HEAD + "device_type = []\n", "match[0].device_type", 4, "empty list"),
        (HEAD + "colour = 1\n", "match[0].colour", 4, "unknown key"),
        (HEAD + '[[match]]\nmanufacturer = "ABC"\n', "match[1]", 4, "twice"),
        (HEAD + '[[field]]\nname = "x_m3"\nquantity = "volum"\n', "field[0].quantity", 6, "unknown quantity"),
        (HEAD + '[[field]]\nquantity = "volume"\n', "field[0]", 4, "'name'"),
        (HEAD + '[[field]]\nname = "target_m3"\nquantity = "volume"\n', "field[0].name", 5, "target_storage"),
        (HEAD + '[[field]]\nname = "meter_id"\nquantity = "volume"\n', "field[0].name", 5, "the gateway"),
        (HEAD + '[[field]]\nname = "a"\nquantity = "volume"\nfunction = "peak"\n', "field[0].function", 7,
         "instantaneous"),
        (HEAD + '[[field]]\nname = "a"\nquantity = "volume"\nstorage = -1\n', "field[0].storage", 7, '"any"'),
        (HEAD + '[[field]]\nname = "a"\nquantity = "volume"\nvif = [0x20, 0x10]\n', "field[0].vif", 7,
         "range"),
        (HEAD + '[[field]]\nname = "a"\nquantity = "volume"\nwithout = ["sideways"]\n',
         "field[0].without[0]", 7, "modifier"),
        (HEAD + '[[field]]\nname = "a"\nquantity = "volume"\nscale = 2\n', "field[0].scale", 7, "unknown"),
        (HEAD + "[error_flags]\nleaking = 0x20\n", "error_flags.leaking", 5, "upper-case"),
        (HEAD + "[error_flags]\nLEAK = 0\n", "error_flags.LEAK.mask", 5, "at least 1"),
        (HEAD + '[error_flags]\nLEAK = "0x20"\n', "error_flags.LEAK", 5, "a mask"),
        (HEAD + '[error_flags]\nLEAK = { mask = 0x20, alarm = "flood" }\n', "error_flags.LEAK.alarm", 5,
         "leak, burst"),
        (HEAD + "[error_flags]\nTYPE = { mask = 0x03, value = 0x04 }\n", "error_flags.TYPE", 5, "outside"),
        (HEAD + "[error_flags]\n", "error_flags", 4, "at least one flag"),
        (HEAD + "[tpl_bits]\nLOW_POWER = 0x04\n", "tpl_bits.LOW_POWER", 5, "outside the maker's bits 0xE0"),
    ],
)
def test_errors_name_the_key_and_its_line(text: str, key: str, line: int | None, words: str) -> None:
    err = _error(text)
    assert (err.key, err.line) == (key, line), str(err)
    assert words in err.message
    assert str(err).startswith(f"/etc/wmbus-gateway/decoders.d/x.toml{'' if line is None else f':{line}'}: ")


def test_a_syntax_error_has_its_line() -> None:
    err = _error('name = "mine"\n\n[[match]\n')
    assert err.line == 3 and "TOML syntax" in err.message


def test_the_built_in_names_are_taken() -> None:
    err = _error('# mine\nname = "minomess"\n', taken=REGISTRY.builtin_names())
    assert (err.key, err.line) == ("name", 2) and "another decoder" in err.message
    err = _error('name = "mine"\naliases = ["ok", "kadenwater"]\n', taken=REGISTRY.builtin_names())
    assert (err.key, err.line) == ("aliases[1]", 2)


def test_a_missing_name_is_an_error_of_the_file() -> None:
    err = _error('description = "no name"\n')
    assert (err.key, err.line) == ("", None) and "'name'" in err.message


# -- the registry's added decoders ---------------------------------------------------------------------


@pytest.fixture
def registry() -> Iterator[DecoderRegistry]:
    yield _registry()


def test_an_added_decoder_comes_before_a_builtin_under_the_same_key(registry: DecoderRegistry) -> None:
    telegram = parse_telegram(_xyz_telegram())
    builtin = MeterDecoder("xyz-builtin", (Match("XYZ", 0x01, 0x07),), "built in")
    registry.register(builtin)
    assert registry.find(telegram) is builtin
    added = MeterDecoder("xyz-file", (Match("XYZ", 0x01, 0x07),), "from a file")
    registry.replace_added([added])
    assert registry.find(telegram) is added
    assert registry.claims(telegram) is added and "xyz-file" in registry.names()
    registry.replace_added([])
    assert registry.find(telegram) is builtin and "xyz-file" not in registry.names()


def test_a_ci_restricted_builtin_still_comes_before_an_open_added_one(registry: DecoderRegistry) -> None:
    telegram = parse_telegram(_xyz_telegram())  # CI 0x7A
    builtin = MeterDecoder("xyz-7a", (Match("XYZ", 0x01, 0x07, frozenset({0x7A})),), "built in, CI 0x7A")
    registry.register(builtin)
    registry.replace_added([MeterDecoder("xyz-any", (Match("XYZ", 0x01, 0x07),), "any CI")])
    assert registry.find(telegram) is builtin


def test_a_name_clash_changes_nothing(registry: DecoderRegistry) -> None:
    kept = MeterDecoder("kept", (Match("XYZ"),), "kept")
    registry.replace_added([kept])
    before = registry.names()
    with pytest.raises(ValueError, match="registered twice"):
        registry.replace_added([MeterDecoder("other", (), "clash", aliases=("minomess",))])
    assert registry.names() == before and registry.added == (kept,)
    assert registry.claims(parse_telegram(_xyz_telegram())) is kept


def test_the_documented_format_compiles() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "decoders.md").read_text()
    example = text.split("### The format", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    decoder = parse_decoder(example, taken=REGISTRY.builtin_names())
    assert (decoder.name, decoder.target_storage, len(decoder.matches)) == ("acme-water", 8, 2)
    assert decoder.error_flags is not None and [f.label for f in decoder.error_flags.flags] == [
        "LEAKING", "WAS_LEAKING", "MODE_B"
    ]


# -- any file content gives a decoder or a DecoderFileError, never another exception -------------------

_KEYS = ("name", "description", "aliases", "medium", "standard_fields", "set_days", "latest_set_day",
         "target_storage", "match", "field", "error_flags", "tpl_bits", "manufacturer", "version",
         "device_type", "ci", "quantity", "function", "storage", "tariff", "subunit", "direction", "vif",
         "without", "occurrence", "mask", "alarm", "value", "LEAK", "x")
_SCALARS = st.one_of(
    st.sampled_from(["xyz", "ZRI", "volume", "any", "leak", "first", "none", "backward", "maximum", ""]),
    st.text(max_size=8),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 7, 0x20, 0x7A, 255, 256]),
    st.booleans(),
    st.floats(allow_nan=True),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5),
    max_leaves=20,
)


def _toml(value: object) -> str:
    """A value as a TOML literal (inline tables and arrays), enough for the fuzz test."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(key)} = {_toml(item)}" for key, item in value.items()) + "}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8))
def test_any_content_is_a_decoder_or_a_decoder_file_error(data: dict[str, object]) -> None:
    text = "\n".join(f"{json.dumps(key)} = {_toml(value)}" for key, value in data.items())
    with contextlib.suppress(DecoderFileError):
        assert isinstance(parse_decoder(text, taken=REGISTRY.builtin_names()), MeterDecoder)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(TWINS)),
    st.lists(st.tuples(st.integers(0, 10**6), st.text(max_size=3)), max_size=4),
)
def test_an_example_file_mutated_is_a_decoder_or_a_decoder_file_error(
    file_name: str, edits: list[tuple[int, str]]
) -> None:
    text = (EXAMPLES / file_name).read_text()
    for position, inserted in edits:  # replace a character (or none, at the end) by up to three
        at = position % (len(text) + 1)
        text = text[:at] + inserted + text[at + 1 :]
    with contextlib.suppress(DecoderFileError):
        assert isinstance(parse_decoder(text, taken=REGISTRY.builtin_names()), MeterDecoder)


def test_lists_may_not_multiply_into_too_many_matches() -> None:
    many = ", ".join(str(n) for n in range(256))
    err = _error(f'name = "many"\n[[match]]\nmanufacturer = ["AAA", "BBB"]\nversion = [{many}]\n')
    assert (err.key, err.line) == ("match[0]", 2) and "more than 256 matches" in err.message
