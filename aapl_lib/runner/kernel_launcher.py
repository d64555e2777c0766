"""``python -m aapl_lib.runner.kernel_launcher PARENT_PID -f CONNECTION_FILE``: ipykernel, ending with its runner.

jupyter_client starts each notebook's kernel in a session of its own, so when the runner is killed outright
(``kill -9``, the OOM killer) nothing stops the kernel: it would run on as an orphan, holding memory and
maybe writing into the run folder. This launcher starts a watcher thread that ends the kernel as soon as its
parent process — the runner that started it — is gone, then hands over to ipykernel's own launcher.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def _watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    while True:
        if os.getppid() != parent_pid:  # re-parented: the runner died
            os._exit(1)
        time.sleep(interval)


def main() -> None:
    """Start the watcher, then run ipykernel exactly as ``ipykernel_launcher`` does."""
    parent_pid = int(sys.argv.pop(1))
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    if sys.path and sys.path[0] in ("", os.getcwd()):  # as ipykernel_launcher: cwd off the path while loading
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
