"""The captions of a folder: a CSV with a header ``file,caption``, file names relative to the folder.

Every problem a spreadsheet export brings is named with its line: a missing header column, an empty name or
caption, a second caption for one file, an absolute path outside the folder; a BOM is accepted.
"""
from __future__ import annotations

import csv
from pathlib import Path


def read_captions(captions_csv, folder) -> dict[str, str]:
    """``{relative file name: caption}`` from a CSV with columns ``file,caption`` (names relative to ``folder``)."""
    path = Path(captions_csv)
    if not path.is_file():
        raise ValueError(f"{path}: no such captions file; pass a CSV with columns file,caption")
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets often write a BOM
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if "file" not in columns or "caption" not in columns:
            raise ValueError(f"{path}: columns {columns}; the captions CSV needs a header with 'file' and 'caption'")
        reader.fieldnames = columns
        captions: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            name = Path((row.get("file") or "").strip()).as_posix()
            caption = (row.get("caption") or "").strip()
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
