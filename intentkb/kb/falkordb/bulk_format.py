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

from ..models import TREE_INTENTION_PROPS

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


def _text(v: str) -> bytes:
    b = v.encode("utf-8")
    if b"\x00" in b:
        raise ValueError("text holds a NUL character, which the bulk format cannot carry")
    return b"\x03" + b + b"\x00"


# encode_value by exact type, for the rows of a bulk load (millions of values: the isinstance chain
# cost a third of a worker's time); other types (subclasses) take the general path
_BY_TYPE: dict[type, Any] = {
    type(None): lambda v: NULL,
    str: _text,
    bool: lambda v: b"\x01\x01" if v else b"\x01\x00",
    int: lambda v: _STEPS.get(v) or b"\x04" + _LONG(v),
    float: lambda v: b"\x02" + _DOUBLE(v),
}


_FEW: dict[str | None, bytes] = {None: NULL}  # kind, model, prompt version, source: a handful of values


def _few(v: str | None) -> bytes:
    """The encoding of a value of few distinct ones, made once (a bounded memo)."""
    b = _FEW.get(v)
    if b is None:
        if len(_FEW) > 4096:
            _FEW.clear()
            _FEW[None] = NULL
        b = _FEW[v] = _text(v) if v is not None else NULL
    return b


def _tree_intention(props: Mapping[str, Any]) -> bytes:
    """`encode_entry(props, TREE_INTENTION_PROPS)` unrolled (a third of a worker's time went into
    the general path); the texts are validated free of control characters, so no NUL cuts one short."""
    g = props.get
    r, c, a = g("rationale"), g("comparison"), g("comparison_aspect")
    return b"".join(
        (
            b"\x03",
            props["id"].encode(),
            b"\x00\x03",
            props["text"].encode(),
            b"\x00",
            _few(props["kind"]),
            _STEPS.get(props["step"]) or b"\x04" + _LONG(props["step"]),
            b"\x03" + r.encode() + b"\x00" if r is not None else NULL,
            b"\x03" + c.encode() + b"\x00" if c is not None else NULL,
            b"\x03" + a.encode() + b"\x00" if a is not None else NULL,
            _few(g("model")),
            _few(g("prompt_version")),
            _few(g("source")),
        )
    )


def encode_rows(keys: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Rows as the entries of a blob whose header names `keys` (the loader's `encode_rows`; the
    ingest runs it in worker processes, so it stays a module-level function)."""
    if tuple(keys) == TREE_INTENTION_PROPS:
        return b"".join(map(_tree_intention, rows))
    by_type = _BY_TYPE
    out: list[bytes] = []
    append = out.append
    for r in rows:
        g = r.get
        for k in keys:
            v = g(k)
            f = by_type.get(type(v))
            append(f(v) if f is not None else encode_value(v))
    return b"".join(out)


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
