"""Byte-level editors for the formats the CLI reads: safetensors, npy, tar shards, gzip NIfTI, HDF5."""
import gzip
import io
import json
import os
import shutil
import struct
import tarfile
from pathlib import Path

import numpy as np


def truncate(path: Path, keep):
    """Keeps the first `keep` bytes (an int) or that fraction (a float) of a file."""
    size = path.stat().st_size
    n = keep if isinstance(keep, int) else int(size * keep)
    with open(path, "r+b") as f:
        f.truncate(n)


def garbage(path: Path, size=None, seed=0):
    n = size if size is not None else max(path.stat().st_size, 64) if path.exists() else 4096
    remove(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())


def remove(path: Path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def fifo(path: Path):
    """A named pipe where a file is expected: a reader that opens it blocks until a writer comes."""
    remove(path)
    os.mkfifo(path)


def directory(path: Path):
    remove(path)
    path.mkdir()


# --- safetensors -------------------------------------------------------------------------------------

def st_read(path: Path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    return header, raw[8 + n:]


def st_write(path: Path, header: dict, data: bytes):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


ST_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U8": "u1", "F16": "<f2", "BF16": None, "I32": "<i4"}


def st_tensors(path: Path):
    """{name: numpy array} and the metadata of a safetensors file (BF16 is read as raw uint16)."""
    header, data = st_read(path)
    meta = header.pop("__metadata__", {})
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        dt = ST_DTYPES.get(v["dtype"]) or "<u2"
        out[k] = (v["dtype"], np.frombuffer(data[a:b], dtype=dt).reshape(v["shape"]).copy())
    return out, meta


def st_save(path: Path, tensors: dict, meta: dict):
    """Writes {name: (dtype name, array)} with metadata; names sorted as the Swift writer does."""
    header, chunks, offset = {}, [], 0
    for k in sorted(tensors):
        dtype, arr = tensors[k]
        b = np.ascontiguousarray(arr).tobytes()
        header[k] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    if meta is not None:
        header["__metadata__"] = meta
    st_write(path, header, b"".join(chunks))


def st_edit(path: Path, fn):
    """Applies fn(tensors, meta) (which edits them in place) and writes the file back."""
    tensors, meta = st_tensors(path)
    fn(tensors, meta)
    st_save(path, tensors, meta)


# --- npy ---------------------------------------------------------------------------------------------

def npy_raw(path: Path, header: str, data: bytes, version=(1, 0)):
    """An npy file from a literal header dict text, for shapes and dtypes numpy would not write."""
    h = header.encode("latin1")
    fmt = "<H" if version[0] == 1 else "<I"
    prefix = 10 if version[0] == 1 else 12
    pad = -(prefix + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    path.write_bytes(b"\x93NUMPY" + bytes(version) + struct.pack(fmt, len(h)) + h + data)


# --- tar shards --------------------------------------------------------------------------------------

def tar_members(path: Path):
    with tarfile.open(path) as t:
        return [(m.name, t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]


def tar_write(path: Path, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o444
            info.mtime = 1700000000
            t.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())


def npy_bytes(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def edit_behav(path: Path, fn, member_suffix="behav.npy", which=0):
    """Rewrites the `which`-th sample's `behav.npy` in a shard: fn(array (1, 17) float64) edits it in place."""
    members = tar_members(path)
    seen = 0
    for i, (name, data) in enumerate(members):
        if name.endswith("." + member_suffix) and not name.endswith("_" + member_suffix):
            if seen == which:
                a = np.load(io.BytesIO(data))
                fn(a)
                members[i] = (name, npy_bytes(a))
                break
            seen += 1
    tar_write(path, members)


# --- NIfTI (gzip) ------------------------------------------------------------------------------------

def nifti_edit(path: Path, fn):
    """fn(header bytearray, data bytearray) edits a gzip NIfTI-1 in place (data from vox_offset)."""
    raw = bytearray(gzip.decompress(path.read_bytes()))
    off = int(struct.unpack_from("<f", raw, 108)[0])
    header, data = raw[:off], raw[off:]
    fn(header, data)
    path.write_bytes(gzip.compress(bytes(header + data)))


def nifti_mask(path: Path):
    """The int16 mask array (flat, Fortran order on disk) and its dims."""
    raw = gzip.decompress(path.read_bytes())
    dims = struct.unpack_from("<8h", raw, 40)
    off = int(struct.unpack_from("<f", raw, 108)[0])
    return np.frombuffer(raw[off:], dtype="<i2").copy(), dims


# --- HDF5 --------------------------------------------------------------------------------------------

def h5_replace(path: Path, name: str, array, new_name=None):
    import h5py
    with h5py.File(path, "a") as f:
        del f[name]
        f.create_dataset(new_name or name, data=array)


def h5_read(path: Path, name: str):
    import h5py
    with h5py.File(path, "r") as f:
        return f[name][()]
