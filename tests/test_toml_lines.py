"""KeyLines: the line of each key of a TOML text, for errors that name it."""

from __future__ import annotations

from gateway.toml_lines import KeyLines, format_key, syntax_error_line


def test_key_lines_handles_dotted_quoted_and_multiline() -> None:
    lines = KeyLines(
        '# c\na.b = 1\n[t]\n"quoted key" = 2\ns = """\nx = 1\n"""\ny = 3\n[[arr]]\nz = 1\n[[arr]]\nz = 2\n'
    )
    assert lines.line_of(("a", "b")) == 2
    assert lines.line_of(("t", "quoted key")) == 4
    assert lines.line_of(("t", "y")) == 8
    assert lines.line_of(("t", "x")) == 3  # inside the multi-line string: falls back to the table
    assert lines.line_of(("arr", 1, "z")) == 12


def test_format_key_and_syntax_error_line() -> None:
    assert format_key(("radio", 0, "device")) == "radio[0].device"
    assert syntax_error_line(ValueError("Expected '=' (at line 7, column 3)")) == 7
    assert syntax_error_line(ValueError("no position")) is None
