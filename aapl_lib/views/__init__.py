"""What a reviewer reads: the run ``browser`` (Jinja2 ``templates/``), ``compare``, the ``dag`` picture and
notebooks rendered to HTML (``render``)."""
