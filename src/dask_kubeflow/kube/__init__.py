"""The project's one Kubernetes vocabulary: names, kinds, errors, retries and the sync bridge.

Submodules are imported directly (``from dask_kubeflow.kube.names import ...``): ``names`` and
``kinds`` are pure and cheap, so ``policy`` and ``render`` can use them without pulling in kr8s;
``resources``, ``errors``, ``api`` and ``sync`` are for the parts that talk to the API server.
"""
