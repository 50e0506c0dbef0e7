"""The PyTorch peer of voxelformer-bench's `train ...` rows (Sources/voxelformer-bench/TrainingStep.swift).

One VoxelFormer training step in plain PyTorch, as the reference runs it: tokenizer + SIREN code, the ToMe
encoder (pre-norm SDPA attention, LayerScale, DropPath, SwiGLU), the feature mapper, the Q-Former (cross-
then self-attention, post-norm, SDPA with attention dropout in training) and its heads; SoftCLIP at
temperature 0.004 on the L2-normalised flattened outputs; backward; gradient clipping at norm 1; AdamW with
no weight decay on biases and LayerNorms. Written from ../shared/spec/voxelformer.md (the model of
Tests/VoxelFormerTests/Fixtures/generate_fixtures.py, with the training-mode parts that the forward fixture
leaves out); not the reference's code. The model config is the same JSON the Swift side uses (snake_case
`model:` keys of configs/*.yaml), the inputs are random with the same shapes: voxels (B, 1, V), coordinates
drawn in the 81x104x83 grid, targets (B, Q, E). --bf16 runs the forward under torch.autocast("cpu", bf16).
--prior JSON (PriorConfig's snake_case keys) adds MindEye2's diffusion prior as the fixture generator
Tests/VoxelFormerTests/Fixtures/generate_prior.py builds it: loss = SoftCLIP + 30 * the prior's MSE on the
model's backbone output, the prior's parameters in the same AdamW groups, clipping on the brain model only.

Prints one JSON object: step_seconds (every timed step), median_seconds, rss_built_mib (VmRSS before the
first step), peak_rss_mib (VmHWM), threads, torch, parameters (the model's and the prior's, frozen ones included:
39,742,464 + 259,865,216 at paper size). --profile PATH records the timed steps with torch.profiler
into PATH.json (Chrome trace) and PATH.md (top 10 operators by self and total CPU time).

Run: PYTHONPATH=.libtorch/pkg python3 scripts/bench_train_peer.py --model '{"tome_r": 136}' --voxels 2048 --batch 4
"""
import argparse
import json
import math
import statistics
import time

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench_peer_common import exit_with_the_bench, status_mib  # beside this script

DEFAULTS = {  # ModelConfig's defaults (Sources/VoxelFormer/Config/ModelConfig.swift): the paper's widths
    "encoder_hidden_dim": 256, "nat_depth": 2, "num_heads": 8, "tome_r": 1000, "decoder_hidden_dim": 1280,
    "n_blocks_decoder": 2, "clip_seq_dim": 256, "clip_emb_dim": 1664, "drop": 0.1, "drop_path_rate": 0.2,
    "siren_omega0": 30.0, "layer_scale_init": 1e-6,
}


def drop_path(x, p, training):
    if not training or p == 0:
        return x
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype).bernoulli_(1 - p) / (1 - p)
    return x * mask


def tome_merge(x, metric, r):
    """ToMe bipartite soft matching (sizes not carried), as the reference runs it."""
    b, n, c = x.shape
    r = min(r, n // 2)
    if r <= 0:
        return x
    with torch.no_grad():
        m = metric / metric.norm(dim=-1, keepdim=True)
        scores = m[:, ::2] @ m[:, 1::2].transpose(-1, -2)
        best, partner = scores.max(-1)
        order = best.argsort(-1, descending=True)[..., None]
        unm, src = order[:, r:], order[:, :r]
        dst = partner[..., None].gather(1, src)
    sizes = torch.ones(b, n, 1, dtype=x.dtype)

    def merged(values, width):
        a, bb = values[:, ::2], values[:, 1::2]
        kept = a.gather(1, unm.expand(b, unm.shape[1], width))
        moved = a.gather(1, src.expand(b, r, width))
        return torch.cat([kept, bb.scatter_reduce(1, dst.expand(b, r, width), moved, reduce="sum")], dim=1)

    return merged(x * sizes, c) / merged(sizes, 1)


class EncoderLayer(nn.Module):
    def __init__(self, c, heads, r, drop, drop_path_rate, layer_scale):
        super().__init__()
        self.gamma_1 = nn.Parameter(torch.full((c,), layer_scale))
        self.gamma_2 = nn.Parameter(torch.full((c,), layer_scale))
        self.norm1, self.norm2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.query_proj, self.key_proj, self.value_proj = (nn.Linear(c, c, bias=False) for _ in range(3))
        self.fc1, self.fc2 = nn.Linear(c, 8 * c), nn.Linear(4 * c, c)
        self.drop = nn.Dropout(drop)
        self.heads, self.r, self.drop_path_rate = heads, r, drop_path_rate

    def forward(self, x):
        b, n, c = x.shape
        h = self.norm1(x)

        def split(t):
            return t.view(b, n, self.heads, c // self.heads).transpose(1, 2)

        q, k, v = split(self.query_proj(h)), split(self.key_proj(h)), split(self.value_proj(h))
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        x = x + drop_path(self.gamma_1 * a, self.drop_path_rate, self.training)
        x = tome_merge(x, k.mean(1), self.r)
        u, g = self.fc1(self.norm2(x)).chunk(2, dim=-1)
        m = self.drop(self.fc2(self.drop(F.silu(u) * g)))
        return x + drop_path(self.gamma_2 * m, self.drop_path_rate, self.training)


class BertAttention(nn.Module):
    def __init__(self, h, heads, drop):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.heads, self.drop = heads, drop

    def forward(self, x, context=None):
        kv = x if context is None else context
        b, nq, h = x.shape
        d = h // self.heads
        q = self.query(x).view(b, nq, self.heads, d).transpose(1, 2)
        k = self.key(kv).view(b, -1, self.heads, d).transpose(1, 2)
        v = self.value(kv).view(b, -1, self.heads, d).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.drop if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, nq, h)


class Projector(nn.Module):
    def __init__(self, h, drop):
        super().__init__()
        self.dense, self.LayerNorm, self.drop = nn.Linear(h, h), nn.LayerNorm(h, eps=1e-6), nn.Dropout(drop)

    def forward(self, x, residual=None):
        return self.LayerNorm(self.drop(self.dense(x)) + (x if residual is None else residual))


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, h, heads = cfg["encoder_hidden_dim"], cfg["decoder_hidden_dim"], cfg["num_heads"]
        depth, drop = cfg["nat_depth"], cfg["drop"]
        self.tokenizer = nn.Sequential(nn.Conv1d(1, c // 2, 1), nn.Conv1d(c // 2, c, 1))
        self.token_norm, self.pos_drop = nn.LayerNorm(c), nn.Dropout(drop)
        self.siren, self.omega0 = nn.Linear(3, c), cfg["siren_omega0"]
        self.layers = nn.ModuleList([
            EncoderLayer(c, heads, cfg["tome_r"], drop,
                         cfg["drop_path_rate"] * i / (depth - 1) if depth > 1 else 0.0, cfg["layer_scale_init"])
            for i in range(depth)])
        self.feature_mapper = nn.Linear(c, h)
        self.queries = nn.Parameter(torch.randn(1, cfg["clip_seq_dim"], h))
        self.blocks = nn.ModuleList([
            nn.ModuleList([BertAttention(h, heads, drop), Projector(h, drop), BertAttention(h, heads, drop),
                           Projector(h, drop)]) for _ in range(cfg["n_blocks_decoder"])])
        self.backbone_head = nn.ModuleList([Projector(h, 0.1), Projector(h, 0.1)])
        self.clip_head = nn.ModuleList([Projector(h, 0.1), Projector(h, 0.1)])  # built and unused, as in the reference
        self.backbone_proj, self.clip_proj = nn.Linear(h, cfg["clip_emb_dim"]), nn.Linear(h, cfg["clip_emb_dim"])

    def forward(self, voxels, coords):
        x = self.pos_drop(self.token_norm(self.tokenizer(voxels).transpose(1, 2)))
        x = x + torch.sin(self.omega0 * self.siren(coords))
        for layer in self.layers:
            x = layer(x)
        tokens = self.feature_mapper(x)
        q = self.queries.expand(tokens.shape[0], -1, -1)
        for cross, p1, self_attn, p2 in self.blocks:
            q = p1(cross(q, tokens), q)
            q = p2(self_attn(q), q)
        y = q
        for head in self.backbone_head:
            y = head(y)
        return self.backbone_proj(y), self.clip_proj(q)


def soft_clip(p, t, temperature):
    logits = p @ t.T / temperature
    targets = (t @ t.T / temperature).softmax(-1)
    return ((-(targets * logits.log_softmax(-1)).sum(-1)).mean()
            + (-(targets * logits.T.log_softmax(-1)).sum(-1)).mean()) / 2


def build_prior(keys):
    """PriorConfig's defaults (Sources/VoxelFormer/Config/PriorConfig.swift) with `keys` over them."""
    c = {"dim": 1664, "depth": 6, "dim_head": 52, "heads": 32, "timesteps": 100, "num_tokens": 256,
         "cond_drop_prob": 0.2, **keys}
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "VoxelFormerTests", "Fixtures")
    sys.path.insert(0, fixtures)
    from generate_prior import Prior, PriorNet  # the PyTorch prior the Swift prior is tested against
    net = PriorNet(c["dim"], c["depth"], c["dim_head"], c["heads"], c["num_tokens"])
    return Prior(net, timesteps=c["timesteps"], cond_drop_prob=c["cond_drop_prob"]).train()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="{}", help="JSON of model: keys overriding the paper's widths")
    parser.add_argument("--voxels", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--timed", type=int, default=3)
    parser.add_argument("--prior", help="JSON of PriorConfig keys: train the diffusion prior jointly")
    parser.add_argument("--profile", help="PATH: profile the timed steps into PATH.json (Chrome trace), PATH.md (top 10)")
    args = parser.parse_args()
    exit_with_the_bench()
    cfg = dict(DEFAULTS, **json.loads(args.model))
    torch.manual_seed(0)
    model = Model(cfg).train()
    prior = build_prior(json.loads(args.prior)) if args.prior else None
    named = list(model.named_parameters()) + (list(prior.named_parameters(prefix="diffusion_prior")) if prior else [])
    no_decay = [p for n, p in named if n.endswith("bias") or "norm" in n.lower()]
    decay = [p for n, p in named if not (n.endswith("bias") or "norm" in n.lower())]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-2}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=5e-5)
    b = args.batch
    voxels = torch.randn(b, 1, args.voxels)
    coords = torch.stack([torch.randint(0, n, (args.voxels,)) for n in (81, 104, 83)], dim=1).float()
    targets = torch.randn(b, cfg["clip_seq_dim"], cfg["clip_emb_dim"])
    rss_built = status_mib("VmRSS")
    times = []
    profiler = None
    for step in range(args.warmup + args.timed):
        if args.profile and step == args.warmup:
            profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True)
            profiler.__enter__()
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            backbone, clip_voxels = model(voxels, coords)
            prior_loss = prior.loss(backbone, targets.to(backbone.dtype)).float() if prior else None
        p = F.normalize(clip_voxels.reshape(b, -1).float(), dim=1)
        t = F.normalize(targets.reshape(b, -1), dim=1)
        loss = soft_clip(p, t, 0.004)
        if prior_loss is not None:
            loss = loss + 30 * prior_loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if not math.isfinite(loss.item()):
            raise SystemExit("the loss is not finite")
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    if profiler is not None:
        profiler.__exit__(None, None, None)
        profiler.export_chrome_trace(args.profile + ".json")
        averages = profiler.key_averages()
        with open(args.profile + ".md", "w") as f:
            f.write("By self time:\n\n" + averages.table(sort_by="self_cpu_time_total", row_limit=10) + "\n\n"
                    + "By total time:\n\n" + averages.table(sort_by="cpu_time_total", row_limit=10) + "\n")
    parameters = sum(p.numel() for p in model.parameters()) + (sum(p.numel() for p in prior.parameters()) if prior else 0)
    print(json.dumps({"step_seconds": times, "parameters": parameters, "median_seconds": statistics.median(times), "rss_built_mib": rss_built,
                      "peak_rss_mib": status_mib("VmHWM"), "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
