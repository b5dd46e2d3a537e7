"""Output files of a run: checked before the computation, written atomically after it.

A run may compute for an hour before it writes anything, so an output path that cannot be written must fail
first, in a second: :func:`check_output` (one path) and :func:`check_outputs` (several, which must also differ).
The write itself, :func:`write_atomic`, goes to a temporary file in the destination's folder (a rename is atomic
only within one file system) and is moved into place complete, so a reader — or a killed run — never leaves a
half-written file. The overwrite refusal is made by the move itself: ``os.link`` fails if the name exists, so
of two runs that passed the early check at the same time, exactly one creates the file and the other gets a
ValueError (a check followed by a write could let both "win", the second silently replacing the first).

Usage, e.g. a command with ``-o`` and ``--force``::

    output = check_output(args.output, "-o", exists_ok=args.force)          # before the computation
    ...                                                                       # the long part
    write_atomic(output, lambda f: np.savez(f, mu=mu, sigma=sigma), exists_ok=args.force)
    write_atomic(csv_path, lambda f: csv.writer(f).writerows(rows), text=True)  # text: UTF-8, newline=""
"""
from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import Callable, Mapping

# Where a file system has no hard links, the exclusive create falls back to O_EXCL on the final name.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


def check_output(path, flag: str = "output", *, exists_ok: bool = False) -> Path:
    """Check, before any computation, that ``path`` can be written; return it as a Path.

    The folder must exist and be writable, the path must not be a folder, and an existing file is an error
    unless ``exists_ok`` (``--force``). ``flag`` names the argument in the message (``"-o"``, ``"--csv"``).
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; pass a file name")
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: no permission to write in the folder {folder}; choose a folder you "
                         "can write to")
    if path.exists():
        if not exists_ok:
            raise ValueError(f"{flag} {path} exists; pass --force to overwrite it, or choose another name")
        if not os.access(path, os.W_OK):
            raise ValueError(f"{flag} {path}: no permission to overwrite it; choose another name")
    return path


def check_outputs(outputs: Mapping[str, object], *, exists_ok: bool = False) -> dict[str, Path]:
    """:func:`check_output` for each ``{flag: path}`` (``None`` paths skipped), and no two naming one file.

    Returns ``{flag: Path}`` for the paths given.
    """
    checked = {flag: check_output(path, flag, exists_ok=exists_ok) for flag, path in outputs.items()
               if path is not None}
    seen: dict[Path, str] = {}
    for flag, path in checked.items():
        key = path.resolve()
        if key in seen:
            raise ValueError(f"{seen[key]} and {flag} both name {path}; the second would replace the first: "
                             "give them different names")
        seen[key] = flag
    return checked


def write_atomic(path, write: Callable, *, exists_ok: bool = False, text: bool = False) -> Path:
    """Write ``path`` by calling ``write(file)`` on a temporary file in its folder, then moving it into place.

    ``write`` gets a binary file (``text=True``: a UTF-8 text file with ``newline=""``, as :mod:`csv` wants).
    With ``exists_ok=False`` the file is created only if no file of that name exists at the moment of the move
    — decided by the file system, so two concurrent writers cannot both succeed; the loser gets a ValueError
    and the winner's file stays. With ``exists_ok=True`` an existing file is replaced in one step. Whatever
    happens (an exception in ``write``, a full disk, a refusal), the temporary file is removed and ``path``
    is either untouched or complete. Returns ``path`` as a Path.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # 0o666 minus the umask, as a plain open() would give (mkstemp's files are private, 0o600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise ValueError(f"{path}: cannot write in {path.parent} ({err.strerror}); choose a folder you can "
                         "write to") from None
    try:
        with (open(fd, "w", encoding="utf-8", newline="") if text else open(fd, "wb")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        if exists_ok:
            os.replace(tmp, path)
        else:
            _create_exclusively(tmp, path)
    except OSError as err:  # a full disk, a quota, a vanished folder: say so in one line
        raise ValueError(f"{path}: writing failed ({err.strerror or err}); nothing was written there") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _create_exclusively(tmp: Path, path: Path) -> None:
    """Give ``tmp``'s content the name ``path`` only if that name is free, atomically."""
    try:
        os.link(tmp, path)  # fails with FileExistsError if the name is taken, whoever took it when
    except FileExistsError:
        raise _taken(path) from None
    except OSError as err:
        if err.errno not in _NO_LINKS:
            raise
        # No hard links here (e.g. FAT, some network mounts): claim the name, then move the content onto it.
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise _taken(path) from None
        os.replace(tmp, path)


def _taken(path: Path) -> ValueError:
    return ValueError(f"{path} exists (another run wrote it while this one computed); nothing was overwritten: "
                      "pass --force to overwrite it, or choose another name")


__all__ = ["check_output", "check_outputs", "write_atomic"]
