# Fixtures for LossTests.swift and ForwardTests.swift, computed by an independent PyTorch version of the
# model and losses written from /work/shared/spec/voxelformer.md (not copied from the reference code).
# Run from the repository root (deterministic: every draw is seeded):
#   PYTHONPATH=/tmp/torchinst python3 Tests/VoxelFormerTests/Fixtures/generate_fixtures.py
# Writes, beside this script:
#   losses.json                 MixCo (given and seeded draws), BiMixCo, SoftCLIP, the SoftCLIP schedule
#   tome.json                   ToMe merging of (2, 11, 5) tokens with r = 3, with and without carried sizes
#   forward_configs.json        the model configurations of the forward-pass variants
#   forward_weights.safetensors the small model's weights, named as the reference state dict
#   forward_cases.safetensors   inputs (voxels, coords) and each variant's backbone and clip_voxels
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)


def floats(t):
    return [float(v) for v in t.detach().double().flatten().tolist()]


# ---------------------------------------------------------------------------------------------------------
# Losses (spec, "Losses and schedule"; MindEye's mixco / mixco_nce / soft_clip_loss / cosine_anneal)


def mixco(voxels, perm=None, betas=None, select=None, beta=0.15, threshold=0.5):
    """MixCo with MindEye's draw order: randperm, Beta(beta, beta).sample([B]), rand(B) <= threshold."""
    b = voxels.shape[0]
    if perm is None:
        perm = torch.randperm(b)
    if betas is None:
        betas = torch.distributions.Beta(beta, beta).sample([b])
    if select is None:
        select = torch.rand(b) <= threshold
    betas = torch.where(select, betas, torch.ones_like(betas))
    w = betas.reshape([-1] + [1] * (voxels.dim() - 1))
    mixed = voxels * w + voxels[perm] * (1 - w)
    return mixed, perm, betas, select


def soft_labels(perm, betas):
    probs = torch.diag(betas)
    probs[torch.arange(len(perm)), perm] = 1 - betas  # overwrites the diagonal where perm[i] == i
    return probs


def bimixco(p, t, perm, betas, temperature=0.1, symmetric=False):
    logits = p @ t.T / temperature
    probs = soft_labels(perm, betas)
    first = -(logits.log_softmax(-1) * probs).sum(-1).mean()
    second_logits = logits.T if symmetric else logits
    second = -(second_logits.log_softmax(-1) * probs.T).sum(-1).mean()
    return (first + second) / 2


def soft_clip(p, t, temperature):
    labels = (t @ t.T / temperature).softmax(-1)
    logits = p @ t.T / temperature
    first = -(logits.log_softmax(-1) * labels).sum(-1).mean()
    second = -(logits.T.log_softmax(-1) * labels).sum(-1).mean()
    return (first + second) / 2


def cosine_anneal(start, end, steps):
    return end + (start - end) / 2 * (1 + torch.cos(torch.pi * torch.arange(steps) / (steps - 1)))


def make_losses():
    g = torch.Generator().manual_seed(1)
    b, d = 6, 10
    voxels = torch.randn(b, 1, d, generator=g)
    # perm fixes 2 (selected: P[2,2] = 1 - beta_2) and 3 (unselected: beta_3 = 1, so P[3,3] = 0)
    perm = torch.tensor([1, 0, 2, 3, 5, 4])
    drawn = torch.rand(b, generator=g) * 0.8 + 0.1
    select = torch.tensor([True, False, True, False, True, True])
    mixed, _, betas, _ = mixco(voxels, perm, drawn.clone(), select)
    labels = soft_labels(perm, betas)
    assert labels[3, 3] == 0 and abs(labels[2, 2] - (1 - betas[2])) < 1e-7

    p = F.normalize(torch.randn(b, d, generator=g), dim=-1)
    t = F.normalize(p + 0.7 * torch.randn(b, d, generator=g), dim=-1)

    seed = 7
    seeded_voxels = torch.randn(b, 1, d, generator=g)
    torch.manual_seed(seed)
    s_mixed, s_perm, s_betas, s_select = mixco(seeded_voxels.clone())
    assert 0 < int(s_select.sum()) < b, "the seeded draw should select some samples and leave others"

    epochs = 150
    switch = int(0.33 * epochs)
    temps = cosine_anneal(0.004, 0.0075, epochs - switch)
    assert temps.dtype == torch.float32

    return {
        "batch": b, "dim": d,
        "mixco": {
            "voxels": floats(voxels), "perm": perm.tolist(), "drawn_betas": floats(drawn),
            "select": select.tolist(), "mixed": floats(mixed), "betas": floats(betas),
            "soft_labels": floats(labels),
        },
        "seeded_mixco": {
            "seed": seed, "voxels": floats(seeded_voxels), "perm": s_perm.tolist(), "betas": floats(s_betas),
            "select": s_select.tolist(), "mixed": floats(s_mixed),
        },
        "predictions": floats(p), "targets": floats(t),
        "bimixco": {
            "temperature": 0.1,
            "reference": float(bimixco(p, t, perm, betas)),
            "symmetric": float(bimixco(p, t, perm, betas, symmetric=True)),
        },
        "softclip": [{"temperature": tau, "loss": float(soft_clip(p, t, tau))} for tau in (0.004, 0.125)],
        "schedule": {
            "epochs": epochs, "switch_epoch": switch,
            "temperatures": floats(temps),  # MindEye's cosine_anneal(0.004, 0.0075, 101), float32
        },
    }


# ---------------------------------------------------------------------------------------------------------
# Token merging (spec, "Token merging"), written as plain loops over the batch for clarity


def tome_merge(x, metric, r, sizes=None):
    """x (B, N, C), metric (B, N, D), sizes (B, N, 1) or None -> (B, N - r', C), (B, N - r', 1)."""
    bsz, n, _ = x.shape
    if sizes is None:
        sizes = torch.ones(bsz, n, 1, dtype=x.dtype)
    r = min(r, n // 2)
    if r == 0:
        return x, sizes
    xs, ss = [], []
    for i in range(bsz):
        m = metric[i] / metric[i].norm(dim=-1, keepdim=True)
        a_idx, b_idx = list(range(0, n, 2)), list(range(1, n, 2))
        scores = m[a_idx] @ m[b_idx].T  # (Na, Nb)
        best, partner = scores.max(-1)
        order = sorted(range(len(a_idx)), key=lambda j: -float(best[j]))
        merged, unmerged = order[:r], order[r:]
        weighted = [x[i, k] * sizes[i, k] for k in range(n)]
        total = [sizes[i, k].clone() for k in range(n)]
        out_b_x = [weighted[k].clone() for k in b_idx]
        out_b_s = [total[k].clone() for k in b_idx]
        for j in merged:
            out_b_x[partner[j]] += weighted[a_idx[j]]
            out_b_s[partner[j]] += total[a_idx[j]]
        rows_x = [weighted[a_idx[j]] for j in unmerged] + out_b_x
        rows_s = [total[a_idx[j]] for j in unmerged] + out_b_s
        s = torch.stack(rows_s)
        xs.append(torch.stack(rows_x) / s)
        ss.append(s)
    return torch.stack(xs), torch.stack(ss)


def tome_margin(metric):
    """The smallest gap between sorted best-match scores, or between a token's best and second-best partner
    (neither the order nor the partners may hang on rounding)."""
    gaps = []
    for i in range(metric.shape[0]):
        m = metric[i] / metric[i].norm(dim=-1, keepdim=True)
        scores = (m[0::2] @ m[1::2].T).sort(-1, descending=True).values
        best = scores[:, 0].sort().values
        gaps.append(float((best[1:] - best[:-1]).min()))
        if scores.shape[1] > 1:
            gaps.append(float((scores[:, 0] - scores[:, 1]).min()))
    return min(gaps)


def make_tome():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 11, 5, generator=g)
    metric = torch.randn(2, 11, 4, generator=g)
    sizes = torch.randint(1, 5, (2, 11, 1), generator=g).float()
    assert tome_margin(metric) > 1e-3
    out, out_sizes = tome_merge(x, metric, 3)
    out_c, out_c_sizes = tome_merge(x, metric, 3, sizes)
    return {
        "x": floats(x), "x_shape": list(x.shape), "metric": floats(metric), "metric_shape": list(metric.shape),
        "r": 3, "sizes": floats(sizes),
        "fresh": {"x": floats(out), "sizes": floats(out_sizes), "shape": list(out.shape)},
        "carried": {"x": floats(out_c), "sizes": floats(out_c_sizes), "shape": list(out_c.shape)},
    }


# ---------------------------------------------------------------------------------------------------------
# The model (spec, "Forward pass"), evaluation mode: dropout and drop-path are identities


class Tokenizer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv1d(1, c // 2, 1), nn.Conv1d(c // 2, c, 1))
        self.norm = nn.LayerNorm(c)

    def forward(self, voxels):  # (B, 1, V) -> (B, V, C)
        return self.norm(self.proj(voxels).transpose(1, 2))


class Siren(nn.Module):
    def __init__(self, c, omega0):
        super().__init__()
        self.linear = nn.Linear(3, c)
        self.omega0 = omega0

    def forward(self, coords):  # (V, 3) -> (V, C)
        return torch.sin(self.omega0 * self.linear(coords))


class EncoderAttention(nn.Module):
    def __init__(self, c, heads, neighbors):
        super().__init__()
        self.query_proj = nn.Linear(c, c, bias=False)
        self.key_proj = nn.Linear(c, c, bias=False)
        self.value_proj = nn.Linear(c, c, bias=False)
        self.heads, self.neighbors = heads, neighbors

    def forward(self, x, positions=None, log_sizes=None):
        bsz, n, c = x.shape
        d = c // self.heads

        def split(t):
            return t.view(bsz, n, self.heads, d).transpose(1, 2)  # (B, h, N, d)

        q, k, v = split(self.query_proj(x)), split(self.key_proj(x)), split(self.value_proj(x))
        logits = q @ k.transpose(-1, -2) * d ** -0.5  # (B, h, N, N)
        if log_sizes is not None:
            logits = logits + log_sizes[:, None, None, :]
        if self.neighbors is not None:
            p = positions.float()
            if p.dim() == 2:
                p = p.expand(bsz, -1, -1)
            dist = ((p[:, :, None, :] - p[:, None, :, :]) ** 2).sum(-1)  # (B, N, N)
            dist = dist + torch.diag(torch.full((n,), float("inf")))
            nearest = dist.argsort(-1)[..., : self.neighbors]
            keep = torch.zeros(bsz, n, n, dtype=torch.bool).scatter(-1, nearest, True)
            logits = logits.masked_fill(~keep[:, None], float("-inf"))
        out = logits.softmax(-1) @ v
        return out.transpose(1, 2).reshape(bsz, n, c), k.mean(1)


def knn_margin(positions, k):
    """The smallest gap between the k-th and (k+1)-th nearest distances (the neighbour sets must be clear)."""
    p = positions.double()
    if p.dim() == 2:
        p = p[None]
    n = p.shape[1]
    dist = ((p[:, :, None, :] - p[:, None, :, :]) ** 2).sum(-1) + torch.diag(torch.full((n,), float("inf")))
    s = dist.sort(-1).values
    return float((s[..., k] - s[..., k - 1]).min())


class SwiGLU(nn.Module):
    def __init__(self, c, hidden):
        super().__init__()
        self.fc1 = nn.Linear(c, 2 * hidden)
        self.fc2 = nn.Linear(hidden, c)

    def forward(self, x):
        a, b = self.fc1(x).chunk(2, dim=-1)
        return self.fc2(F.silu(a) * b)


class EncoderLayer(nn.Module):
    def __init__(self, c, heads, neighbors, r, first, last_n):
        super().__init__()
        self.gamma_1 = nn.Parameter(torch.full((c,), 1e-6))
        self.gamma_2 = nn.Parameter(torch.full((c,), 1e-6))
        self.norm1 = nn.LayerNorm(c)
        self.attn = EncoderAttention(c, heads, neighbors)
        self.norm2 = nn.LayerNorm(c)
        self.mlp = SwiGLU(c, 4 * c)
        self.r, self.first, self.last_n = r, first, last_n
        self.margins = []

    def forward(self, x, coords, sizes, proportional):
        positions = None
        if self.attn.neighbors is not None:
            positions = coords if self.first else x[..., -self.last_n:].detach()
            self.margins.append(knn_margin(positions, self.attn.neighbors))
        log_sizes = sizes[..., 0].log() if (proportional and sizes is not None) else None
        a, metric = self.attn(self.norm1(x), positions, log_sizes)
        x = x + self.gamma_1 * a
        self.margins.append(tome_margin(metric))
        x, sizes = tome_merge(x, metric, self.r, sizes)
        x = x + self.gamma_2 * self.mlp(self.norm2(x))
        return x, sizes


class Blocks(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.nat_layers = nn.ModuleList(layers)


class BrainEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["encoder_hidden_dim"]
        neighbors = None if cfg["full_attention"] else cfg["nat_num_neighbors"]
        self.embed_layer = Tokenizer(c)
        self.pos_embed = Siren(c, 30.0)
        self.blocks = Blocks([
            EncoderLayer(c, cfg["num_heads"], neighbors, cfg["tome_r"], i == 0, cfg["last_n_features"])
            for i in range(cfg["nat_depth"])
        ])
        self.carry = cfg["tome_carry_sizes"] or cfg["tome_proportional_attention"]
        self.proportional = cfg["tome_proportional_attention"]

    def forward(self, voxels, coords):
        x = self.embed_layer(voxels) + self.pos_embed(coords.float())
        sizes = None
        for layer in self.blocks.nat_layers:
            x, new_sizes = layer(x, coords, sizes, self.proportional)
            sizes = new_sizes if self.carry else None
        return x


class BertAttention(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.heads = heads

    def forward(self, x, context=None):
        kv = x if context is None else context
        bsz, nq, h = x.shape
        d = h // self.heads
        q = self.query(x).view(bsz, nq, self.heads, d).transpose(1, 2)
        k = self.key(kv).view(bsz, -1, self.heads, d).transpose(1, 2)
        v = self.value(kv).view(bsz, -1, self.heads, d).transpose(1, 2)
        probs = (q @ k.transpose(-1, -2) / math.sqrt(d)).softmax(-1)
        return (probs @ v).transpose(1, 2).reshape(bsz, nq, h)


class Projector(nn.Module):
    """LN(residual + Linear(x)), eps 1e-6."""

    def __init__(self, h):
        super().__init__()
        self.dense = nn.Linear(h, h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-6)

    def forward(self, x, residual=None):
        return self.LayerNorm(self.dense(x) + (x if residual is None else residual))


class QFormerBlock(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.cross_attn = BertAttention(h, heads)
        self.projector_1 = Projector(h)
        self.self_attn = BertAttention(h, heads)
        self.projector_2 = Projector(h)

    def forward(self, x, tokens):
        x = self.projector_1(self.cross_attn(x, tokens), x)
        return self.projector_2(self.self_attn(x), x)


class BrainDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, q, e = cfg["decoder_hidden_dim"], cfg["clip_seq_dim"], cfg["clip_emb_dim"]
        self.queries = nn.Parameter(torch.randn(1, q, h))
        self.attention_blocks = nn.ModuleList([QFormerBlock(h, cfg["num_heads"]) for _ in range(cfg["n_blocks_decoder"])])
        self.backbone_head = nn.ModuleList([Projector(h), Projector(h)])
        self.backbone_proj = nn.Linear(h, e)
        self.clip_head = nn.ModuleList([Projector(h), Projector(h)])
        self.clip_proj = nn.Linear(h, e)
        self.through_head = cfg["clip_through_head"]

    def forward(self, tokens):
        q = self.queries.expand(tokens.shape[0], -1, -1)
        for block in self.attention_blocks:
            q = block(q, tokens)
        y = q
        for head in self.backbone_head:
            y = head(y)
        c = q
        if self.through_head:
            for head in self.clip_head:
                c = head(c)
        return self.backbone_proj(y), self.clip_proj(c)


class BrainModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.brain_encoder = BrainEncoder(cfg)
        self.feature_mapper = nn.Linear(cfg["encoder_hidden_dim"], cfg["decoder_hidden_dim"])
        self.brain_decoder = BrainDecoder(cfg)

    def forward(self, voxels, coords):
        return self.brain_decoder(self.feature_mapper(self.brain_encoder(voxels, coords)))


BASE = {
    "encoder_hidden_dim": 16, "nat_depth": 2, "num_heads": 2, "tome_r": 3, "decoder_hidden_dim": 16,
    "n_blocks_decoder": 2, "clip_seq_dim": 4, "clip_emb_dim": 8, "full_attention": True, "drop": 0.1,
    "last_n_features": 16, "nat_num_neighbors": 8, "tome_carry_sizes": False,
    "tome_proportional_attention": False, "clip_through_head": False,
}
VARIANTS = {
    "full": {},
    "knn": {"full_attention": False, "nat_num_neighbors": 3, "last_n_features": 4},
    "tome_sizes": {"tome_carry_sizes": True, "tome_proportional_attention": True},
    "clip_head": {"clip_through_head": True},
}


def random_weights(model, g):
    """Seeded weights that make every part matter (LayerScale ~0.5, not the 1e-6 init)."""
    state = {}
    for name, p in model.state_dict().items():
        leaf = name.split(".")[-1]
        if leaf in ("gamma_1", "gamma_2"):
            w = 0.3 + 0.4 * torch.rand(p.shape, generator=g)
        elif name == "brain_decoder.queries":
            w = torch.randn(p.shape, generator=g)
        elif name == "brain_encoder.pos_embed.linear.weight":
            w = 0.05 * torch.randn(p.shape, generator=g)  # sin(30 * (...)) of coords up to ~10: a few radians
        elif p.dim() == 1 and ("norm" in name.lower()) and leaf == "weight":
            w = 1 + 0.1 * torch.randn(p.shape, generator=g)
        elif p.dim() == 1:
            w = 0.1 * torch.randn(p.shape, generator=g)
        else:
            fan_in = p[0].numel()
            w = torch.randn(p.shape, generator=g) / math.sqrt(fan_in)
        state[name] = w.contiguous()
    return state


def make_forward():
    g = torch.Generator().manual_seed(3)
    bsz, v = 2, 20
    # distinct integer coordinates whose 3 nearest neighbours are never tied with the 4th
    while True:
        flat = torch.randperm(12 * 12 * 12, generator=g)[:v]
        coords = torch.stack([flat // 144, (flat // 12) % 12, flat % 12], -1)
        if knn_margin(coords, 3) > 0:
            break
    voxels = torch.randn(bsz, 1, v, generator=g)

    reference = BrainModel(BASE)
    weights = random_weights(reference, g)
    cases = {"voxels": voxels.contiguous(), "coords": coords.contiguous()}
    configs = {}
    for name, override in VARIANTS.items():
        cfg = dict(BASE, **override)
        model = BrainModel(cfg)
        model.load_state_dict(weights, strict=True)
        model.eval()
        with torch.no_grad():
            backbone, clip = model(voxels, coords)
        margins = [m for layer in model.brain_encoder.blocks.nat_layers for m in layer.margins]
        assert min(margins) > 1e-4, (name, margins)
        assert backbone.shape == (bsz, 4, 8) and clip.shape == (bsz, 4, 8)
        cases[f"{name}.backbone"] = backbone.contiguous()
        cases[f"{name}.clip_voxels"] = clip.contiguous()
        configs[name] = cfg
    names = list(reference.state_dict().keys())
    return weights, cases, configs, names


def main():
    with open(os.path.join(HERE, "losses.json"), "w") as f:
        json.dump(make_losses(), f, indent=1)
    with open(os.path.join(HERE, "tome.json"), "w") as f:
        json.dump(make_tome(), f, indent=1)
    weights, cases, configs, names = make_forward()
    paper = json.load(open(os.path.join(HERE, "voxelformer_state_dict.json")))
    assert names == [k["key"] for k in paper["keys"]], "the small model must use the reference names, in order"
    save_file(weights, os.path.join(HERE, "forward_weights.safetensors"))
    save_file(cases, os.path.join(HERE, "forward_cases.safetensors"))
    with open(os.path.join(HERE, "forward_configs.json"), "w") as f:
        json.dump(configs, f, indent=1)


if __name__ == "__main__":
    main()
