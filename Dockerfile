# The dask-kubeflow image: the controller and the dashboard gateway (deploy/base runs
# `dask-kubeflow controller` and `dask-kubeflow gateway` from it). Dask schedulers and workers
# do NOT use this image; they run the policy's `image` (plain Dask).
#
#   docker build -t registry.example.com/dask-kubeflow:0.1.0 .
#   (cd deploy/base && kustomize edit set image dask-kubeflow=registry.example.com/dask-kubeflow:0.1.0)

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[platform]'

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'dask-kubeflow[platform]' \
 && rm -rf /wheels \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin dask-kubeflow
# Numeric, so the pods' runAsNonRoot check can verify it.
USER 10001
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["dask-kubeflow"]
CMD ["--help"]
