"""The decoder folder: files loaded into a registry, broken ones refused alone, last good versions kept."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.decoders.folder import MAX_FILE_BYTES, DecoderFolder, read_decoder_file
from gateway.decoders.registry import DecoderRegistry
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.test_decoder_files import XYZ_FILE, _registry, _xyz_telegram

OTHER_FILE = 'name = "abc-water"\n[[match]]\nmanufacturer = "ABC"\n'


@pytest.fixture
def registry() -> DecoderRegistry:
    return _registry()


def test_the_files_of_a_folder_are_added_in_name_order(tmp_path: Path, registry: DecoderRegistry) -> None:
    (tmp_path / "b-xyz.toml").write_text(XYZ_FILE)
    (tmp_path / "a-abc.toml").write_text(OTHER_FILE)
    (tmp_path / ".hidden.toml").write_text("not toml at all [")
    (tmp_path / "xyz.toml~").write_text("an editor's backup")
    (tmp_path / "notes.txt").write_text("not a decoder file")
    report = DecoderFolder(registry).load(tmp_path)
    assert [(path.name, decoder.name) for path, decoder in report.loaded] == [
        ("a-abc.toml", "abc-water"), ("b-xyz.toml", "xyz-water")
    ]
    assert report.refused == () and report.level(folder_configured=True) == logging.INFO
    assert report.summary() == (
        f"decoder files in {tmp_path}: 2 loaded: abc-water (a-abc.toml), xyz-water (b-xyz.toml)"
    )
    assert [decoder.name for decoder in registry.added] == ["abc-water", "xyz-water"]
    assert registry.find(parse_telegram(_xyz_telegram())).name == "xyz-water"


def test_a_broken_file_is_refused_alone_and_keeps_its_last_good_version(
    tmp_path: Path, registry: DecoderRegistry
) -> None:
    folder = DecoderFolder(registry)
    xyz, abc = tmp_path / "xyz.toml", tmp_path / "abc.toml"
    xyz.write_text(XYZ_FILE)
    folder.load(tmp_path)
    builtins = registry.builtin
    xyz.write_text(XYZ_FILE.replace('quantity = "volume"', 'quantity = "volume"\nunit = "m3"'))
    abc.write_text(OTHER_FILE)
    report = folder.load(tmp_path)
    assert [decoder.name for decoder in report.decoders] == ["abc-water", "xyz-water"]
    (error,) = report.refused
    assert (error.path, error.line, error.key) == (xyz, 14, "field[0].unit")
    assert report.kept == {xyz}
    assert report.level(folder_configured=False) == logging.WARNING
    assert report.summary().endswith(
        f"; 1 refused: {xyz}:14: field[0].unit: unknown key (its previous version stays)"
    )
    assert registry.builtin == builtins
    assert registry.find(parse_telegram(_xyz_telegram())).name == "xyz-water"
    # A file that never loaded has no version to keep; a file taken away takes its decoder with it.
    xyz.unlink()
    abc.unlink()
    (tmp_path / "new.toml").write_text(OTHER_FILE + "version = 999\n")
    report = folder.load(tmp_path)
    assert report.loaded == () and report.kept == frozenset() and len(report.refused) == 1
    assert registry.added == ()
    assert registry.find(parse_telegram(_xyz_telegram())).name == "oms"


def test_two_files_may_not_share_a_name(tmp_path: Path, registry: DecoderRegistry) -> None:
    (tmp_path / "a.toml").write_text(XYZ_FILE)
    (tmp_path / "b.toml").write_text(f"# the same name again\n{XYZ_FILE}")
    report = DecoderFolder(registry).load(tmp_path)
    assert [path.name for path, _ in report.loaded] == ["a.toml"]
    (error,) = report.refused
    assert (error.path, error.line, error.key) == (tmp_path / "b.toml", 3, "name")


def test_a_missing_folder_means_builtin_decoders_only(tmp_path: Path, registry: DecoderRegistry) -> None:
    folder = DecoderFolder(registry)
    (tmp_path / "xyz.toml").write_text(XYZ_FILE)
    folder.load(tmp_path)
    report = folder.load(tmp_path / "nowhere")
    assert report.missing and registry.added == ()
    assert report.level(folder_configured=False) == logging.INFO
    assert report.level(folder_configured=True) == logging.WARNING
    assert "no folder" in report.summary()


def test_files_that_cannot_be_read_are_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'name = "caf\xe9"\n')
    big = tmp_path / "big.toml"
    big.write_text("#" * (MAX_FILE_BYTES + 1))
    for path, words in ((latin, "not UTF-8"), (big, "at most"), (tmp_path / "gone.toml", "no such file")):
        with pytest.raises(Exception, match=words) as info:
            read_decoder_file(path)
        assert str(info.value).startswith(f"{path}: ")
