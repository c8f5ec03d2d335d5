"""The NLP demo: the seed's threads-vs-processes point, measured on real words.

Two workloads over the same documents (``workloads.py``): term and bigram counts in pure Python
(``nlp.py``, ``text.py``: holds the GIL, so processes win) and MinHash near-duplicate sketches in
NumPy (``sketch.py``: releases the GIL, so threads win). ``corpus.py`` makes an English corpus from
real word frequencies or reads ``--corpus`` files on the workers; ``run.py`` times a workload
serially, on Dask's local schedulers and on a distributed cluster; ``suite.py`` runs the demo's
phases with one progress display (``progress.py``); ``compare.py`` and ``report.py`` say who won.
Needs the ``demo`` extra: ``pip install 'dask-kubeflow[demo]'``. Layout advice for your own
function lives in ``dask_kubeflow.advisor``.
"""
