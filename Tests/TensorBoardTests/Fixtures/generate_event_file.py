"""Writes the byte fixtures for TensorBoardTests with tensorboard's own (tensorflow-free) code:

- scalars.tfevents: a file_version event and SCALARS below, serialized by tensorboard's tensorflow.Event /
  tensorflow.Summary protos and framed by tensorboard.summary.writer.record_writer.RecordWriter;
- crc32c.json: CRC-32C and masked CRC-32C of a few inputs, from tensorboard's CRC implementation, cross-checked
  against the `crc32c` package when that is installed.

Run from anywhere: python3 Tests/TensorBoardTests/Fixtures/generate_event_file.py (needs `pip install tensorboard`).
TensorBoardTests.swift writes the same events with TensorBoardWriter and compares bytes; keep both in step.
"""

import io
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Where scripts/setup.sh installs tensorboard when python3 lacks it.
sys.path.append(os.path.join(HERE, "..", "..", "..", ".libtorch", "python"))

from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c, masked_crc32c  # noqa: E402
from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: E402

FILE_WALL_TIME = 1700000000.25
# (tag, value, step, wall time): zero, a negative, a value that rounds to float32, a subnormal float32, inf and
# nan, a step past 32 bits, a negative step (a 10-byte varint), and a non-ASCII tag.
SCALARS = [
    ("loss/train", 0.5, 0, 1700000001.5),
    ("loss/train", 0.0, 1, 1700000002.0),
    ("loss/train", -3.25, 1000, 1700000003.125),
    ("retrieval/top1", 1.0 / 3.0, 2**40, 1700000004.0),
    ("retrieval/top1", 1e-40, -1, 1700000005.0),
    ("lr", math.inf, 7, 1700000006.0),
    ("lr", math.nan, 8, 1700000007.0),
    ("größe/µ", 2.5, 9, 1700000008.75),
]


def event_file_bytes():
    out = io.BytesIO()
    writer = RecordWriter(out)
    first = event_pb2.Event(wall_time=FILE_WALL_TIME, file_version="brain.Event:2")
    writer.write(first.SerializeToString())
    for tag, value, step, wall_time in SCALARS:
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        event = event_pb2.Event(wall_time=wall_time, step=step, summary=summary)
        writer.write(event.SerializeToString())
    return out.getvalue()


CRC_INPUTS = [
    b"",
    b"a",
    b"123456789",
    bytes(32),
    bytes([0xFF] * 32),
    bytes(range(32)),
    bytes(range(31, -1, -1)),
    bytes((i * 7 + 3) % 256 for i in range(1000)),
]


def crc_vectors():
    try:
        import crc32c as crc32c_package  # independent C implementation, if present
    except ImportError:
        crc32c_package = None
    vectors = []
    for data in CRC_INPUTS:
        crc = crc32c(data)
        if crc32c_package is not None:
            assert crc == crc32c_package.crc32c(data), data
        vectors.append({"hex": data.hex(), "crc": crc, "masked": masked_crc32c(data)})
    return vectors


def main():
    with open(os.path.join(HERE, "scalars.tfevents"), "wb") as f:
        f.write(event_file_bytes())
    with open(os.path.join(HERE, "crc32c.json"), "w") as f:
        json.dump(crc_vectors(), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
