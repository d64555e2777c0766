"""Files at the edges: atomic writes and sha256 (``iorw``), locks (``locks``), the log format (``logs``), where
the project is (``project``). Standard library only, apart from filelock."""
