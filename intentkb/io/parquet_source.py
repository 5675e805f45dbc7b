"""Parquet records, one row group at a time, numbered from 1; a corrupt page ends the file with
`InputBroken` after the rows before it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import FormatError
from .lines import InputBroken, Record, _check_file


def parquet_records(path: Path, required: Iterable[str], batch_rows: int = 8192) -> Iterator[Record]:
    """Rows of a parquet file, read one record batch at a time (constant memory); numbered from 1."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_file(path)
    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError, pa.ArrowException) as e:  # pyarrow raises ArrowInvalid (a ValueError) on non-parquet
        raise FormatError(f"{path}: not a readable parquet file: {e}") from e
    names = pf.schema_arrow.names
    missing = [c for c in required if c not in names]
    if missing:
        raise FormatError(f"{path}: not this format: missing columns {missing} (has {names[:12]})")
    n = 0
    for group in range(pf.num_row_groups):  # batch by batch inside each row group: a damaged
        batches = pf.iter_batches(batch_size=batch_rows, row_groups=[group])  # group costs only itself
        while True:
            try:
                batch = next(batches, None)
                rows = batch.to_pylist() if batch is not None else None
            except (OSError, ValueError, pa.ArrowException) as e:
                if n == 0:
                    raise FormatError(f"{path}: not a readable parquet file: {e}") from None
                raise InputBroken(path, n + 1, str(e).strip().replace("\n", " "), where="row") from None
            if rows is None:
                break
            for row in rows:
                n += 1
                yield n, row
