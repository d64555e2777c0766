"""The papermill engine the runner executes notebooks with: papermill's own (nbclient), saving the executed
notebook differently while it runs.

Papermill writes the whole output notebook at the start and the end of every cell, each time validating it
against the nbformat schema and writing it in place: about 10 ms a save and 20 saves a notebook, on the
critical path, and a runner killed in the middle of a write leaves a truncated file. Here a save while the
notebook runs writes the same JSON without the schema check, through a temporary file and a rename (a kill
leaves the previous save, whole); the last save, when the notebook ends or fails, is papermill's own —
validated, the same bytes — and flushed to the disk.
"""

from __future__ import annotations

import json

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

from aapl_lib.io.iorw import atomic_write_text

ENGINE_NAME = "aapl"


class _Saves(NotebookExecutionManager):
    final = False

    def save(self, **kwargs) -> None:  # type: ignore[override]
        if self.output_path:
            import nbformat

            if self.final:
                atomic_write_text(self.output_path, nbformat.writes(self.nb))
            else:  # the layout nbformat writes (sorted keys, indent 1), unchecked, not flushed to the disk
                from nbformat.v4.nbjson import BytesEncoder

                text = json.dumps(
                    self.nb, cls=BytesEncoder, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False
                )
                atomic_write_text(self.output_path, text, durable=False)
        self.last_save_time = self.now()

    def notebook_complete(self, **kwargs) -> None:  # type: ignore[override]
        self.final = True
        super().notebook_complete(**kwargs)


class RunnerEngine(NBClientEngine):
    """nbclient's engine with :class:`_Saves` as its execution manager."""

    @classmethod
    def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False,
                         autosave_cell_every=30, **kwargs):  # fmt: skip
        nb_man = _Saves(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


def register() -> str:
    """Register the engine with papermill (idempotent); its name for ``execute_notebook(engine_name=…)``."""
    papermill_engines.register(ENGINE_NAME, RunnerEngine)
    return ENGINE_NAME
