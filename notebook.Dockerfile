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
ARG SHARED_PACKAGES="numpy pandas"

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
 && mkdir -p "$(python -c 'import sys; print(sys.prefix)')/share/jupyter/lab/settings" \
 && printf '%s\n' '{"dask-labextension:plugin": {"browserDashboardCheck": true}}' \
        > "$(python -c 'import sys; print(sys.prefix)')/share/jupyter/lab/settings/overrides.json"
# browserDashboardCheck: the dashboard sits behind the Kubeflow login, which only the browser's own
# requests carry; a check from the notebook server would be sent to the login page.

FROM ghcr.io/dask/dask:${DASK_VERSION}-py${PYTHON_VERSION} AS worker
ARG SHARED_PACKAGES
RUN pip install --no-cache-dir ${SHARED_PACKAGES}
