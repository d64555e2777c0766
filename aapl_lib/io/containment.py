"""Names read from files of the outputs folder (a registry record's model file, a cache entry's run id and
artifact paths) are data that may be hostile: before one becomes a path, it must be a plain name or a plain
relative path, and the path it makes must stay inside the folder it belongs to once symlinks are followed.

Standard library only: the runner's no-op path uses it without importing pandas.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from aapl_lib.errors import UntrustedFileError


def plain_name(name: object, what: str) -> str:
    """``name`` when it is one plain file name (no folder, no ``..``, not absolute, no NUL); otherwise an
    UntrustedFileError saying ``what`` named it."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise UntrustedFileError(f"{what} names {name!r}, which is not a plain file name in its own folder: refused")
    return name


def relative_path(rel: object, what: str) -> str:
    """``rel`` when it is a relative POSIX path without ``..``, ``.`` parts, backslashes or NUL; otherwise an
    UntrustedFileError saying ``what`` named it."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel:
        raise UntrustedFileError(f"{what} names {rel!r}, which is not a relative path inside its folder: refused")
    parts = PurePosixPath(rel).parts
    if PurePosixPath(rel).is_absolute() or any(part in ("..", ".") for part in parts) or rel != "/".join(parts):
        raise UntrustedFileError(f"{what} names {rel!r}, which is not a relative path inside its folder: refused")
    return rel


def inside(base: Path, rel: str, what: str) -> Path:
    """``base / rel`` when ``rel`` is a plain relative path and the file it names, symlinks followed, is inside
    ``base`` (itself resolved); otherwise an UntrustedFileError naming the file and where it leads."""
    path = Path(base) / relative_path(rel, what)
    resolved, root = path.resolve(), Path(base).resolve()
    if not resolved.is_relative_to(root):
        raise UntrustedFileError(
            f"{what}: {path} leads outside {root} (to {resolved}, through a symlink): refused; "
            "remove the link and restore the file"
        )
    return path
