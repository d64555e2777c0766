#!/usr/bin/env python3
"""Run the pipeline: ``python runner.py [-f FILE] [-p KEY VALUE]... [--start-task T] [--end-task T]``.

See ``python runner.py --help`` and README.md.
"""

import sys

from aapl_lib.cli import main

if __name__ == "__main__":
    sys.exit(main())
