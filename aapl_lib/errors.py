"""Exceptions that carry a message meant for the person running the pipeline."""


class PipelineError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class ParameterError(PipelineError):
    """A parameter or a command-line option is invalid (exit code 2, nothing runs)."""


class DataSourceError(PipelineError):
    """The data source gave nothing usable (unknown ticker, malformed file, empty window)."""


class TransientSourceError(DataSourceError):
    """A network-style failure that is worth retrying."""


class MissingInputError(PipelineError):
    """An upstream artifact a step needs is not there."""


class DataQualityError(PipelineError):
    """The data cannot be used for modelling (too short, no valid rows...)."""


class IntegrityError(PipelineError):
    """A file does not match the sha256 recorded for it."""


class CorruptStateError(IntegrityError):
    """A state file of the pipeline (a manifest, the registry) is damaged: truncated, not JSON, or lacking
    what it must hold. The message names the file and what to do."""


class UntrustedFileError(IntegrityError):
    """A file in the outputs folder asks for something a run never does on a file's say-so: load a pickle,
    reach outside its own folder (an absolute path, ``..``, a symlink leading out). ``outputs/`` is data that
    may be hostile (docs/trust.md); the message names the file and what to do."""


class StorageError(PipelineError):
    """The disk refused a write (full, over quota, read-only). The file being written is left as it was."""


class ModelVersionError(PipelineError):
    """A saved model was trained under another scikit-learn major.minor and ``model_version_mismatch`` is
    ``refuse``."""


class ModelWarning(UserWarning):
    """A saved model was loaded, but a reviewer should know something about it (trained under another
    scikit-learn)."""
