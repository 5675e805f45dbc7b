"""The files and batches endpoints of the scripted server (OpenAI's Batch API: upload a JSONL of
requests, create a batch, poll it, download the output file), answered with the same replies."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from typing import Any


class FilesAndBatches:
    """Mixed into `ScriptedServer`, which supplies `answer`, the fault script and the counters."""

    _files: dict[str, bytes]
    _batches: dict[str, dict[str, Any]]
    _lock: threading.Lock
    counts: Counter[str]

    def answer(self, request: dict[str, Any], behaviour: str = "ok") -> dict[str, Any]:
        raise NotImplementedError

    def _behaviour(self) -> str:
        raise NotImplementedError

    def _upload(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        ctype = headers.get("content-type", "")
        if "boundary=" not in ctype:
            return error(400, "expected multipart/form-data")
        boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
        data = None
        for part in body.split(b"--" + boundary):
            head, sep, content = part.partition(b"\r\n\r\n")
            if sep and b'name="file"' in head:
                data = content.rsplit(b"\r\n", 1)[0]
        if data is None:
            return error(400, "no file part")
        fid = f"file-{uuid.uuid4().hex[:20]}"
        self._files[fid] = data
        with self._lock:
            self.counts["files"] += 1
        return (
            200,
            {},
            json.dumps(
                {
                    "id": fid,
                    "object": "file",
                    "bytes": len(data),
                    "created_at": int(time.time()),
                    "filename": "input.jsonl",
                    "purpose": "batch",
                    "status": "processed",
                }
            ).encode(),
        )

    def _create_batch(self, req: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        fid = req.get("input_file_id")
        if fid not in self._files:
            return error(404, "no such input file")
        out_lines = []
        total = 0
        for line in self._files[fid].decode().splitlines():
            if not line.strip():
                continue
            total += 1
            item = json.loads(line)
            resp = self.answer(item["body"], self._behaviour_for_batch())
            out_lines.append(
                json.dumps(
                    {
                        "id": f"batch_req_{uuid.uuid4().hex[:12]}",
                        "custom_id": item["custom_id"],
                        "response": {"status_code": 200, "request_id": uuid.uuid4().hex[:12], "body": resp},
                        "error": None,
                    }
                )
            )
        out = f"file-{uuid.uuid4().hex[:20]}"
        self._files[out] = ("\n".join(out_lines) + "\n").encode()
        bid = f"batch_{uuid.uuid4().hex[:20]}"
        self._batches[bid] = {
            "id": bid,
            "object": "batch",
            "endpoint": req.get("endpoint"),
            "errors": None,
            "input_file_id": fid,
            "completion_window": req.get("completion_window", "24h"),
            "status": "in_progress",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "metadata": req.get("metadata"),
            "request_counts": {"total": total, "completed": 0, "failed": 0},
            "_output": out,
        }
        with self._lock:
            self.counts["batches"] += 1
        return 200, {}, json.dumps(_public(self._batches[bid])).encode()

    def _behaviour_for_batch(self) -> str:
        b = self._behaviour()
        return b if b in ("unusable", "truncated") else "ok"

    def _get_batch(self, bid: str) -> tuple[int, dict[str, str], bytes]:
        b = self._batches.get(bid)
        if b is None:
            return error(404, "no such batch")
        if b["status"] == "in_progress":  # completes on the second look, as a real batch would later
            b["status"] = "finalizing"
        elif b["status"] == "finalizing":
            b["status"] = "completed"
            b["output_file_id"] = b["_output"]
            b["request_counts"]["completed"] = b["request_counts"]["total"]
        return 200, {}, json.dumps(_public(b)).encode()


def _public(b: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in b.items() if not k.startswith("_")}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    kind = {429: "rate_limit_exceeded", 404: "not_found", 400: "invalid_request_error", 401: "invalid_api_key"}.get(status, "server_error")
    return status, headers or {}, json.dumps({"error": {"message": message, "type": kind, "param": None, "code": kind}}).encode()
