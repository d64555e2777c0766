"""The kernels papermill runs the notebooks in, one module a part:

  ``manager``           the kernel manager a task starts (own interpreter, IPC sockets), how a kernel started,
                        the next notebook's kernel started ahead, shutting one down
  ``launcher``          the kernel's command (``python -m``): ends with its runner, asks the fork server first
  ``fork_server``       the warm process (``python -m``): imports the stack once, forks a kernel per notebook
  ``warm_pool``         this process's warm process: started, kept between runs, shared with a batch, stopped
  ``papermill_engine``  papermill's engine with cheaper saves while a notebook runs

Nothing is imported here: the launcher and the fork server start as ``python -m`` and must stay light.
"""
