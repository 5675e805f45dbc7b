"""For your own tests of code that uses intentkb, and intentkb's tests and benchmarks: the scripted
OpenAI-compatible server (`scripted_server`: every bundled or given template answered in its reply
format, with faults on demand; `python -m intentkb.testing.scripted_server` for offline rehearsals)
and a real llama.cpp server with a small model (`llamacpp`, needs the dev extras). Everything here
is for users' tests too, which is why it ships in the wheel; the library never imports it
(tests/test_structure.py)."""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
