"""The captions CSV (``clip-score --captions``): read strictly, every malformed file named with its line and fix."""
import pytest

from percept_lib.pipeline.captions import read_captions


def _write(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "captions.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_quoted_commas_quotes_bom_crlf_and_blank_lines_are_read(tmp_path):
    path = _write(tmp_path, 'file,caption\r\na.png,"a cat, sitting on a ""red"" mat"\r\n\r\nb.png,a "big" dog\r\n',
                  "utf-8-sig")
    assert read_captions(path, tmp_path) == {"a.png": 'a cat, sitting on a "red" mat', "b.png": 'a "big" dog'}


def test_an_unquoted_comma_is_an_error_naming_the_line_and_the_fix(tmp_path):
    path = _write(tmp_path, "file,caption\na.png,a dog\nb.png,a cat, sitting on a mat\n")
    with pytest.raises(ValueError, match=r"captions\.csv, line 3: 3 fields but the header has 2 .*"
                                         r"quote captions that contain commas"):
        read_captions(path, tmp_path)


def test_a_stray_quote_that_swallows_the_next_line_is_an_error(tmp_path):
    # Valid CSV, but a.png's caption would become 'a "cat\nb.png,a dog' and b.png would lose its caption.
    path = _write(tmp_path, 'file,caption\na.png,"a cat\nb.png,a dog"\nc.png,a bird\n')
    with pytest.raises(ValueError, match=r"line 2: a quoted field runs over lines 2–3.*stray or unclosed quote"):
        read_captions(path, tmp_path)


def test_a_quote_never_closed_is_an_error(tmp_path):
    path = _write(tmp_path, 'file,caption\na.png,a dog\nb.png,"a cat\nc.png,a bird\n')
    with pytest.raises(ValueError, match=r"line 3: a quote opened on line 3 is never closed.*quote captions"):
        read_captions(path, tmp_path)


def test_text_after_a_closing_quote_is_an_error(tmp_path):
    path = _write(tmp_path, 'file,caption\na.png,"a" cat\n')
    with pytest.raises(ValueError, match=r"line 2: a quote breaks the CSV quoting"):
        read_captions(path, tmp_path)


def test_a_latin1_file_is_an_error_naming_the_line_and_the_fix(tmp_path):
    path = _write(tmp_path, "file,caption\na.png,a cat\nb.png,un café au lait\n", "latin-1")
    with pytest.raises(ValueError, match=r"captions\.csv, line 3: not UTF-8 \(byte 0xe9.*save the file as UTF-8"):
        read_captions(path, tmp_path)


@pytest.mark.parametrize("text, message", [
    ("name,text\na.png,x\n", "needs a header with 'file' and 'caption'"),
    ("file,caption\na.png\n", r"line 2: 1 field\(s\), expected file,caption"),
    ("file,caption\na.png, \n", "line 2: empty caption for a.png"),
    ("file,caption\na.png,x\na.png,y\n", "line 3: a.png has a second caption"),
    ("file,caption\n\n", "no captions"),
])
def test_other_malformed_files_are_named(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_captions(_write(tmp_path, text), tmp_path)
