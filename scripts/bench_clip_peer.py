"""The PyTorch peer of voxelformer-bench's `clip ...` rows (Sources/voxelformer-bench/CLIPEncode.swift).

Builds open_clip 2.24.0's own ViT image tower (`open_clip.model._build_vision_tower`, from the model config
JSON that open_clip ships, random weights as open_clip initialises them) and encodes random [0,1] images
(B, 3, 224, 224) the way MindEye2 makes its targets (sgm's FrozenOpenCLIPImageEmbedder with
output_tokens/only_tokens): kornia's resize (a no-op at 224 -> 224, so it is left out here), then
(x + 1) / 2 (the quirk), then OpenAI CLIP's mean/std, then the tower with `output_tokens=True`, keeping the
tokens (ln_post(x)[:, 1:]). Under torch.no_grad(), and under torch.autocast("cpu", dtype=torch.bfloat16)
around each batch for --dtype bf16; libtorch's default thread count.

One warm-up batch, then --timed batches; prints one JSON object on stdout:
  images_per_s (batch size / median batch seconds), batch_seconds, rss_built_mib (VmRSS with the model and
  inputs built), peak_rss_mib (VmHWM of this process), threads, torch, open_clip, tokens_shape.

Run: PYTHONPATH=.libtorch/pkg python3 scripts/bench_clip_peer.py --model ViT-L-14 --dtype fp32 --batch 2 --timed 2
Needs torch and open_clip_torch==2.24.0 (`pip install --no-deps open_clip_torch==2.24.0`); torchvision is
not needed.
"""
import argparse
import importlib
import importlib.machinery
import importlib.util
import json
import os
import statistics
import sys
import time
import types

import torch

from bench_peer_common import exit_with_the_bench, status_mib  # beside this script

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def import_open_clip_model():
    """open_clip.model, without open_clip's package __init__: that and open_clip/utils.py import torchvision,
    which the ViT tower does not use. Where torchvision cannot be imported, a placeholder module stands in; it
    carries a module spec without a loader, so transformers (imported by open_clip.model when installed),
    probing torchvision by spec and by distribution metadata, finds no torchvision package."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        for name in ("torchvision", "torchvision.ops", "torchvision.ops.misc"):
            sys.modules[name] = types.ModuleType(name)
            sys.modules[name].__spec__ = importlib.machinery.ModuleSpec(name, None)
        sys.modules["torchvision.ops.misc"].FrozenBatchNorm2d = type("FrozenBatchNorm2d", (), {})
    spec = importlib.util.find_spec("open_clip")
    if spec is None:
        raise ImportError("no module named open_clip")
    package = types.ModuleType("open_clip")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["open_clip"] = package
    version = importlib.import_module("open_clip.version").__version__
    if version != "2.24.0":
        raise ImportError(f"open_clip {version}: the benchmark pins 2.24.0")
    return importlib.import_module("open_clip.model"), package.__path__[0], version


def preprocess(images):
    """MindEye2's preprocessing of (B, 3, 224, 224) images in [0,1] for a 224 tower."""
    x = (images + 1.0) / 2.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="an open_clip model config name, e.g. ViT-L-14")
    parser.add_argument("--dtype", choices=["fp32", "bf16"])
    parser.add_argument("--batch", type=int)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--timed", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="only import torch and open_clip, then exit")
    args = parser.parse_args()
    if not args.check and None in (args.model, args.dtype, args.batch, args.timed):
        parser.error("--model, --dtype, --batch and --timed are required (or --check)")
    exit_with_the_bench()

    model_module, root, version = import_open_clip_model()
    if args.check:
        print(json.dumps({"torch": torch.__version__, "open_clip": version}))
        return
    with open(os.path.join(root, "model_configs", args.model + ".json")) as f:
        config = json.load(f)
    vision_cfg = dict(config["vision_cfg"], output_tokens=True)
    torch.manual_seed(args.seed)
    tower = model_module._build_vision_tower(config["embed_dim"], vision_cfg, quick_gelu=config.get("quick_gelu", False))
    tower.eval()
    size = vision_cfg["image_size"]
    images = torch.rand(args.batch, 3, size, size)
    rss_built = status_mib("VmRSS")

    times = []
    shape = None
    for step in range(args.warmup + args.timed):
        start = time.perf_counter()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            _, tokens = tower(preprocess(images))
        seconds = time.perf_counter() - start
        shape = list(tokens.shape)
        if not torch.isfinite(tokens).all():
            raise RuntimeError(f"{args.model} {args.dtype}: tokens are not finite")
        print(f"[clip peer] {args.model} {args.dtype} B={args.batch}: batch {step} {seconds:.2f} s", file=sys.stderr)
        if step >= args.warmup:
            times.append(seconds)
    print(json.dumps({
        "images_per_s": args.batch / statistics.median(times),
        "batch_seconds": times,
        "rss_built_mib": rss_built,
        "peak_rss_mib": status_mib("VmHWM"),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "open_clip": version,
        "tokens_shape": shape,
    }))


if __name__ == "__main__":
    main()
