# Fixtures for NpyTests: .npy files NumPy writes that are not little-endian C order, and that we convert
# on reading. NumPy only (no torch). Run from the repository root:
#   python3 Tests/TorchTests/Fixtures/generate_npy_layouts.py
# Deterministic: values are written out by hand; np.save is byte-stable.
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serialization")
os.makedirs(OUT, exist_ok=True)


def path(name):
    return os.path.join(OUT, name)


# The natural way to write voxel coordinates: np.argwhere returns a Fortran-ordered (N, 3) int64 array,
# and np.save keeps that order (fortran_order: True).
mask = np.zeros((3, 4, 5), dtype=np.int8)
for i, j, k in [(0, 1, 2), (1, 0, 4), (2, 3, 0), (2, 3, 1)]:
    mask[i, j, k] = 1
coords = np.argwhere(mask)
assert coords.flags.f_contiguous and not coords.flags.c_contiguous
np.save(path("argwhere.npy"), coords)  # [[0, 1, 2], [1, 0, 4], [2, 3, 0], [2, 3, 1]]

# Fortran order in three dimensions: value = 100 i + 10 j + k at [i, j, k].
grid = np.asfortranarray(np.fromfunction(lambda i, j, k: 100 * i + 10 * j + k, (2, 3, 4), dtype=np.float32))
np.save(path("fortran3d.npy"), grid)

# Big-endian, one per byte width, and big-endian Fortran order together.
np.save(path("bigendian_f8.npy"), np.array([1.5, -2.25, 1e300], dtype=">f8"))
np.save(path("bigendian_i8.npy"), np.array([[1, -2], [2**40, -(2**62)]], dtype=">i8"))
np.save(path("bigendian_i4.npy"), np.array([7, -7, 2**31 - 1], dtype=">i4"))
np.save(path("bigendian_f2.npy"), np.array([1.0, -2.5, 65504.0], dtype=">f2"))
np.save(path("bigendian_i2.npy"), np.array([-32768, 32767, 258], dtype=">i2"))
np.save(path("bigendian_fortran.npy"), np.asfortranarray(np.array([[1, 2, 3], [4, 5, 6]], dtype=">i4")))
