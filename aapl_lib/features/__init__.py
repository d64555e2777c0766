"""Step 3: the feature builder (``build``), analysts' own features (``extra``) and the leakage guard
(``leakage``)."""
