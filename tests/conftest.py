"""Shared fixtures. The Kubernetes harness (API emulator, local pod runner, upstream operator)
lives in tests/harness and is registered here so every test layer can use it."""

pytest_plugins = ["tests.harness.fixtures"]
