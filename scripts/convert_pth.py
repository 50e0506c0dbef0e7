"""Convert a PyTorch checkpoint (.pth / .bin / .pt) to safetensors, keeping every key's name.

The Swift tools never unpickle: run this once, in your own Python, on a file you trust.

    python3 scripts/convert_pth.py open_clip_pytorch_model.bin open_clip_bigG.safetensors

A checkpoint whose tensors sit under one key ("model_state_dict" as MindEye2's last.pth, "state_dict",
"model", "module", "ema") is unwrapped, so MindEye2's released checkpoints convert to the state dict
`voxelformer train --init-from` reads:

    python3 scripts/convert_pth.py train_logs/final_multisubject_subj01/last.pth ms_subj01.safetensors

Files that pickle more than tensors (MindEye2's last.pth also holds its loss lists) are refused unless
`--unsafe-pickle` is given, which runs the file's pickle code: only for a file you trust.
Shared or non-contiguous tensors are copied, so the file holds plain tensors. Needs torch and safetensors.
"""
import sys

import torch
from safetensors.torch import save_file


def main():
    args = [a for a in sys.argv[1:] if a != "--unsafe-pickle"]
    unsafe = len(args) != len(sys.argv) - 1
    if len(args) != 2:
        sys.exit("usage: convert_pth.py [--unsafe-pickle] IN.pth OUT.safetensors")
    source, target = args
    # weights_only refuses arbitrary pickled objects: only tensors and plain containers load.
    try:
        state = torch.load(source, map_location="cpu", weights_only=not unsafe)
    except Exception as error:  # torch raises UnpicklingError (or RuntimeError) for non-tensor objects
        if unsafe:
            raise
        sys.exit(f"{source}: holds more than tensors ({str(error).splitlines()[0]}); if you trust the file, "
                 "rerun with --unsafe-pickle (it runs the file's pickle code)")
    for wrapper in ("model_state_dict", "state_dict", "model", "module", "ema"):
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
