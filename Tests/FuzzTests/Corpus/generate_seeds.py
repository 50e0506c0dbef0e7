"""Writes the fuzz seeds into Corpus/<target>/ (run from anywhere; needs numpy and torch).

`seed_*` are small inputs (copied from the test fixtures or built here) so that libFuzzer starts from the
formats' real structure; `bad_*` are hand-made inputs that a reader once mishandled and must refuse.
Files named `crash_*` are minimized fuzzer findings and are left alone.
"""
import gzip
import io
import json
import os
import shutil
import struct
import tarfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(os.path.dirname(HERE))


def out(target, name, data, prefix="seed_"):
    folder = os.path.join(HERE, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, prefix + name), "wb") as f:
        f.write(data)


def fixture(*parts):
    with open(os.path.join(TESTS, *parts), "rb") as f:
        return f.read()


def safetensors_bytes(tensors, metadata=None):
    """The format as the Python library writes it: header length, JSON header padded to 8, data."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    names = {np.float32: "F32", np.int64: "I64", np.uint8: "U8", np.float16: "F16"}
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": names[array.dtype.type], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def tar_bytes(members, fmt):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    # Keep one end-of-archive block, not tarfile's 10 KiB of padding.
    end = len(raw.rstrip(b"\0"))
    end = (end + 511) // 512 * 512
    return raw[:end] + b"\0" * 512


# safetensors: the serialization fixtures plus a small file with metadata.
serialization = ("TorchTests", "Fixtures", "serialization")
for name in ["numpy.safetensors", "sequential.safetensors", "sequential_io.safetensors", "torch_all_dtypes.safetensors"]:
    out("safetensors", name, fixture(*serialization, name))
out("safetensors", "metadata.safetensors", safetensors_bytes(
    {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros((0, 4), dtype=np.int64)}, {"k": "v"}))
out("safetensors", "empty.safetensors", safetensors_bytes({}))

# npy: every .npy fixture (valid ones and the refused dtypes, orders and versions).
for name in sorted(os.listdir(os.path.join(TESTS, *serialization))):
    if name.endswith(".npy"):
        out("npy", name, fixture(*serialization, name))

# tar: webdataset's PAX layout, plain ustar, GNU long names, and a truncated member.
sample = [("sample000000000.behav.npy", fixture(*serialization, "i8.npy")),
          ("sample000000000.past_behav.npy", fixture(*serialization, "u8.npy")),
          ("sample000000001.behav.npy", fixture(*serialization, "i16.npy"))]
out("tar", "pax.tar", tar_bytes(sample, tarfile.PAX_FORMAT))
out("tar", "ustar.tar", tar_bytes(sample[:1], tarfile.USTAR_FORMAT))
out("tar", "gnu_long.tar", tar_bytes([("d/" + "x" * 120 + ".behav.npy", b"abc")], tarfile.GNU_FORMAT))
out("tar", "truncated.tar", tar_bytes(sample[:1], tarfile.PAX_FORMAT)[:1100])

# nifti: NIfTI-2 and gzipped NIfTI-1 fixtures, and the NIfTI-1 file uncompressed.
nifti = ("BrainDataTests", "Fixtures", "nifti")
out("nifti", "mask_nifti2.nii", fixture(*nifti, "mask_4x3x5_nifti2.nii"))
out("nifti", "mask.nii.gz", fixture(*nifti, "mask_5x6x7.nii.gz"))
nifti1 = gzip.decompress(fixture(*nifti, "mask_5x6x7.nii.gz"))
out("nifti", "mask_nifti1.nii", nifti1)
# A grid of 30000^3 int16 voxels (54 TB) declared in a small file, plain and gzipped.
huge = bytearray(nifti1)
struct.pack_into("<8h", huge, 40, 3, 30000, 30000, 30000, 1, 1, 1, 1)
out("nifti", "huge_grid.nii", bytes(huge), prefix="bad_")
out("nifti", "huge_grid.nii.gz", gzip.compress(bytes(huge), mtime=0), prefix="bad_")

# checkpoint: Checkpoint.write's layout with a real generator state, sampler JSON and config YAML.
with open(os.path.join(os.path.dirname(TESTS), "configs", "demo.yaml")) as f:
    config = f.read()
sampler = {"trialCounts": {"1": 24, "2": 16}, "batchSize": 8, "generator": {"state": 12345}, "epoch": 1}
metadata = {"format": "voxelformer-checkpoint-1", "epoch": "1", "step": "5", "step_in_epoch": "0",
            "sampler": json.dumps(sampler, separators=(",", ":")), "config": config}
rng = torch.manual_seed(0).get_state().numpy()
out("checkpoint", "checkpoint.safetensors", safetensors_bytes(
    {"rng.torch": rng, "model.w": np.ones((2, 2), dtype=np.float32), "optimizer.step": np.array([5], dtype=np.int64)},
    metadata))
out("checkpoint", "rng_10_bytes.safetensors", safetensors_bytes({"rng.torch": rng[:10]}, metadata), prefix="bad_")
# A generator state whose Mersenne Twister position (`next`, UInt64 at byte 16) lies past its 624 words.
forged = rng.copy()
forged[16:24] = np.frombuffer(struct.pack("<Q", 1 << 40), dtype=np.uint8)
struct.pack_into("<i", forged, 8, 300)
out("checkpoint", "rng_position.safetensors", safetensors_bytes({"rng.torch": forged}, metadata), prefix="bad_")

# config: the presets, overrides after a NUL byte, and YAML's anchors.
for name in ["demo.yaml", "paper.yaml"]:
    with open(os.path.join(os.path.dirname(TESTS), "configs", name), "rb") as f:
        out("config", name, f.read())
out("config", "overrides.yaml", b"model:\n  num_heads: 4\n\0model.nat_depth=2\ntrain.max_lr=1e-4\ndata.train_subjects=[1,2]\n")
out("config", "anchors.yaml", b"model: &m {}\neval: *m\ntrain: {epochs: 2}\n")
out("config", "empty.yaml", b"")
