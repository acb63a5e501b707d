"""Error texts that go into the table: one line, no terminal escape sequences."""
from runner.errors import exception_text, one_line


def test_ansi_escapes_are_stripped_from_error_texts():
    # what the dynamo exporter's errors look like: colour codes around words, an OSC hyperlink
    raw = "\x1b[96mtorch.onnx\x1b[0m failed:\n  \x1b[1;31mError\x1b[0m \x1b]8;;https://x.y\x07docs\x1b]8;;\x07 here"
    assert one_line(raw) == "torch.onnx failed: Error docs here"
    assert exception_text(RuntimeError(raw)) == "RuntimeError: torch.onnx failed: Error docs here"
    assert "\x1b" not in exception_text(ValueError("\x1b[2K\x1b[1Gprogress\x1b(B"))


def test_plain_text_is_kept():
    assert one_line("a [1;31m b\tc") == "a [1;31m b c"  # brackets without ESC are not escape sequences
