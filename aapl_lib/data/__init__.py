"""Steps 1-2: price sources (``sources/``: the registry, one module a source — ``sample``, ``yahoo``,
``csv_file`` — and the raw frame they share, ``raw_frame``), ``ingestion``, the NYSE calendar
(``trading_calendar``), ``cleaning``, the quality report's checks and tables (``quality_report``) and the
frames' schemas (``schemas``)."""
