"""``wmbus-gateway decode``: arguments, files and stdin in, one JSON line per telegram out, keys hidden."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli.app import app
from tests.vectors import all_vectors

runner = CliRunner()


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def _keyed() -> tuple[str, str]:
    vector = next(v for v in all_vectors() if v.key and len(v.key) == 16 and v.telegram[10] in (0x7A, 0x72))
    assert vector.key is not None
    return vector.telegram.hex(), vector.key.hex()


def test_arguments_in_order_with_a_failure_in_between() -> None:
    first, last = all_vectors()[1].telegram.hex(), all_vectors()[-1].telegram.hex()
    result = runner.invoke(app, ["decode", first, "1f44zz", last])
    assert result.exit_code == 1
    lines = _lines(result.stdout)
    assert len(lines) == 3
    assert lines[0]["id"] == all_vectors()[1].meter_id
    assert lines[1] == {"telegram": "1f44zz", "error": "not a hex string"}
    assert lines[2]["id"] == all_vectors()[-1].meter_id
    for line in (lines[0], lines[2]):
        assert {"manufacturer", "version", "device_type", "medium", "ci", "security_mode"} <= set(line)
        assert isinstance(line["records"], list)


def test_input_file_with_keys_comments_and_blank_lines(tmp_path: Path) -> None:
    telegram, key = _keyed()
    path = tmp_path / "telegrams.txt"
    path.write_text(f"# captured at the pump house\n\n{telegram} {key}\n{telegram}  # no key\n")
    result = runner.invoke(app, ["decode", "--input", str(path)])
    assert result.exit_code == 1
    decoded, missing = _lines(result.stdout)
    assert decoded["encrypted"] is True and decoded["records"]
    assert "no key" in str(missing["error"]) and missing["error_type"] == "KeyMissingError"
    # the error still names the meter with every header field read before it
    for name in ("id", "manufacturer", "version", "device_type", "medium", "ci", "access_number"):
        assert missing[name] == decoded[name], name
    assert key not in result.output.lower()


def test_a_long_header_behind_a_repeater_prints_both_ids() -> None:
    # DLL of a repeater (11111111), TPL long header of the meter (22334455, KAM), one volume record
    frame = bytes.fromhex("1c 44 2304 11111111 01 32 72 55443322 2d2c 1b 16 42 00 0000 0413f8110000")
    frame = bytes((len(frame) - 1,)) + frame[1:]
    (line,) = _lines(runner.invoke(app, ["decode", frame.hex()]).stdout)
    assert (line["id"], line["link_id"], line["manufacturer"]) == ("22334455", "11111111", "KAM")


def test_default_key_and_stdin() -> None:
    telegram, key = _keyed()
    result = runner.invoke(app, ["decode", "--key", key.upper(), "--input", "-"], input=f"{telegram}\n")
    assert result.exit_code == 0, result.output
    (line,) = _lines(result.stdout)
    assert line["encrypted"] is True and isinstance(line["records"], list)
    assert key not in result.output.lower()


def test_wrong_key_fails_without_showing_it() -> None:
    telegram, _ = _keyed()
    wrong = "00112233445566778899aabbccddeeff"
    result = runner.invoke(app, ["decode", "--key", wrong, telegram])
    assert result.exit_code == 1
    (line,) = _lines(result.stdout)
    assert line["error_type"] == "WrongKeyError" and wrong not in result.output.lower()


def test_records_carry_quantity_unit_and_value() -> None:
    vector = next(v for v in all_vectors() if v.telegram[10] == 0x7A and v.telegram[14] == 0 and not v.key)
    result = runner.invoke(app, ["decode", vector.telegram.hex()])
    assert result.exit_code == 0
    (line,) = _lines(result.stdout)
    records = line["records"]
    assert isinstance(records, list) and records
    assert {"quantity", "unit", "value", "storage", "tariff", "function"} <= set(records[0])


def test_reading_fields_are_merged() -> None:
    vector = next(v for v in all_vectors() if v.meter_type == "WaterMeter" and "total_m3" in v.expected
                  and v.telegram[10] == 0x7A and v.telegram[14] == 0)
    result = runner.invoke(app, ["decode", vector.telegram.hex()])
    (line,) = _lines(result.stdout)
    assert "decoder" in line and "received_at" in line


def test_every_vector_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "all.txt"
    path.write_text("\n".join(f"{v.telegram.hex()} {v.key.hex() if v.key else ''}" for v in all_vectors()))
    result = runner.invoke(app, ["decode", "-i", str(path)])
    lines = _lines(result.stdout)
    assert len(lines) == len(all_vectors())
    assert sum("error" in line for line in lines) <= len(lines) // 50


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert runner.invoke(app, ["decode"]).exit_code == 2
    secret = "0123456789abcdef0123456789abcde"  # 31 digits
    bad_key = runner.invoke(app, ["decode", "--key", secret, "2e44"])
    assert bad_key.exit_code == 2 and secret not in bad_key.output
    assert runner.invoke(app, ["decode", "--input", str(tmp_path / "missing.txt")]).exit_code == 2


def test_key_never_in_help() -> None:
    result = runner.invoke(app, ["decode", "--help"])
    assert result.exit_code == 0 and "--key" in result.output
