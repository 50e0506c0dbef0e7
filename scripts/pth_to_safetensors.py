"""Convert a PyTorch checkpoint (.pth / .bin / .pt) to safetensors, keeping every key's name.

The Swift tools never unpickle: run this once, in your own Python, on a file you trust.

    python3 scripts/pth_to_safetensors.py open_clip_pytorch_model.bin open_clip_bigG.safetensors

A checkpoint whose tensors sit under one key ("state_dict", "model", "module", "ema") is unwrapped.
Shared or non-contiguous tensors are copied, so the file holds plain tensors. Needs torch and safetensors.
"""
import sys

import torch
from safetensors.torch import save_file


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: pth_to_safetensors.py IN.pth OUT.safetensors")
    source, target = sys.argv[1], sys.argv[2]
    # weights_only refuses arbitrary pickled objects: only tensors and plain containers load.
    state = torch.load(source, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model", "module", "ema"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict):
        sys.exit(f"{source}: expected a dict of tensors, found {type(state).__name__}")
    tensors, skipped = {}, []
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            tensors[key] = value.detach().clone().contiguous()
        else:
            skipped.append(key)
    if not tensors:
        sys.exit(f"{source}: no tensors found")
    save_file(tensors, target)
    print(f"wrote {target}: {len(tensors)} tensors" + (f"; skipped non-tensor keys {skipped}" if skipped else ""))


if __name__ == "__main__":
    main()
