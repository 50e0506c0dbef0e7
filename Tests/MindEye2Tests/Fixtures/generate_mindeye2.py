# Fixtures for MindEye2Tests: our own PyTorch version of MindEye2's brain model (ridge -> backbone ->
# clip_proj), written from /work/shared/ref/mindeye2.md section 3.1 and the reference's layer names (read,
# not copied, from MedARC-AI/MindEyeV2 src/models.py `BrainNetwork` and src/Train.ipynb `RidgeRegression`).
# Run from the repository root (deterministic: every draw is seeded):
#   PYTHONPATH=/work/main/.libtorch/pkg python3 Tests/MindEye2Tests/Fixtures/generate_mindeye2.py
# Writes, beside this script:
#   mindeye2_configs.json         the two model configurations ("reference", "effective"), our snake_case keys
#   mindeye2_weights.safetensors  one set of weights under the reference state-dict names (both configs load it)
#   mindeye2_cases.safetensors    inputs per subject and, per configuration, the evaluation-mode outputs
#   mindeye2_gradients.json       per configuration, the parameters whose gradient is exactly zero
import copy
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)

# Small sizes: 2 subjects, h 64, 4 blocks, CLIP targets of 4 tokens x 8.
NUM_VOXELS = [37, 53]
HIDDEN, BLOCKS, Q, E, DROP = 64, 4, 4, 8, 0.15
BATCH = [3, 2]


class Ridge(nn.Module):
    """One Linear(V_i, h) per subject; reads position 0 of axis 1, returns (B, 1, h)."""

    def __init__(self, sizes, h):
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(v, h) for v in sizes)

    def forward(self, x, i):
        return self.linears[i](x[:, 0]).unsqueeze(1)


def mlp(n, drop):
    # indices 0 Linear, 1 GELU, 2 Dropout, 3 Linear: the reference's Sequential layout
    return nn.Sequential(nn.Linear(n, n), nn.GELU(), nn.Dropout(drop), nn.Linear(n, n))


def block(n, drop):
    return nn.Sequential(nn.LayerNorm(n), mlp(n, drop))


def projector(e):
    layers = []
    for _ in range(3):
        layers += [nn.LayerNorm(e), nn.GELU(), nn.Linear(e, e)]
    return nn.Sequential(*layers)


class Backbone(nn.Module):
    def __init__(self, h, n_blocks, q, e, drop, effective):
        super().__init__()
        self.q, self.e, self.effective = q, e, effective
        self.mixer_blocks1 = nn.ModuleList(block(h, drop) for _ in range(n_blocks))
        self.mixer_blocks2 = nn.ModuleList(block(1, drop) for _ in range(n_blocks))  # seq_len 1
        self.backbone_linear = nn.Linear(h, q * e)
        self.clip_proj = projector(e)

    def trunk(self, x):  # (B, 1, h) -> (B, h)
        if self.effective:
            # the fix: each half of a block adds to its own input
            for f, g in zip(self.mixer_blocks1, self.mixer_blocks2):
                x = x + f(x)
                x = x + g(x.transpose(1, 2)).transpose(1, 2)
        else:
            # the reference's loop: the first half accumulates onto its own previous result, the second
            # half onto the previous second-half result (first the input); the value passed on is the
            # second half's, so the first halves feed only LayerNorm(1), whose output is its bias
            first_acc, second_acc = x, x.transpose(1, 2)
            for f, g in zip(self.mixer_blocks1, self.mixer_blocks2):
                y = f(x) + first_acc
                first_acc = y
                z = g(y.transpose(1, 2)) + second_acc
                second_acc = z
                x = z.transpose(1, 2)
        return x.flatten(1)

    def forward(self, x):
        feats = self.trunk(x)
        backbone = self.backbone_linear(feats).view(len(feats), self.q, self.e)
        return backbone, self.clip_proj(backbone), feats


class Model(nn.Module):
    def __init__(self, effective):
        super().__init__()
        self.ridge = Ridge(NUM_VOXELS, HIDDEN)
        self.backbone = Backbone(HIDDEN, BLOCKS, Q, E, DROP, effective)

    def forward(self, x, i):
        return self.backbone(self.ridge(x, i))


def perturb(model, seed):
    """Every tensor drawn afresh: LayerNorm gains near 1 (not 1), biases and shifts of order 0.3, linear
    weights at the default 1/sqrt(fan_in) scale, so no parameter sits at an initial value a bug could
    share (0 or 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.dim() == 2:
                p.copy_(noise / p.shape[1] ** 0.5)
            elif name.endswith("weight"):  # LayerNorm gain
                p.copy_(1 + 0.3 * noise)
            else:
                p.copy_(0.3 * noise)


def zero_gradients(model, inputs):
    """Names of the parameters whose gradient of sum(backbone) + sum(clip_voxels) over both subjects is 0.
    Computed in float64 on a copy: in float32 libtorch's LayerNorm over one element leaks rounding noise
    (it computes x·rstd·w − mean·rstd·w + b with rstd = 1/sqrt(1e-5), so a "zero" gradient is ~1e-5, not
    0); in float64 these gradients are below 1e-12 while the others are above 1e-2."""
    model = copy.deepcopy(model).double()
    loss = 0
    for i, x in enumerate(inputs):
        backbone, clip, _ = model(x.double(), i)
        loss = loss + backbone.sum() + clip.sum()
    loss.backward()
    sizes = {n: float(p.grad.abs().max()) for n, p in model.named_parameters()}
    zero = [n for n, v in sizes.items() if v < 1e-10]
    assert all(v > 1e-3 for n, v in sizes.items() if n not in zero), sizes
    return zero


def main():
    torch.manual_seed(0)
    reference = Model(effective=False)
    perturb(reference, seed=1)
    effective = Model(effective=True)
    effective.load_state_dict(reference.state_dict())
    weights = {k: v.contiguous() for k, v in reference.state_dict().items()}

    g = torch.Generator().manual_seed(2)
    inputs = [torch.randn(b, 1, v, generator=g) for b, v in zip(BATCH, NUM_VOXELS)]
    cases = {f"subject{i}.voxels": x for i, x in enumerate(inputs)}
    gradients = {}
    configs = {}
    for label, model in [("reference", reference), ("effective", effective)]:
        model.eval()
        with torch.no_grad():
            outs = [model(x, i) for i, x in enumerate(inputs)]
        for i, (backbone, clip, feats) in enumerate(outs):
            cases[f"{label}.subject{i}.trunk"] = feats
            cases[f"{label}.subject{i}.backbone"] = backbone
            cases[f"{label}.subject{i}.clip_voxels"] = clip
        # the multi-subject batch: ridge per subject, concatenated, one backbone pass
        with torch.no_grad():
            ridged = torch.cat([model.ridge(x, i) for i, x in enumerate(inputs)], dim=0)
            backbone, clip, _ = model.backbone(ridged)
        cases[f"{label}.multi.backbone"] = backbone
        cases[f"{label}.multi.clip_voxels"] = clip
        gradients[label] = zero_gradients(model, inputs)
        configs[label] = {
            "hidden_dim": HIDDEN, "n_blocks": BLOCKS, "clip_seq_dim": Q, "clip_emb_dim": E, "drop": DROP,
            "num_voxels": NUM_VOXELS, "effective_blocks": label == "effective",
        }

    # The quirk, checked here too: the reference's output is ridge + a constant, then the linear head.
    with torch.no_grad():
        x = reference.ridge(inputs[0], 0)
        shift = sum(g[1](g[0].bias.view(1, 1, 1)) for g in reference.backbone.mixer_blocks2).view(1, 1, 1)
        assert torch.allclose(reference.backbone.trunk(x), (x + shift).flatten(1), atol=1e-6)
        assert not torch.allclose(cases["reference.subject0.backbone"], cases["effective.subject0.backbone"], atol=1e-2)

    save_file(weights, os.path.join(HERE, "mindeye2_weights.safetensors"))
    save_file({k: v.contiguous() for k, v in cases.items()}, os.path.join(HERE, "mindeye2_cases.safetensors"))
    with open(os.path.join(HERE, "mindeye2_configs.json"), "w") as f:
        json.dump(configs, f, indent=1)
    with open(os.path.join(HERE, "mindeye2_gradients.json"), "w") as f:
        json.dump({"names": list(weights.keys()), "zero_gradient": gradients}, f, indent=1)
    n = sum(v.numel() for v in weights.values())
    print(f"wrote {len(weights)} tensors ({n} parameters), {len(cases)} cases; zero-gradient parameters:",
          {k: len(v) for k, v in gradients.items()})


if __name__ == "__main__":
    main()
