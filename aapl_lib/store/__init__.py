"""The only code that knows the layout of ``outputs/``: its paths (``layout``), a run's record
(``manifest``), finding and describing runs (``runs``), the reuse cache (``reuse_cache``) and deleting old
runs (``retention``)."""
