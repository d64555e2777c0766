"""Steps 1-2: price sources (``sources``: sample, yfinance, csv), ``ingestion``, the NYSE calendar
(``trading_calendar``), ``cleaning`` and the frames' schemas (``schemas``)."""
