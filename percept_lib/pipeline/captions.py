"""The captions of a folder: a CSV with a header ``file,caption``, file names relative to the folder.

Read strictly, because a caption silently cut or merged is a wrong score nobody sees. Every problem a
spreadsheet or a hand-edited file brings is an error naming the file, the line and the fix: more fields than
the header (an unquoted comma: ``a.png,a cat, sitting`` would lose ``sitting``), a quote that is never closed
or that swallows the next lines into one caption (a caption spanning lines), a file that is not UTF-8 (a
Latin-1 export), a missing header column, an empty name or caption, a second caption for one file, an
absolute path outside the folder. A BOM is accepted; blank lines are ignored.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

_QUOTE_FIX = ('quote captions that contain commas or quotes as a whole, doubling the quotes inside: '
              'a.png,"a cat, sitting on a ""red"" mat"')


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # -sig: spreadsheets often write a BOM
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 (byte 0x{data[err.start]:02x}; a Latin-1 or Windows "
                         "export?); save the file as UTF-8 (in a spreadsheet: CSV UTF-8)") from None


def _rows(path: Path):
    """``(first line, fields)`` of each non-blank record, with the csv module's strict quoting rules."""
    reader = csv.reader(io.StringIO(_text(path), newline=""), strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            what = (f"a quote opened on line {start} is never closed" if "end of data" in str(err)
                    else f"a quote breaks the CSV quoting ({err})")
            raise ValueError(f"{path}, line {start}: {what}; {_QUOTE_FIX}") from None
        end = reader.line_num
        if end > start and any("\n" in f or "\r" in f for f in fields):
            raise ValueError(f"{path}, line {start}: a quoted field runs over lines {start}–{end}, so those lines "
                             "became one caption — a stray or unclosed quote? A caption must fit on one line; "
                             f"{_QUOTE_FIX}")
        if fields:
            yield start, fields


def read_captions(captions_csv, folder) -> dict[str, str]:
    """``{relative file name: caption}`` from a CSV with columns ``file,caption`` (names relative to ``folder``)."""
    path = Path(captions_csv)
    if not path.is_file():
        raise ValueError(f"{path}: no such captions file; pass a CSV with columns file,caption")
    rows = _rows(path)
    header = next(rows, (1, []))[1]
    columns = [c.strip() for c in header]
    if "file" not in columns or "caption" not in columns:
        raise ValueError(f"{path}: columns {columns}; the captions CSV needs a header with 'file' and 'caption'")
    i_file, i_caption = columns.index("file"), columns.index("caption")
    captions: dict[str, str] = {}
    for line, fields in rows:
        if len(fields) > len(columns):
            raise ValueError(f"{path}, line {line}: {len(fields)} fields but the header has {len(columns)} "
                             f"({','.join(columns)}): {','.join(fields)!r}; {_QUOTE_FIX}")
        if len(fields) <= max(i_file, i_caption):
            raise ValueError(f"{path}, line {line}: {len(fields)} field(s), expected {','.join(columns)}")
        name = Path(fields[i_file].strip()).as_posix()
        caption = fields[i_caption].strip()
        if not name or name == ".":
            raise ValueError(f"{path}, line {line}: empty file name")
        if not caption:
            raise ValueError(f"{path}, line {line}: empty caption for {name}")
        if Path(name).is_absolute():
            try:
                name = Path(name).relative_to(Path(folder).resolve()).as_posix()
            except ValueError:
                raise ValueError(f"{path}, line {line}: {name} is not inside {folder}; use names relative "
                                 "to the folder") from None
        if name in captions:
            raise ValueError(f"{path}, line {line}: {name} has a second caption; give each image one")
        captions[name] = caption
    if not captions:
        raise ValueError(f"{path}: no captions; add rows file,caption")
    return captions
