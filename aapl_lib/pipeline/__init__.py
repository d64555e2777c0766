"""What runs, as data: the six task specs (``tasks``), every parameter declared once (``parameters``),
profiles and overrides read and checked against them (``config``), an ``extra_features`` entry's form
(``feature_specs``), run and task states (``states``) and exit codes (``exit_codes``)."""
