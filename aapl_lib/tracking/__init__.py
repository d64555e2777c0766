"""The live track record: every forecast a run makes is kept in a per-ticker ledger (``ledger``), scored once
its day has closed in a later run's prices (``scoring``), summed up against the naive baselines on the same
days (``record``, ``plots``), and watched for staleness, failures and drift (``health``)."""
