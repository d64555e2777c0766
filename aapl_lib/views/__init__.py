"""What a reviewer reads: the run ``browser`` (Jinja2 ``templates/``), ``compare``, the ``dag`` picture,
notebooks rendered to HTML (``render``) and a batch's summary of its tickers (``batch_summary``)."""
