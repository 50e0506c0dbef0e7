"""Parity fixtures for Sources/CLIP, from open_clip 2.24.0 and Hugging Face transformers.

Two small random-weight ViT image towers, every parameter perturbed (LayerNorm weights and biases,
attention biases, class and positional embeddings) so that each one changes the outputs:
  openclip: open_clip's VisionTransformer built by its own `_build_vision_tower` from an open_clip model
            config (exact GELU), weights saved under open_clip's whole-model names (`visual.*`) beside a
            few text-tower keys that the loader must ignore;
  hf:       transformers' CLIPVisionModelWithProjection (quick_gelu, OpenAI's activation), weights under
            HF names (`vision_model.*`, `visual_projection.weight`) beside `text_model.*` keys.
Preprocessing is MindEye2's (sgm FrozenOpenCLIPImageEmbedder.preprocess): kornia.geometry.resize(bicubic,
align_corners=True, antialias=True), then (x+1)/2 (the quirk, switchable), then OpenAI mean/std.

Run: PYTHONPATH=<torch> python3 Tests/CLIPTests/Fixtures/generate_clip.py
Needs torch, open_clip_torch==2.24.0, transformers, kornia, safetensors, numpy.
"""
import json
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def import_open_clip_model():
    """open_clip.model. open_clip's package __init__ and utils.py import torchvision, which the vision tower
    does not use; where torchvision cannot be imported (no wheel matching this torch), a placeholder module
    stands in for it so that open_clip's own model code still builds the tower."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        for name in ("torchvision", "torchvision.ops", "torchvision.ops.misc"):
            sys.modules[name] = types.ModuleType(name)
        sys.modules["torchvision.ops.misc"].FrozenBatchNorm2d = type("FrozenBatchNorm2d", (), {})
    import importlib.util
    spec = importlib.util.find_spec("open_clip")
    package = types.ModuleType("open_clip")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["open_clip"] = package
    import importlib
    version = importlib.import_module("open_clip.version").__version__
    assert version == "2.24.0", f"open_clip {version}: the fixtures pin 2.24.0"
    return importlib.import_module("open_clip.model")


def perturb(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.ndim == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.3 * noise)  # LayerNorm gains
            elif p.ndim == 1:
                p.copy_(0.3 * noise)  # biases, class embedding
            else:
                p.copy_(noise / p.shape[-1] ** 0.5 if p.ndim == 2 else noise / (p[0].numel() ** 0.5))


def preprocess(images, size, quirk):
    import kornia
    x = kornia.geometry.resize(images, (size, size), interpolation="bicubic", align_corners=True, antialias=True)
    if quirk:
        x = (x + 1.0) / 2.0
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])
    return kornia.enhance.normalize(x, mean, std)


def main():
    from safetensors.torch import save_file
    # transformers first: it probes torchvision by import spec, which the placeholder below lacks
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    import kornia  # noqa: F401
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, 32, 32, generator=g)
    shrink = torch.rand(2, 3, 48, 40, generator=g)  # the antialiasing blur, then bicubic
    grow = torch.rand(1, 3, 20, 27, generator=g)  # bicubic only
    cases = {"images": images, "images_shrink": shrink, "images_grow": grow}
    for quirk in (True, False):
        cases[f"pixels_quirk{int(quirk)}"] = preprocess(images, 32, quirk)
    cases["pixels_shrink"] = preprocess(shrink, 32, True)
    cases["pixels_grow"] = preprocess(grow, 32, False)

    # open_clip naming, exact GELU
    model_module = import_open_clip_model()
    config = {
        "embed_dim": 24,
        "vision_cfg": {"image_size": 32, "layers": 3, "width": 48, "head_width": 16, "mlp_ratio": 2.5,
                       "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    visual = model_module._build_vision_tower(config["embed_dim"], config["vision_cfg"], quick_gelu=False)
    visual.eval()
    perturb(visual, 2)
    weights = {"visual." + k: v.contiguous() for k, v in visual.state_dict().items()}
    gt = torch.Generator().manual_seed(3)
    weights["logit_scale"] = torch.tensor(4.6)
    weights["token_embedding.weight"] = torch.randn(10, 32, generator=gt)
    weights["transformer.resblocks.0.attn.in_proj_weight"] = torch.randn(96, 32, generator=gt)
    weights["ln_final.weight"] = torch.randn(32, generator=gt)
    weights["text_projection"] = torch.randn(32, 24, generator=gt)
    save_file(weights, os.path.join(HERE, "clip_openclip_weights.safetensors"))
    with open(os.path.join(HERE, "clip_openclip_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    visual.output_tokens = True
    with torch.no_grad():
        for key in ("pixels_quirk1", "pixels_quirk0", "pixels_shrink", "pixels_grow"):
            pooled, tokens = visual(cases[key])
            cases[f"openclip_{key}_tokens"] = tokens
            cases[f"openclip_{key}_embedding"] = pooled
        # hidden states as HF counts them: [0] after ln_pre, [i] after block i
        x = cases["pixels_quirk1"]
        h = visual.conv1(x).flatten(2).transpose(1, 2)
        h = torch.cat([visual.class_embedding.expand(h.shape[0], 1, -1), h], 1) + visual.positional_embedding
        states = [visual.ln_pre(h)]
        for block in visual.transformer.resblocks:
            states.append(block(states[-1].transpose(0, 1)).transpose(0, 1))
        for layer in (-2, 0, -1):
            cases[f"openclip_pixels_quirk1_layer{layer}"] = states[layer][:, 1:]
        assert torch.allclose(visual.ln_post(states[-1])[:, 1:], cases["openclip_pixels_quirk1_tokens"], atol=1e-6)

    # Hugging Face naming, quick_gelu
    hf_config = CLIPVisionConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=2,
                                 image_size=32, patch_size=8, projection_dim=24, hidden_act="quick_gelu")
    hf = CLIPVisionModelWithProjection(hf_config).eval()
    perturb(hf, 4)
    weights = {k: v.contiguous() for k, v in hf.state_dict().items()}
    weights["text_model.embeddings.token_embedding.weight"] = torch.randn(10, 32, generator=gt)
    weights["text_projection.weight"] = torch.randn(24, 32, generator=gt)
    weights["logit_scale"] = torch.tensor(4.6)
    save_file(weights, os.path.join(HERE, "clip_hf_weights.safetensors"))
    with open(os.path.join(HERE, "clip_hf_config.json"), "w") as f:
        json.dump({"embed_dim": 24, "quick_gelu": True,
                   "vision_cfg": {"image_size": 32, "layers": 2, "width": 48, "head_width": 24, "mlp_ratio": 2.0,
                                  "patch_size": 8}}, f, indent=2)
    with torch.no_grad():
        for key in ("pixels_quirk1", "pixels_quirk0"):
            out = hf(pixel_values=cases[key], output_hidden_states=True)
            cases[f"hf_{key}_layer-2"] = out.hidden_states[-2][:, 1:]
            cases[f"hf_{key}_tokens"] = hf.vision_model.post_layernorm(out.last_hidden_state)[:, 1:]
            cases[f"hf_{key}_embedding"] = out.image_embeds
        assert len(out.hidden_states) == hf_config.num_hidden_layers + 1

    # The built-in full-size towers: open_clip's visual state-dict shapes with one block (the others repeat
    # it) and its full parameter count, built on the meta device (no memory).
    config_dir = os.path.join(os.path.dirname(model_module.__file__), "model_configs")
    shapes = {}
    for name in ("ViT-bigG-14", "ViT-L-14", "ViT-L-14-quickgelu", "ViT-H-14"):
        with open(os.path.join(config_dir, name + ".json")) as f:
            cfg = json.load(f)
        with torch.device("meta"):
            full = model_module._build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"], cfg.get("quick_gelu", False))
            one = model_module._build_vision_tower(cfg["embed_dim"], dict(cfg["vision_cfg"], layers=1),
                                                   cfg.get("quick_gelu", False))
        shapes[name] = {"parameters": sum(p.numel() for p in full.parameters()),
                        "quick_gelu": isinstance(full.transformer.resblocks[0].mlp.gelu, model_module.QuickGELU),
                        "one_block_shapes": {k: list(v.shape) for k, v in one.state_dict().items()}}
    with open(os.path.join(HERE, "clip_builtin_shapes.json"), "w") as f:
        json.dump(shapes, f, indent=1, sort_keys=True)

    save_file({k: v.contiguous().float() for k, v in cases.items()}, os.path.join(HERE, "clip_cases.safetensors"))
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE) if f.startswith("clip_"))
    print(f"wrote {len(cases)} cases; clip fixtures {total} bytes")


if __name__ == "__main__":
    main()
