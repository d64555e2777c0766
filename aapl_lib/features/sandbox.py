"""A fence around an analyst's feature function: it sees the prices it is given and nothing else.

While :func:`confined` is active on a thread, an audit hook (:func:`sys.addaudithook`) refuses, on that thread
only, what would let a feature learn something the leakage guard cannot cut at a day:

* opening a file for **writing** anywhere (and removing, renaming, linking or creating files and folders),
  except the bytecode cache (``__pycache__/*.pyc``) that importing a module writes;
* opening a file for **reading**, except Python code and extension modules (``.py``, ``.pyc``, ``.so``, ...),
  package metadata (``*.dist-info``, ``*.egg-info``), files inside the interpreter's own installation
  (``sys.prefix``, ``sys.base_prefix``, the site-packages folders), the system time-zone database and the
  kernel's ``/proc`` and ``/sys`` facts, so that a function may still import and use a library lazily (a path
  that does not exist is not refused either: the open fails by itself);
* every ``socket.*`` event, ``urllib.Request`` and ``sqlite3.connect`` (the network and databases);
* starting processes (``subprocess.Popen``, ``os.system``, ``os.exec*``, ``os.posix_spawn``, ``os.spawn*``,
  ``os.fork``, ``os.forkpty``, ``pty.spawn``) or signalling them (``os.kill``, ``os.killpg``);
* starting a thread: the fence is per thread, a new thread would be outside it (Python 3.11 has no audit event
  for it, so :func:`install` also wraps ``_thread.start_new_thread`` and ``threading``'s reference to it);
* loading a shared library with ctypes from outside the installation (``ctypes.dlopen``).

Listing folders and ``stat`` are allowed (the import system needs them; they give no prices). A refused action
raises :class:`Refused` (a :class:`PermissionError`) in the function *and* is recorded, so a function that
catches the error and falls back is still stopped: :func:`confined` yields the list of refusals and the caller
(:func:`aapl_lib.features.extra.compute`) fails the feature when it is not empty.

The hook is installed once per process and cannot be removed; when no thread is confined it returns after
one global lookup, so the kernel's other work (and its own threads: iopub, heartbeat) is not affected.

This is a guard against a feature that reads what it should be given, not a security boundary: Python code
running in the same process can always reach around an in-process fence (C extensions doing their own I/O,
such as pyarrow's readers, are not seen by the hook at all).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi", ".so", ".pyd", ".pth")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PROCESS_EVENTS = {
    "subprocess.Popen": "start a process",
    "os.system": "run a shell command",
    "os.exec": "replace the process (os.exec*)",
    "os.posix_spawn": "start a process (os.posix_spawn)",
    "os.spawn": "start a process (os.spawn*)",
    "os.fork": "fork the process",
    "os.forkpty": "fork the process (os.forkpty)",
    "pty.spawn": "start a process (pty.spawn)",
    "os.startfile": "start a program (os.startfile)",
    "os.kill": "signal a process",
    "os.killpg": "signal a process group",
    "_thread.start_new_thread": "start a thread",
}
_FILE_CHANGE_EVENTS = {  # event -> (verb, which args are paths)
    "os.remove": ("remove", (0,)),
    "os.rename": ("rename", (0, 1)),
    "os.mkdir": ("create the folder", (0,)),
    "os.rmdir": ("remove the folder", (0,)),
    "os.link": ("link", (0, 1)),
    "os.symlink": ("link", (0, 1)),
    "os.truncate": ("truncate", (0,)),
    "os.chmod": ("change the mode of", (0,)),
    "os.chown": ("change the owner of", (0,)),
    "os.utime": ("change the times of", (0,)),
}
_NETWORK_TARGET = {  # event -> which argument names the host or address
    "socket.connect": 1,
    "socket.bind": 1,
    "socket.sendto": 2,
    "socket.getaddrinfo": 0,
    "socket.gethostbyname": 0,
    "socket.gethostbyname_ex": 0,
    "urllib.Request": 0,
    "http.client.connect": 1,
}
_NETWORK_PREFIXES = ("socket.", "urllib.Request", "http.client.", "ftplib.", "smtplib.", "poplib.", "imaplib.")


class Refused(PermissionError):
    """Raised inside a confined function for an action the fence refuses."""


class _State(threading.local):
    refused: list[str] | None = None  # the refusals of the confined call on this thread; None: not confined
    busy: bool = False  # the hook is classifying an event (its own calls must not be judged)


_state = _State()
_confined_threads = 0  # how many threads are confined now: the hook's one-lookup exit when 0
_lock = threading.Lock()
_installed = False
_SYSTEM_INFO = ("/proc", "/sys")  # virtual files about the machine, never data (open descriptors excepted)
_allowed_roots: tuple[str, ...] = ()


@contextmanager
def confined() -> Iterator[list[str]]:
    """Confine the current thread while the block runs; yields the list the refusals are appended to."""
    global _confined_threads
    install()
    refused: list[str] = []
    outer = _state.refused
    _state.refused = refused
    with _lock:
        _confined_threads += 1
    try:
        yield refused
    finally:
        with _lock:
            _confined_threads -= 1
        _state.refused = outer
        if outer is not None:  # a nested fence's refusals are the outer call's too
            outer.extend(refused)


def install() -> None:
    """Add the audit hook once per process (it cannot be removed; it idles when nothing is confined)."""
    global _installed, _allowed_roots
    with _lock:
        if _installed:
            return
        _allowed_roots = installation_roots()
        sys.addaudithook(_hook)
        _guard_thread_starts()
        _installed = True


def _guard_thread_starts() -> None:
    """Refuse new threads on a confined thread (3.11 raises no audit event for them; 3.12+ also hooks them)."""
    import _thread

    start = _thread.start_new_thread

    def start_new_thread(function, args, kwargs=None):  # noqa: ANN001, ANN202 - _thread's own signature
        if _confined_threads and _state.refused is not None and not _state.busy:
            what = "tried to start a thread"
            _state.refused.append(what)
            raise Refused(f"refused while computing a feature: {what} (a feature function sees only its prices)")
        return start(function, args, *(() if kwargs is None else (kwargs,)))

    _thread.start_new_thread = start_new_thread
    threading._start_new_thread = start_new_thread  # what threading.Thread.start calls


def installation_roots() -> tuple[str, ...]:
    """Folders whose files a confined function may read: the interpreter's installation, its site-packages
    and the system time-zone database. The filesystem root itself is never one (it would allow everything)."""
    import site
    import sysconfig

    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    candidates += [sysconfig.get_paths().get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    candidates += [*getattr(site, "getsitepackages", list)(), site.getusersitepackages()]
    try:
        import zoneinfo

        candidates += list(zoneinfo.TZPATH)
    except ImportError:  # pragma: no cover - zoneinfo is in the standard library since 3.9
        pass
    roots = {os.path.realpath(c) for c in candidates if c}
    return tuple(sorted(r for r in roots if r != os.path.sep))


def _hook(event: str, args: tuple) -> None:
    if not _confined_threads:  # the common case, for every audited event of the process: one global lookup
        return
    state = _state
    if state.refused is None or state.busy:
        return
    state.busy = True
    try:
        what = refusal(event, args, _allowed_roots)
    finally:
        state.busy = False
    if what is not None:
        state.refused.append(what)
        raise Refused(f"refused while computing a feature: {what} (a feature function sees only its prices)")


def refusal(event: str, args: tuple, roots: tuple[str, ...]) -> str | None:
    """What ``event`` with ``args`` tried, in words, when the fence refuses it; None when it is allowed."""
    if event == "open":
        return _open_refusal(*args[:3], roots=roots)
    if event in _PROCESS_EVENTS:
        return f"tried to {_PROCESS_EVENTS[event]}{_process_target(event, args)}"
    if event in _FILE_CHANGE_EVENTS:
        verb, positions = _FILE_CHANGE_EVENTS[event]
        paths = [_path(args[i]) for i in positions if i < len(args)]
        if all(_is_bytecode_cache(p) for p in paths):
            return None  # importing a module caches its bytecode
        return f"tried to {verb} {' -> '.join(paths)}"
    if event.startswith(_NETWORK_PREFIXES):
        where = _NETWORK_TARGET.get(event)
        target = f" {_shown(args[where])}" if where is not None and len(args) > where else ""
        return f"used the network ({event}{target})"
    if event == "sqlite3.connect":
        return f"opened the database {_shown(args[0]) if args else ''}".rstrip()
    if event == "ctypes.dlopen":
        name = args[0] if args else None
        if name is None or _inside(_path(name), roots):
            return None  # the interpreter itself (ctypes' own import) or a library of the installation
        return f"loaded the library {_path(name)} with ctypes"
    return None


def _process_target(event: str, args: tuple) -> str:
    """`` (the command)`` for an event that names one."""
    if event == "subprocess.Popen" and len(args) > 1:
        return f" ({_shown(args[1])})"
    if event in ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn") and args:
        return f" ({_shown(args[1] if event == 'os.spawn' and len(args) > 1 else args[0])})"
    return ""


def _open_refusal(path: object, mode: object = None, flags: object = None, *, roots: tuple[str, ...]) -> str | None:
    writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        isinstance(flags, int) and bool(flags & _WRITE_FLAGS)
    )
    if isinstance(path, int):
        return f"opened file descriptor {path} for {'writing' if writing else 'reading'}"
    shown = _path(path)
    if writing:
        return None if _is_bytecode_cache(shown) else f"opened {shown} for writing"
    if shown.endswith(CODE_SUFFIXES) or ".so." in os.path.basename(shown) or _inside(shown, roots):
        return None  # code being imported, or the installation's own files (a library's data, time zones)
    if _inside(shown, _SYSTEM_INFO) and "/fd/" not in shown:
        return None  # the kernel's facts (CPU count and cgroup limits that libraries read on import)
    if any(part.endswith((".dist-info", ".egg-info")) for part in shown.split(os.path.sep)):
        return None  # package metadata (importlib.metadata's entry points, read by scikit-learn and others)
    if not os.path.exists(shown):
        return None  # nothing to read: the open fails by itself (importlib.metadata probes sys.path entries)
    return f"opened {shown} for reading"


def _path(value: object) -> str:
    """An absolute, symlink-resolved path for a str/bytes/PathLike argument."""
    try:
        raw = os.fsdecode(os.fspath(value))
    except TypeError:
        return repr(value)
    return os.path.realpath(raw)


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root + os.path.sep) for root in roots)


def _is_bytecode_cache(path: str) -> bool:
    """``.../__pycache__/mod.cpython-311.pyc`` or the temporary ``...pyc.<id>`` importlib writes first."""
    folder, name = os.path.split(path)
    return (os.path.basename(folder) == "__pycache__" and ".pyc" in name) or name == "__pycache__"


def _shown(value: object) -> str:
    """An argument of an event, short enough for a one-line message."""
    if isinstance(value, (list, tuple)):
        value = " ".join(os.fsdecode(v) if isinstance(v, (str, bytes, os.PathLike)) else str(v) for v in value)
    text = os.fsdecode(value) if isinstance(value, (bytes, os.PathLike)) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
