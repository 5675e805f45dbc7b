"""One command over a connection of its own, its reply read with a byte cap.

redis-py reads a whole reply before the caller sees any of it, so `UNWIND range(1,3000000) AS x
RETURN x` cost the HTTP server 41 MB on the wire and 2.3 GB of Python objects before any row
limit could apply. Outside queries instead use a short-lived unix-socket connection: the command
is written in RESP, the reply is fed to hiredis as it arrives, and once more than `max_bytes` have
come the connection is closed (the server drops the rest). A read that passes `timeout` means the
server did not answer in time; the caller decides what that means.
"""

from __future__ import annotations

import socket
from typing import Any

import hiredis
import redis

from ...errors import StoreError
from ..guard import ResultTooLarge


class NoAnswer(StoreError):
    """The server accepted the command but sent no complete reply before the read deadline."""


def encode_command(args: list[Any]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts += [b"$%d\r\n" % len(b), b, b"\r\n"]
    return b"".join(parts)


def call(socket_path: str, args: list[Any], *, max_bytes: int, timeout: float) -> Any:
    """The reply to `args` (an error reply comes back as a redis ResponseError instance).

    Raises ResultTooLarge past `max_bytes`, NoAnswer past `timeout` seconds, and
    redis.exceptions.ConnectionError when the server is down or goes down meanwhile."""
    reader = hiredis.Reader(replyError=redis.exceptions.ResponseError)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(socket_path)
            s.settimeout(timeout)
            s.sendall(encode_command(args))
            got = 0
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    raise redis.exceptions.ConnectionError("the server closed the connection")
                got += len(chunk)
                if got > max_bytes:
                    raise ResultTooLarge(f"result refused: more than {max_bytes:,} bytes; the limit is {max_bytes:,}: add LIMIT or return fewer properties")
                reader.feed(chunk)
                reply = reader.gets()
                if reply is not False:
                    return reply
    except TimeoutError:
        raise NoAnswer(f"no answer within {timeout:g} s") from None
    except (ConnectionRefusedError, FileNotFoundError, ConnectionResetError, BrokenPipeError) as e:
        raise redis.exceptions.ConnectionError(str(e)) from e
