"""Read W&B offline run files (``run-<id>.wandb``): a LevelDB-style log of protobuf Records."""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from pathlib import Path

BLOCK = 32768
HEADER = 7  # ":W&B", a 2-byte magic, a 1-byte version


def records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", path
    pos, pending = HEADER, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0:
            break
        if kind == 1:  # FULL
            payload = chunk
        elif kind == 2:  # FIRST
            pending = chunk
            continue
        elif kind == 3:  # MIDDLE
            pending += chunk
            continue
        else:  # LAST
            payload = pending + chunk
        record = pb.Record()
        record.ParseFromString(payload)
        yield record


def read_runs(wandb_dir: Path) -> dict[str, dict]:
    """run id -> {"run": (group, job_type, name, project), "config": {...}, "summary": {...}, "history": [...]},
    merged over every offline directory of the run (a resumed run writes a second one)."""
    runs: dict[str, dict] = defaultdict(lambda: {"config": {}, "summary": {}, "history": [], "artifacts": []})
    for file in sorted(Path(wandb_dir).glob("offline-run-*/run-*.wandb")):
        run_id = file.stem.removeprefix("run-")
        out = runs[run_id]
        for record in records(file):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
                if run.run_group or run.job_type:
                    out["run"] = (run.run_group, run.job_type, run.display_name, run.project)
                for item in run.config.update:
                    out["config"][item.key] = json.loads(item.value_json)
            elif kind == "config":
                for item in record.config.update:
                    out["config"][item.key] = json.loads(item.value_json)
            elif kind == "summary":
                for item in record.summary.update:
                    out["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
            elif kind == "history":
                out["history"].append({i.key or "/".join(i.nested_key): _value(i) for i in record.history.item})
            elif kind == "artifact":
                out["artifacts"].append((record.artifact.name, record.artifact.type))
    return dict(runs)


def _value(item):
    if item.value_json:
        return json.loads(item.value_json)
    field = item.WhichOneof("value") if "value" in item.DESCRIPTOR.oneofs_by_name else None
    return getattr(item, field) if field else None


def raw_bytes(wandb_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in Path(wandb_dir).rglob("*") if p.is_file())
