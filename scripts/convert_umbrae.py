#!/usr/bin/env python3
"""Convert UMBRAE's PyTorch weights to safetensors for `voxelformer brainx embed --weights`.

Run it in your own Python (it needs torch and safetensors); Swift never unpickles a .pth:

    python scripts/convert_umbrae.py train_logs/brainx/last.pth brainx.safetensors
    voxelformer brainx embed --weights brainx.safetensors --config configs/brainx-umbrae.yaml --out tokens/ \
        data.root=... data.test_subjects=[1]

    python scripts/convert_umbrae.py model_weights/mm_projector.bin mm_projector.safetensors
    (then --mm-projector mm_projector.safetensors)

A training checkpoint of UMBRAE (`{'model_state_dict', 'optimizer_state_dict', 'lr_scheduler', ...}`)
gives its `model_state_dict`; a plain state dict (a `.bin` projector, say) is taken whole. The names stay
UMBRAE's (`lin1.fmri1.weight`, `perceiver.perceiver.latents`, ...) but for a `module.` prefix (DDP,
accelerate), which is removed; floating tensors are written as float32. The file is first loaded with
`weights_only=True`; a checkpoint that also pickles other objects needs `--trust-pickle` (only for files
you trust: unpickling runs code).
"""
import argparse
import os
import re
import sys

import torch
from safetensors.torch import save_file

STATE_KEYS = ["model_state_dict", "state_dict", "model"]


def state_dict_of(obj, path):
    if isinstance(obj, dict):
        for key in STATE_KEYS:
            if key in obj and isinstance(obj[key], dict):
                return obj[key], key
        if obj and all(torch.is_tensor(v) for v in obj.values()):
            return obj, None
    sys.exit(f"{path}: expected a state dict or a checkpoint with one of {STATE_KEYS}, "
             f"got {type(obj).__name__} with keys {list(obj)[:8] if isinstance(obj, dict) else '-'}")


def convert(source, target, trust_pickle=False):
    try:
        obj = torch.load(source, map_location="cpu", weights_only=not trust_pickle)
    except Exception as error:  # weights_only refuses other pickled objects
        if trust_pickle:
            raise
        sys.exit(f"{source}: cannot be read with weights_only=True ({error}); if you trust the file, "
                 f"rerun with --trust-pickle")
    state, key = state_dict_of(obj, source)
    tensors = {}
    for name, value in state.items():
        if not torch.is_tensor(value):
            continue
        while name.startswith("module."):
            name = name[len("module."):]
        value = value.detach().to("cpu")
        if value.is_floating_point():
            value = value.float()
        tensors[name] = value.contiguous().clone()  # clone: safetensors refuses shared storage
    if not tensors:
        sys.exit(f"{source}: no tensors in {key or 'the file'}")
    save_file(tensors, target, metadata={"source": os.path.basename(str(source)), "converted_by": "scripts/convert_umbrae.py"})
    return tensors, key


def describe(tensors):
    """What `brainx embed --weights` will read from the shapes."""
    lines = []
    subjects = sorted(int(m.group(1)) for k in tensors if (m := re.fullmatch(r"lin2\.fmri(\d+)\.weight", k)))
    if subjects:
        voxels = [tensors[f"lin2.fmri{s}.weight"].shape[1] for s in subjects]
        lines.append(f"BrainX, subjects {subjects}, voxels {voxels}")
    elif "lin2.weight" in tensors:
        lines.append(f"BrainXS/BrainXC, {tensors['lin2.weight'].shape[1]} voxels")
    if "perceiver.perceiver.latents" in tensors:
        latents, hidden = tensors["perceiver.perceiver.latents"].shape
        out_dim = tensors["perceiver.llm_proj.weight"].shape[0]
        layers = len({k.split(".")[3] for k in tensors if k.startswith("perceiver.perceiver.layers.")})
        lines.append(f"{latents} latents x {hidden}, {layers} layers, output {out_dim}")
    if any(k.startswith("token.") or k == "token" for k in tensors):
        lines.append("with subject tokens (use_token)")
    if any("mm_projector" in k for k in tensors):
        lines.append("an mm_projector (use it with --mm-projector)")
    return "; ".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="UMBRAE's .pth checkpoint or a .bin state dict")
    parser.add_argument("target", help="the safetensors file to write")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="load with weights_only=False (runs the pickle's code; only for files you trust)")
    args = parser.parse_args()
    tensors, key = convert(args.source, args.target, args.trust_pickle)
    count = sum(t.numel() for t in tensors.values())
    print(f"wrote {args.target}: {len(tensors)} tensors, {count:,} values"
          + (f" (from '{key}')" if key else ""))
    summary = describe(tensors)
    if summary:
        print(summary)


if __name__ == "__main__":
    main()
