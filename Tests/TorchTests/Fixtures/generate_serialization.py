# Fixtures for NpyTests and SafetensorsTests: files written by NumPy, safetensors and PyTorch.
# Run from the repository root:
#   PYTHONPATH=/tmp/torchinst python3 Tests/TorchTests/Fixtures/generate_serialization.py
# Deterministic: every value below is written out by hand or seeded, and both writers are byte-stable
# (np.save pads its header the same way each time; safetensors orders entries by dtype, then by name).
import os

import numpy as np
import torch
import safetensors.numpy
import safetensors.torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serialization")
os.makedirs(OUT, exist_ok=True)

# One array per supported .npy dtype; the Swift tests list the same values by hand.
ARRAYS = {
    "f32": np.array([[-1.5, 0.0, 2.25], [0.001, np.inf, -0.0]], dtype="<f4"),  # (2, 3)
    "f16": np.array([1.0, -2.5, 65504.0], dtype="<f2"),  # (3,)
    "f64": np.array([[i * 0.1 - 0.5 for i in range(17)]], dtype="<f8"),  # (1, 17), like behav.npy
    "i64": np.array([[-(2**63), 2**63 - 1], [0, -1]], dtype="<i8"),  # (2, 2)
    "i32": np.array([-(2**31), 2**31 - 1, 7, -7], dtype="<i4"),  # (4,)
    "i16": np.array([[[-32768, 32767]], [[1, -1]]], dtype="<i2"),  # (2, 1, 2)
    "i8": np.array(-128, dtype="|i1"),  # () a 0-d array
    "u8": np.array([0, 1, 127, 128, 255], dtype="|u1"),  # (5,)
    "bool": np.array([[True, False], [False, True]], dtype="|b1"),  # (2, 2)
    "empty": np.zeros((2, 0), dtype="<f4"),  # (2, 0)
}


def path(name):
    return os.path.join(OUT, name)


# .npy, format 1.0 via np.save (also the bytes our encoder must reproduce).
for name, a in ARRAYS.items():
    np.save(path(f"{name}.npy"), a)

# .npy, formats 2.0 and 3.0 via write_array.
for version, names in [((2, 0), ["f32", "bool", "i64"]), ((3, 0), ["f32"])]:
    for name in names:
        with open(path(f"{name}_v{version[0]}.npy"), "wb") as f:
            np.lib.format.write_array(f, ARRAYS[name], version=version)

# A header that fills a multiple of 64 bytes before padding: NumPy then pads 64 more, not 0.
np.save(path("aligned.npy"), np.zeros((0, 1, 1, 1, 10, 10, 10, 10, 10, 10, 10, 10), dtype="<f4"))

# .npy layouts we convert on reading (more in generate_npy_layouts.py).
np.save(path("fortran.npy"), np.asfortranarray(ARRAYS["f32"]))
np.save(path("bigendian.npy"), ARRAYS["f32"].astype(">f4"))

# .npy files we must refuse.
np.save(path("complex.npy"), np.array([1 + 2j], dtype="<c8"))
np.save(path("object.npy"), np.array([None], dtype=object), allow_pickle=True)

# safetensors via PyTorch: every dtype, bfloat16 included, with metadata.
TORCH = {name: torch.from_numpy(a.copy()) for name, a in ARRAYS.items() if name != "empty"}
TORCH["bf16"] = torch.tensor([1.0, -2.0, 0.5, 3.140625], dtype=torch.bfloat16)
safetensors.torch.save_file(TORCH, path("torch_all_dtypes.safetensors"), metadata={"format": "pt"})

# safetensors via NumPy: dotted names, a 0-d and an empty tensor, no metadata.
safetensors.numpy.save_file(
    {
        "layer.0.weight": ARRAYS["f32"],
        "layer.0.bias": np.array([0.5, -0.25], dtype="<f4"),
        "scalar": np.array(2.5, dtype="<f8"),
        "empty": np.zeros((0, 3), dtype="<f4"),
    },
    path("numpy.safetensors"),
)

# A PyTorch module's state_dict and one forward pass through it, to load into the Swift twin.
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
with torch.no_grad():
    model[1].weight.uniform_(0.5, 1.5)
    model[1].bias.uniform_(-0.5, 0.5)
safetensors.torch.save_file(model.state_dict(), path("sequential.safetensors"))
x = torch.randn(2, 3)
with torch.no_grad():
    y = model(x)
safetensors.torch.save_file({"x": x, "y": y}, path("sequential_io.safetensors"))
