# Notebook image with dask-kubeflow, and the worker image that matches it (docs/notebook.md).
#
#   docker build -f notebook.Dockerfile --target notebook -t registry.example.com/jupyter-dask:2026.8.0 .
#   docker build -f notebook.Dockerfile --target worker   -t registry.example.com/dask-worker:2026.8.0 .
#
# The notebook stage starts FROM a Kubeflow notebook image and adds the light install of
# dask-kubeflow (connect(), the CLI, status, doctor: no controller or gateway packages), the JupyterLab
# Dask sidebar (dask-labextension) and the Dask release the platform's workers run. The worker stage
# builds the Dask image the policy's `image` should name, with the same Python, Dask and extra
# packages, so connect()'s versions table shows no mismatch. Change the ARGs together.
#
# The root Dockerfile is the other image: the controller and the gateway (dask-kubeflow[platform]).

ARG NOTEBOOK_IMAGE=ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.10.0
ARG DASK_VERSION=2026.8.0
ARG PYTHON_VERSION=3.12
# Packages both sides must have at the same version (results are unpickled on both sides).
ARG SHARED_PACKAGES="numpy==2.3.5 pandas==2.3.3"

FROM python:${PYTHON_VERSION}-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${NOTEBOOK_IMAGE} AS notebook
ARG DASK_VERSION
ARG SHARED_PACKAGES
COPY --from=wheel /wheels /tmp/wheels
# The PodDefault (Configurations: "Connect to Dask cluster ...") sets the namespace, cluster,
# dashboard link and the sidebar's cluster factory by environment; the image only needs the code.
RUN pip install --no-cache-dir /tmp/wheels/*.whl "dask[distributed]==${DASK_VERSION}" \
        "dask-labextension>=7,<8" ${SHARED_PACKAGES} \
 && rm -rf /tmp/wheels \
 && prefix="$(python -c 'import sys; print(sys.prefix)')" \
 && mkdir -p "$prefix/share/jupyter/lab/settings" "$prefix/etc/jupyter" \
 && printf '%s\n' '{"dask-labextension:plugin": {"browserDashboardCheck": true}}' \
        > "$prefix/share/jupyter/lab/settings/overrides.json" \
 && printf '%s\n' 'from dask_kubeflow.client.labextension import proxy_host_allowed' \
        'c.ServerProxy.host_allowlist = proxy_host_allowed' >> "$prefix/etc/jupyter/jupyter_server_config.py"
# The sidebar lists the namespace's cluster (the PodDefault names dask_kubeflow's cluster factory) and
# shows its panes through this server's jupyter-server-proxy, which may reach only the schedulers of
# the notebook's own namespace (proxy_host_allowed). browserDashboardCheck: a dashboard URL typed in
# (the gateway's, behind the Kubeflow login) is checked by the browser, which has the login cookie.

FROM ghcr.io/dask/dask:${DASK_VERSION}-py${PYTHON_VERSION} AS worker
ARG SHARED_PACKAGES
RUN pip install --no-cache-dir ${SHARED_PACKAGES}
