"""Kubernetes API emulator for tests, built on kmock. See tests/harness/README.md for what is emulated."""

from .errors import ApiError
from .faults import Fault
from .resources import default_crd_files
from .identity import Identity, UserInfo
from .sar import Rule
from .service import BUILTIN_NAMESPACES, Emulator, write_kubeconfig

__all__ = ["BUILTIN_NAMESPACES", "ApiError", "Emulator", "Fault", "Identity", "Rule", "UserInfo", "default_crd_files", "write_kubeconfig"]
