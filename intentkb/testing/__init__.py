"""Test doubles and real servers for tests and benchmarks (the scripted OpenAI-wire server, llama.cpp
on 127.0.0.1); the library never imports this package (tests/test_structure.py)."""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
