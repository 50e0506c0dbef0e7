# Reference files for SyntheticNSDTests, written the way webdataset and h5py write them.
# Run from the repository root:
#   PYTHONPATH=/tmp/torchinst python3 Tests/BrainDataTests/Fixtures/synthetic/generate_synthetic_fixtures.py
# Deterministic: no randomness, and the tar members carry a fixed float mtime.
import io
import os
import tarfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def behav_members(offset):
    """The four members of one NSD sample; values are simple functions of `offset` so Swift can rebuild them."""
    return {
        "behav.npy": npy(np.arange(17, dtype=np.float64).reshape(1, 17) + offset),
        "past_behav.npy": npy(np.full((15, 17), -1.0)),
        "future_behav.npy": npy(np.arange(255, dtype=np.float64).reshape(15, 17) / 4 + offset),
        "olds_behav.npy": npy(np.full((3, 17), -1.0)),
    }


# webdataset's TarWriter: tarfile stream mode (PAX format by default), members in sorted order, a float
# mtime (so every member gets a PAX 'x' header), mode 0o444, user and group 'bigdata'.
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w|") as archive:
    for key, offset in (("sample000000007", 7.0), ("sample000000008", 8.0)):
        members = behav_members(offset)
        for name in sorted(members):
            data = members[name]
            info = tarfile.TarInfo(key + "." + name)
            info.size = len(data)
            info.mtime = 1700000000.0
            info.mode = 0o444
            info.uname = "bigdata"
            info.gname = "bigdata"
            archive.addfile(info, io.BytesIO(data))
with open(os.path.join(HERE, "webdataset_two_samples.tar"), "wb") as f:
    f.write(buffer.getvalue())
print("webdataset_two_samples.tar", len(buffer.getvalue()), "bytes")
