# Fixtures for BrainXTests: our own PyTorch version of UMBRAE's BrainX / BrainXS (subject tokenizers and
# the Flamingo perceiver resampler), its losses, VINDEX's nested pooling and LLaVA's mm_projector, written
# from /work/shared/ref/umbrae-vindex.md (B2-B5) with the state-dict names of weihaox/UMBRAE
# umbrae/model.py and umbrae/perceiver.py (read for names and shapes, not copied).
# Run from the repository root (deterministic: every draw is seeded):
#   PYTHONPATH=/work/main/.libtorch/pkg python3 Tests/BrainXTests/Fixtures/generate_brainx.py
# Writes, beside this script:
#   brainx_configs.json             per model label, its config in our snake_case keys, and its state-dict names
#   brainx_<label>.safetensors      per model label, its weights under the reference names
#   brainx_cases.safetensors        inputs and evaluation-mode outputs of every model, the losses, the pooling
#   mm_projector_<type>.safetensors LLaVA projectors as LLaVA stores them (model.mm_projector.*)
#   brainx_counts.json              full-size parameter counts, from the same modules built on the meta device
#   umbrae_brainx.safetensors       the "brainx" model saved as UMBRAE's training checkpoint (.pth, `module.`
#                                   names) and converted by scripts/convert_umbrae.py, as a user would
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)

# Small sizes: hidden 32, output 24, 8 latents, 2 layers of 4 heads x 6, feed-forward x 4.
SMALL = dict(hidden_dim=32, out_dim=24, num_latents=8, depth=2, heads=4, dim_head=6, ff_mult=4)


class Attention(nn.Module):
    """Latents (B, L, D) attend to concat(media, latents); 'norm_media', 'norm_latents', 'to_q', 'to_kv', 'to_out'."""

    def __init__(self, dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.dim_head = heads, dim_head
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, media, latents):
        media, latents = self.norm_media(media), self.norm_latents(latents)
        b, l, _ = latents.shape

        def split(t):  # (B, n, h*d) -> (B, h, n, d)
            return t.view(b, t.shape[1], self.heads, self.dim_head).transpose(1, 2)

        q = split(self.to_q(latents)) * self.dim_head ** -0.5
        k, v = (split(t) for t in self.to_kv(torch.cat([media, latents], dim=1)).chunk(2, dim=-1))
        sim = q @ k.transpose(-1, -2)
        sim = sim - sim.amax(dim=-1, keepdim=True).detach()
        out = sim.softmax(dim=-1) @ v  # (B, h, L, d)
        return self.to_out(out.transpose(1, 2).reshape(b, l, -1))


class Resampler(nn.Module):
    def __init__(self, dim, depth, heads, dim_head, num_latents, ff_mult):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.media_pos_emb = nn.Parameter(torch.randn(1, 1, dim))
        self.layers = nn.ModuleList(
            nn.ModuleList([
                Attention(dim, heads, dim_head),
                nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * ff_mult, bias=False), nn.GELU(),
                              nn.Linear(dim * ff_mult, dim, bias=False)),
            ])
            for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):  # (B, N, D) -> (B, L, D); one media frame
        x = x + self.media_pos_emb[0]
        latents = self.latents.expand(x.shape[0], -1, -1)
        for attn, ff in self.layers:
            latents = attn(x, latents) + latents
            latents = ff(latents) + latents
        return self.norm(latents)


class Perceiver(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_vision = nn.LayerNorm(c["hidden_dim"])
        self.llm_proj = nn.Linear(c["hidden_dim"], c["out_dim"])
        self.perceiver = Resampler(c["hidden_dim"], c["depth"], c["heads"], c["dim_head"], c["num_latents"], c["ff_mult"])

    def forward(self, x):
        return self.llm_proj(self.perceiver(self.ln_vision(x)))


def lin1_layer(c):
    n = c["num_latents"]
    if not c.get("use_norm"):
        return nn.Linear(1, n)
    norm_act = [nn.GELU(), nn.LayerNorm(n)] if c.get("act_first") else [nn.LayerNorm(n), nn.GELU()]
    return nn.Sequential(nn.Linear(1, n), *norm_act, nn.Dropout(0.5))


def tokens_of(x, lin1, lin2):  # (B, V) -> (B, L, hidden), the reference's two products
    return lin2(lin1(x.unsqueeze(2)).transpose(1, 2))


class BrainX(nn.Module):
    def __init__(self, c):
        super().__init__()
        keys = [f"fmri{s}" for s in c["subjects"]]
        self.lin1 = nn.ModuleDict({k: lin1_layer(c) for k in keys})
        self.lin2 = nn.ModuleDict({k: nn.Linear(v, c["hidden_dim"]) for k, v in zip(keys, c["num_voxels"])})
        self.token = nn.ParameterDict()
        if c.get("use_token"):
            for k in keys:
                self.token[k] = nn.Parameter(0.02 * torch.randn(1, c["num_tokens"], c["hidden_dim"]))
        self.perceiver = Perceiver(c)

    def forward(self, x, key):
        t = tokens_of(x, self.lin1[key], self.lin2[key])
        if key in self.token:
            t = torch.cat([t, self.token[key].expand(len(t), -1, -1)], dim=1)
        return self.perceiver(t)


class BrainXS(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lin1 = lin1_layer(c)
        self.lin2 = nn.Linear(c["num_voxels"][0], c["hidden_dim"])
        self.perceiver = Perceiver(c)

    def forward(self, x):
        return self.perceiver(tokens_of(x, self.lin1, self.lin2))


def perturb(model, seed):
    """Every tensor drawn afresh: LayerNorm gains near 1, biases of order 0.3, matrices at 1/sqrt(fan_in),
    latents and position embeddings of order 1, so nothing sits at a value a bug could share (0 or 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.dim() == 2 and "latents" not in name:
                p.copy_(noise / p.shape[1] ** 0.5)
            elif p.dim() == 1 and name.endswith("weight"):  # LayerNorm gain
                p.copy_(1 + 0.3 * noise)
            elif p.dim() == 1:
                p.copy_(0.3 * noise)
            else:  # latents, media_pos_emb, subject tokens
                p.copy_(noise)


def full_size_counts():
    """PyTorch's counts of the same modules at UMBRAE's sizes, built on the meta device (no memory)."""
    full = dict(hidden_dim=1024, num_latents=256, depth=6, heads=16, dim_head=96, ff_mult=4)
    nsd = {1: 15724, 2: 14278, 3: 15226, 4: 13153, 5: 13039, 6: 17907, 7: 12682, 8: 14386}
    count = lambda m: sum(p.numel() for p in m.parameters())
    out = {}
    with torch.device("meta"):
        for out_dim in [1024, 4096]:
            c = dict(full, out_dim=out_dim, subjects=[1, 2, 5, 7], num_voxels=[nsd[s] for s in [1, 2, 5, 7]])
            m = BrainX(c)
            out[f"brainx_out{out_dim}"] = count(m)
            if out_dim == 1024:
                out["perceiver"] = count(m.perceiver)
                out["resampler"] = count(m.perceiver.perceiver)
                for s in [1, 2, 5, 7]:
                    out[f"tokenizer_fmri{s}"] = count(m.lin1[f"fmri{s}"]) + count(m.lin2[f"fmri{s}"])
        out["brainxs_subject1"] = count(BrainXS(dict(full, out_dim=1024, num_voxels=[nsd[1]])))
        out["brainxc_subject7"] = count(BrainXS(dict(full, out_dim=1024, num_voxels=[nsd[7]])))
    return out


def main():
    torch.manual_seed(0)
    configs = {
        # two subjects with learned tokens, the plain (Linear) lin1
        "brainx": dict(SMALL, variant="brainx", subjects=[1, 3], num_voxels=[37, 53], use_token=True, num_tokens=3),
        # use_norm: Linear -> LayerNorm -> GELU -> Dropout, and GELU first
        "brainx_norm": dict(SMALL, variant="brainx", subjects=[2, 5], num_voxels=[29, 41], use_norm=True,
                            tokenizer="plain"),
        "brainx_act_first": dict(SMALL, variant="brainx", subjects=[2], num_voxels=[29], use_norm=True,
                                 act_first=True, tokenizer="plain"),
        "brainxs": dict(SMALL, variant="brainxs", subjects=[7], num_voxels=[45]),
    }
    g = torch.Generator().manual_seed(2)
    cases, names, models = {}, {}, {}
    for seed, (label, c) in enumerate(configs.items(), start=10):
        model = BrainX(c) if c["variant"] == "brainx" else BrainXS(c)
        perturb(model, seed)
        model.eval()
        models[label] = model
        names[label] = list(model.state_dict().keys())
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(HERE, f"brainx_{label}.safetensors"))
        for i, (s, v) in enumerate(zip(c["subjects"], c["num_voxels"])):
            x = torch.randn(3, v, generator=g)
            with torch.no_grad():
                y = model(x, f"fmri{s}") if c["variant"] == "brainx" else model(x)
                lin1 = model.lin1[f"fmri{s}"] if c["variant"] == "brainx" else model.lin1
                lin2 = model.lin2[f"fmri{s}"] if c["variant"] == "brainx" else model.lin2
                t = tokens_of(x, lin1, lin2)
            cases[f"{label}.subject{i}.voxels"] = x
            cases[f"{label}.subject{i}.tokens"] = t
            cases[f"{label}.subject{i}.output"] = y

    # Losses, as UMBRAE's get_loss_func defines them; differences of both signs, some |d| > 1 for Huber.
    pred = (1.5 * torch.randn(2, 8, 24, generator=g)).requires_grad_()
    target = torch.randn(2, 8, 24, generator=g)
    losses = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.smooth_l1_loss,
              "quantile": lambda a, b: torch.quantile(torch.abs(a - b), 0.9)}
    cases["loss.prediction"], cases["loss.target"] = pred.detach().clone(), target
    for name, fn in losses.items():
        loss = fn(pred, target)
        (grad,) = torch.autograd.grad(loss, pred)
        cases[f"loss.{name}"] = loss.detach().reshape(1)
        cases[f"loss.{name}.grad"] = grad

    # Nested (Matryoshka) pooling of a 16 x 16 grid of 5-wide tokens: adaptive average pooling per side.
    tokens = torch.randn(2, 256, 5, generator=g)
    cases["pool.tokens"] = tokens
    grid = tokens.transpose(1, 2).reshape(2, 5, 16, 16)
    for side in [1, 3, 4, 6, 12, 16]:
        pooled = F.adaptive_avg_pool2d(grid, side)  # (B, D, side, side)
        cases[f"pool.{side * side}"] = pooled.flatten(2).transpose(1, 2).contiguous()
    # where 4 divides 16, plain average pooling gives the same 16 tokens
    assert torch.allclose(F.avg_pool2d(grid, 4).flatten(2).transpose(1, 2), cases["pool.16"], atol=1e-6)

    # LLaVA's projectors: mlp2x_gelu (LLaVA-1.5) and linear (LLaVA-1, Shikra), 16 -> 32.
    projectors = {
        "mlp2x_gelu": nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 32)),
        "linear": nn.Linear(16, 32),
    }
    x = torch.randn(2, 4, 16, generator=g)
    cases["projector.input"] = x
    for seed, (kind, p) in enumerate(projectors.items(), start=30):
        perturb(p, seed)
        with torch.no_grad():
            cases[f"projector.{kind}"] = p(x)
        save_file({f"model.mm_projector.{k}": v.contiguous() for k, v in p.state_dict().items()},
                  os.path.join(HERE, f"mm_projector_{kind}.safetensors"))

    save_file({k: v.contiguous() for k, v in cases.items()}, os.path.join(HERE, "brainx_cases.safetensors"))

    # UMBRAE's checkpoint layout (train_brainx.py under accelerate): the "brainx" model's state dict with
    # `module.` names beside the optimiser and the loss lists, converted by the user's script.
    converter = os.path.join(HERE, "..", "..", "..", "scripts", "convert_umbrae.py")
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "last.pth")
        state = {"module." + k: v for k, v in models["brainx"].state_dict().items()}
        torch.save({"model_state_dict": state, "optimizer_state_dict": {"state": {}, "param_groups": []},
                    "train_losses": [0.5, 0.4], "val_losses": [0.6], "lrs": [3e-4], "epoch": 2}, pth)
        subprocess.run([sys.executable, converter, pth, os.path.join(HERE, "umbrae_brainx.safetensors")], check=True)
    with open(os.path.join(HERE, "brainx_configs.json"), "w") as f:
        json.dump({label: {"config": c, "names": names[label]} for label, c in configs.items()}, f, indent=1)
    counts = full_size_counts()
    with open(os.path.join(HERE, "brainx_counts.json"), "w") as f:
        json.dump(counts, f, indent=1)
    print(f"wrote {len(configs)} models, {len(cases)} cases; full-size counts: {counts}")


if __name__ == "__main__":
    main()
