# Fixtures for EncodingTests, stage 1 and the metric: our own PyTorch version of MedARC's
# MultiSubjectConvLinearEncoder (DepthConv1d, LinearConv, streams summed, shared + subject decoders) and of
# its pearsonr_score, written from /work/shared/ref/encoding-flow-matching.md (A2, A3) with MedARC's
# state-dict names. Run from the repository root (deterministic: every draw is seeded):
#   PYTHONPATH=/work/main/.libtorch/pkg python3 Tests/EncodingTests/Fixtures/generate_encoding.py
# Writes, beside this script:
#   stage1_configs.json          the small models' configurations (our snake_case keys) and parameter counts
#   stage1_cases.safetensors     DepthConv1d cases and, per configuration, weights ("<label>.weights.<name>"),
#                                inputs and outputs, and the causal model's gradients ("causal.grad.<name>")
#   pearson_cases.safetensors    episodes of two subjects, NumPy's per-parcel r and the mean
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)


class DepthConv1d(nn.Module):
    """(*, L, C) -> (*, L, C): depthwise 'same' convolution; causal masks the taps after the centre."""

    def __init__(self, c, k, causal=False, positive=False, blockwise=False):
        super().__init__()
        self.c, self.k, self.positive, self.blockwise = c, k, positive, blockwise
        self.weight = nn.Parameter(torch.empty((1, 1, k) if blockwise else (c, 1, k)))
        self.bias = nn.Parameter(torch.zeros(c))
        mask = torch.ones(k)
        if causal:
            mask[k // 2 + 1:] = 0
        self.register_buffer("attn_mask", mask)
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x):
        *lead, n, c = x.shape
        x = x.reshape(-1, n, c).transpose(1, 2)
        w = self.weight * self.attn_mask
        if self.positive:
            w = w.abs()
        if self.blockwise:
            w = w.expand(self.c, 1, self.k)
        y = F.conv1d(x, w, self.bias, padding="same", groups=self.c)
        return y.transpose(1, 2).reshape(*lead, n, c)


class LinearConv(nn.Module):
    def __init__(self, d_in, d_out, k, causal, positive=False, blockwise=False):
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.conv = DepthConv1d(d_out, k, causal, positive, blockwise)

    def forward(self, x):
        return self.conv(self.fc(x))


class Encoder(nn.Module):
    """features: list of (N, T, D_i) or (N, T, L_i, D_i) -> (N, S, T, V)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        k, d = cfg["encoder_kernel_size"], cfg["embed_dim"]
        dims = [(1, x) if isinstance(x, int) else tuple(x) for x in cfg["feat_dims"]]
        self.feat_embeds = nn.ModuleList(
            LinearConv(dim, d, k, cfg["encoder_causal"], cfg["encoder_positive"], cfg["encoder_blockwise"])
            if k > 1 else nn.Linear(dim, d)
            for _, dim in dims)
        if cfg["global_pool"] == "linear":
            self.feat_pool = nn.Module()
            self.feat_pool.weight = nn.Parameter(torch.empty(sum(n for n, _ in dims), d))
            nn.init.trunc_normal_(self.feat_pool.weight, std=0.02)
        if cfg["with_shared_decoder"]:
            self.shared_decoder = nn.Linear(d, cfg["target_dim"])
        if cfg["with_subject_decoders"]:
            self.subject_decoders = nn.ModuleList(nn.Linear(d, cfg["target_dim"]) for _ in range(cfg["num_subjects"]))
        for m in self.modules():
            if isinstance(m, (nn.Linear, DepthConv1d)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, features):
        streams = [embed(f[:, None] if f.ndim == 3 else f.transpose(1, 2)) for f, embed in zip(features, self.feat_embeds)]
        if self.cfg["global_pool"] == "avg":
            x = sum(s.mean(dim=1) for s in streams)  # a sum over streams of layer means
        else:
            x = (torch.cat(streams, dim=1).transpose(1, 2) * self.feat_pool.weight).sum(dim=-2)
        out = 0.0
        if self.cfg["with_shared_decoder"]:
            out = self.shared_decoder(x)[:, None].expand(-1, self.cfg["num_subjects"], -1, -1)
        if self.cfg["with_subject_decoders"]:
            out = out + torch.stack([dec(x) for dec in self.subject_decoders], dim=1)
        return out


def config(**changes):
    base = dict(num_subjects=3, feat_dims=[7, [2, 5], 6], embed_dim=8, target_dim=11, global_pool="avg",
                encoder_kernel_size=5, decoder_kernel_size=0, encoder_causal=False, encoder_positive=False,
                encoder_blockwise=False, with_shared_decoder=True, with_subject_decoders=True)
    base.update(changes)
    return base


def perturb(model, gen):
    # Trained-looking weights: every parameter moves, so a misplaced one changes the output.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))


def stage1(gen):
    cases, configs = {}, {}
    # DepthConv1d alone, input (2, 3, 9, C): leading dims flatten like the reference's reshape(-1, L, C)
    for label, c, k, causal, positive, blockwise in [("plain", 6, 5, False, False, False), ("causal", 6, 5, True, False, False),
                                                     ("positive_blockwise", 6, 7, False, True, True), ("even", 4, 4, False, False, False)]:
        conv = DepthConv1d(c, k, causal, positive, blockwise)
        perturb(conv, gen)
        x = torch.randn(2, 3, 9, c, generator=gen)
        with torch.no_grad():
            y = conv(x)
        cases[f"depthconv.{label}.input"] = x
        cases[f"depthconv.{label}.output"] = y
        for name, t in conv.state_dict().items():
            cases[f"depthconv.{label}.weights.{name}"] = t
        configs[f"depthconv.{label}"] = dict(channels=c, kernel_size=k, causal=causal, positive=positive, blockwise=blockwise)

    variants = {
        "acausal": config(),
        "causal": config(encoder_causal=True),
        "linear_pool": config(global_pool="linear", encoder_kernel_size=3, with_shared_decoder=False),
        "no_conv": config(encoder_kernel_size=0, with_subject_decoders=False),
    }
    n, t = 2, 10
    feats = [torch.randn(n, t, 7, generator=gen), torch.randn(n, t, 2, 5, generator=gen), torch.randn(n, t, 6, generator=gen)]
    for i, f in enumerate(feats):
        cases[f"features.{i}"] = f
    for label, cfg in variants.items():
        model = Encoder(cfg)
        perturb(model, gen)
        model.eval()
        with torch.no_grad():
            cases[f"{label}.output"] = model(feats)
        for name, tensor in model.state_dict().items():
            cases[f"{label}.weights.{name}"] = tensor.clone()
        if label == "causal":
            # gradients of sum(output²): the causal mask must also stop the masked taps' gradients
            (model(feats) ** 2).sum().backward()
            for name, p in model.named_parameters():
                cases[f"{label}.grad.{name}"] = p.grad.clone()
        configs[label] = cfg
        configs[label + ".names"] = [name for name, _ in model.named_parameters()]
        configs[label + ".parameter_count"] = sum(p.numel() for p in model.parameters())

    # The reference configuration (default_feature_encoding.yaml): 4 subjects, 5 streams, d 192, K 45.
    full = Encoder(config(num_subjects=4, feat_dims=[3072, 1280, 2048, 5120, 1408], embed_dim=192, target_dim=1000,
                          encoder_kernel_size=45))
    configs["full.parameter_count"] = sum(p.numel() for p in full.parameters())
    assert configs["full.parameter_count"] == 3_492_296
    return cases, configs


def pearsonr_score(y_true, y_pred, eps=1e-7):
    # (T, V) each -> (V,), in float64 as NumPy computes it
    yt = y_true - y_true.mean(0)
    yt = yt / (np.linalg.norm(yt, axis=0) + eps)
    yp = y_pred - y_pred.mean(0)
    yp = yp / (np.linalg.norm(yp, axis=0) + eps)
    return (yt * yp).sum(0)


def pearson(gen):
    cases = {}
    v, lengths = 6, [13, 21]
    means = []
    for s in range(2):
        trues, preds = [], []
        for e, length in enumerate(lengths):
            y = torch.randn(length, v, generator=gen)
            y[:, 5] = 0.25  # a constant parcel: r is 0, not NaN, thanks to eps
            yhat = 0.6 * y + torch.randn(length, v, generator=gen) + 3.0 * e  # per-episode offsets
            cases[f"subject{s}.episode{e}.true"] = y
            cases[f"subject{s}.episode{e}.pred"] = yhat
            trues.append(y.double().numpy())
            preds.append(yhat.double().numpy())
        r = pearsonr_score(np.concatenate(trues), np.concatenate(preds))
        cases[f"subject{s}.r"] = torch.from_numpy(r)
        means.append(r.mean())
    cases["mean_r"] = torch.tensor(float(np.mean(means)), dtype=torch.float64)
    return cases


def main():
    gen = torch.Generator().manual_seed(20251)
    torch.manual_seed(20251)
    cases, configs = stage1(gen)
    save_file({k: v.contiguous() for k, v in cases.items()}, os.path.join(HERE, "stage1_cases.safetensors"))
    with open(os.path.join(HERE, "stage1_configs.json"), "w") as f:
        json.dump(configs, f, indent=1)
    save_file({k: v.contiguous() for k, v in pearson(gen).items()}, os.path.join(HERE, "pearson_cases.safetensors"))


if __name__ == "__main__":
    main()
