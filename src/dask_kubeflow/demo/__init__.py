"""The NLP demo: term and bigram frequencies over a corpus read on the workers.

Pure-Python tokenizing holds the GIL, so this is the seed's threads-vs-processes question made
measurable: ``dask-kubeflow demo --compare`` times the same per-document function serially, on
Dask's threaded and multiprocessing schedulers, and on the distributed cluster.
"""
