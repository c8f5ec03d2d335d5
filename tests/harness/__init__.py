"""The Kubernetes test harness: API emulator, local pod runner, upstream operator. See README.md."""
