"""Functions for the advisor tests; in a module so the process pass can import them by name."""

import hashlib
import time

BUFFER = bytes(range(256)) * (1 << 15)  # 8 MiB, allocated once: hashing it never needs the GIL


def python_loop(n: int) -> int:
    """Pure Python: holds the GIL the whole time."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def hash_buffer(rounds: int) -> str:
    """hashlib on a large buffer: releases the GIL while it hashes."""
    digest = b""
    for _ in range(rounds):
        digest = hashlib.sha256(BUFFER).digest()
    return digest.hex()


def sleep_a_little(seconds: float) -> None:
    """Waiting (as I/O does): releases the GIL."""
    time.sleep(seconds)
