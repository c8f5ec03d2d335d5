"""pytest fixtures of the Kubernetes harness (filled in by the harness work)."""
