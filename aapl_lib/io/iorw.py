"""Artifact I/O: atomic writes (temp file + rename), sha256, and the on-disk format of frames."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported only where frames are read or written (a no-op rerun needs none)
    import pandas as pd


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def current_umask() -> int:
    """The process's umask, read once without changing it where Linux tells it (``/proc/self/status``): every
    atomic write asks, and reading /proc each time cost a quarter of a second per run."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back at once
    os.umask(mask)
    return mask


DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def utc_now() -> str:
    """Current UTC time, ISO 8601, seconds: every timestamp a record keeps."""
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def parse_utc(text: Any):
    """A timestamp a record keeps (ISO 8601; naive means UTC) as an aware UTC datetime; None if absent or
    unreadable."""
    import datetime as dt

    if not isinstance(text, str) or not text:
        return None
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


def json_digest(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no spaces): params, task fingerprint parts."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def disk_error(path: str | os.PathLike, exc: OSError):
    """A StorageError for a write the disk refused (full, over quota, read-only); None for other errors."""
    if exc.errno not in DISK_ERRORS:
        return None
    from aapl_lib.errors import StorageError

    return StorageError(
        f"cannot write {path}: {exc.strerror}; the previous version of the file, if any, is "
        "unchanged: free space (or fix the folder), then python runner.py resume"
    )


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename (``durable``:
    flushed to the disk first, so that a power cut leaves the old or the new file, never an empty one).

    The file gets the mode a plain ``open()`` would give (0666 minus the umask: 0644 under 022), not
    ``mkstemp``'s private 0600, so reviewers and the workers of a shared filesystem can read it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if (error := disk_error(path, exc)) is None:
            raise
        raise error from exc
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if (error := disk_error(path, exc)) is None:
            raise
        raise error from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, durable: bool = True) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable)


def to_json_text(obj: Any) -> str:
    """Stable, readable JSON (sorted keys, 2-space indent) for artifacts and manifests."""
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "isoformat"):  # datetime, date, pandas Timestamp
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as JSON."""
    return atomic_write_text(path, to_json_text(obj))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_frame(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """Atomically write a date-indexed frame as CSV (dates as YYYY-MM-DD, floats round-trip exactly)."""
    text = frame.to_csv(date_format="%Y-%m-%d", lineterminator="\n")
    return atomic_write_text(path, text)


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    """Read a frame written by :func:`write_frame` (index parsed as dates, exact floats)."""
    import pandas as pd

    frame = pd.read_csv(path, index_col=0, parse_dates=[0], float_precision="round_trip")
    frame.index.name = frame.index.name or "date"
    return frame
