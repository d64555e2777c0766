"""Many tickers at once, one module a part:

``loop``       the batch: its id, its manifest, the jobs handed out, the outcome and its summary
``ticker``     one ticker's pipeline in a worker process, and the worker ending with the batch's runner
``executors``  what runs the jobs: a spawned process per ticker on this machine, or a Dask cluster
"""
