"""FalkorDB's GRAPH.BULK wire format: binary blobs of nodes and edges for a graph being built.

A blob describes one label (or relationship type): a header (name, property names) and then
entries. Node entries are property values; the server numbers nodes 0, 1, 2… in the order it
creates them, and edge entries name their endpoints by those numbers. Values are typed: a type byte
then the value (NUL-terminated UTF-8 for strings, little-endian 8-byte numbers). A null value sets
no property, as `SET n += {k: null}` would.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

NULL = b"\x00"
_LONG = struct.Struct("<q").pack
_DOUBLE = struct.Struct("<d").pack
_STEPS = {i: b"\x04" + _LONG(i) for i in range(64)}  # the small ints every intention node carries


def encode_value(v: Any) -> bytes:
    if v is None:
        return NULL
    if isinstance(v, str):
        b = v.encode("utf-8")
        if b"\x00" in b:
            raise ValueError("text holds a NUL character, which the bulk format cannot carry")
        return b"\x03" + b + b"\x00"
    if isinstance(v, bool):
        return b"\x01\x01" if v else b"\x01\x00"
    if isinstance(v, int):
        return _STEPS.get(v) or b"\x04" + _LONG(v)
    if isinstance(v, float):
        return b"\x02" + _DOUBLE(v)
    if isinstance(v, (list, tuple)):
        if any(x is None for x in v):
            raise ValueError("a list property cannot hold null")
        return b"\x05" + _LONG(len(v)) + b"".join(encode_value(x) for x in v)
    raise TypeError(f"cannot store a {type(v).__name__} as a property")


def encode_entry(props: Mapping[str, Any], keys: Sequence[str]) -> bytes:
    """One node's values in the order of its blob's header."""
    return b"".join([encode_value(props.get(k)) for k in keys])


def header(name: str, keys: Sequence[str]) -> bytes:
    return b"".join([name.encode() + b"\x00", struct.pack("<I", len(keys)), *(k.encode() + b"\x00" for k in keys)])


def node_blob(label: str, rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Blob of nodes given as property dicts; the header holds every key any row uses."""
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    order = list(keys)
    return header(label, order) + b"".join(encode_entry(r, order) for r in rows)


_PAIR = np.dtype([("src", "<u8"), ("dst", "<u8")])
_PAIR_LONG = np.dtype([("src", "<u8"), ("dst", "<u8"), ("type", "u1"), ("value", "<i8")])


def edge_blob(
    rel: str, src: np.ndarray | Iterable[int], dst: np.ndarray | Iterable[int], long_prop: tuple[str, np.ndarray | Iterable[int]] | None = None
) -> bytes:
    """Blob of edges from node numbers; optionally one integer property (VIEWED's `pos`)."""
    src = np.asarray(src, dtype=np.uint64)
    dst = np.asarray(dst, dtype=np.uint64)
    if src.shape != dst.shape:
        raise ValueError("edge endpoints differ in length")
    if long_prop is None:
        out = np.empty(len(src), dtype=_PAIR)
        keys: list[str] = []
    else:
        out = np.empty(len(src), dtype=_PAIR_LONG)
        out["type"] = 4
        out["value"] = np.asarray(long_prop[1], dtype=np.int64)
        keys = [long_prop[0]]
    out["src"], out["dst"] = src, dst
    return header(rel, keys) + out.tobytes()
