# Fixtures for EncodingTests, stage 2: our own PyTorch version of Matcha-TTS's 1-D U-Net estimator
# (`Decoder`, transformer and conformer blocks), its conditional flow matching (OT path, Euler), and the
# latent projections of the flow-matching fMRI encoder, written from /work/shared/ref/encoding-flow-matching.md
# (A4, A5, A6) with the reference state-dict names (Matcha-TTS decoder.py / transformer.py, lucidrains
# conformer 0.3.2, read for names only). Run from the repository root (deterministic: every draw is seeded):
#   PYTHONPATH=/work/main/.libtorch/pkg python3 Tests/EncodingTests/Fixtures/generate_flow_matching.py
# Writes, beside this script:
#   flow_configs.json         configurations (our snake_case keys), parameter names and counts
#   flow_decoder_cases.safetensors, flow_cfm_cases.safetensors
#                             per case: weights ("<label>.weights.<name>"), inputs and outputs; the
#                             conformer in training mode; gradients of the CFM loss ("cfm.grad.<name>")
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)


def sinusoidal(t, dim):  # (B,) -> (B, dim): [sin, cos] of 1000·t·exp(−i·ln(10000)/(half−1))
    half = dim // 2
    freqs = torch.exp(torch.arange(half).float() * -(math.log(10000) / (half - 1)))
    arg = 1000 * t[:, None] * freqs[None]
    return torch.cat([arg.sin(), arg.cos()], dim=-1)


class TimestepEmbedding(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(c_in, c_out), nn.Linear(c_out, c_out)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class Block1D(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.block = nn.Sequential(nn.Conv1d(c_in, c_out, 3, padding=1), nn.GroupNorm(8, c_out), nn.Mish())

    def forward(self, x, mask):
        return self.block(x * mask) * mask


class ResnetBlock1D(nn.Module):
    def __init__(self, c_in, c_out, t_dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Mish(), nn.Linear(t_dim, c_out))
        self.block1, self.block2 = Block1D(c_in, c_out), Block1D(c_out, c_out)
        self.res_conv = nn.Conv1d(c_in, c_out, 1)

    def forward(self, x, mask, t):
        h = self.block1(x, mask) + self.mlp(t)[..., None]
        return self.block2(h, mask) + self.res_conv(x * mask)


class Wrapped(nn.Module):  # Downsample1D / Upsample1D: one child named conv
    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return self.conv(x)


class SnakeBeta(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.proj = nn.Linear(c_in, c_out)
        self.alpha, self.beta = nn.Parameter(torch.zeros(c_out)), nn.Parameter(torch.zeros(c_out))

    def forward(self, x):
        x = self.proj(x)
        return x + 1.0 / (self.beta.exp() + 1e-9) * torch.sin(x * self.alpha.exp()) ** 2


class Attention(nn.Module):  # diffusers' self-attention as Matcha calls it: the float mask is an additive bias
    def __init__(self, dim, heads, head_dim, dropout):
        super().__init__()
        self.heads = heads
        inner = heads * head_dim
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, inner, bias=False) for _ in range(3))
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(dropout)])

    def forward(self, x, mask):  # x (B, T, C), mask (B, T) float
        b, n, _ = x.shape
        q, k, v = (f(x).view(b, n, self.heads, -1).transpose(1, 2) for f in (self.to_q, self.to_k, self.to_v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        return self.to_out[1](self.to_out[0](out.transpose(1, 2).reshape(b, n, -1)))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, head_dim, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, head_dim, dropout)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = nn.Module()
        self.ff.net = nn.ModuleList([SnakeBeta(dim, 4 * dim), nn.Dropout(dropout), nn.Linear(4 * dim, dim)])

    def forward(self, x, mask):
        x = x + self.attn1(self.norm1(x), mask)
        h = self.norm3(x)
        for m in self.ff.net:
            h = m(h)
        return x + h


class Swish(nn.Module):
    def forward(self, x):
        return x * x.sigmoid()


class Fn(nn.Module):  # Scale / PreNorm: `fn` (then `norm` for PreNorm), as lucidrains names them
    def __init__(self, fn, norm_dim=None):
        super().__init__()
        self.fn = fn
        if norm_dim:
            self.norm = nn.LayerNorm(norm_dim)


class ConformerAttention(nn.Module):
    def __init__(self, dim, heads, head_dim, dropout, max_pos=512):
        super().__init__()
        self.heads, self.max_pos, self.scale = heads, max_pos, head_dim ** -0.5
        self.to_q = nn.Linear(dim, heads * head_dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * heads * head_dim, bias=False)
        self.to_out = nn.Linear(heads * head_dim, dim)
        self.rel_pos_emb = nn.Embedding(2 * max_pos + 1, head_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask):  # mask (B, T) bool
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2) for t in (self.to_q(x), *self.to_kv(x).chunk(2, dim=-1)))
        dots = q @ k.transpose(-1, -2) * self.scale
        seq = torch.arange(n)
        rel = self.rel_pos_emb((seq[:, None] - seq[None]).clamp(-self.max_pos, self.max_pos) + self.max_pos)  # (n, n, d)
        dots = dots + torch.einsum("bhnd,nrd->bhnr", q, rel) * self.scale  # Shaw relative positions
        pair = mask[:, None, :, None] & mask[:, None, None, :]
        dots = dots.masked_fill(~pair, -torch.finfo(dots.dtype).max)
        out = self.dropout(dots.softmax(-1)) @ v
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


def conformer_ff(dim, dropout):  # ff_mult 1; lucidrains' FeedForward holds its Sequential as `net`
    ff = nn.Module()
    ff.net = nn.Sequential(nn.Linear(dim, dim), Swish(), nn.Dropout(dropout), nn.Linear(dim, dim), nn.Dropout(dropout))
    ff.forward = ff.net.forward
    return ff


class ConformerBlock(nn.Module):
    def __init__(self, dim, heads, head_dim, dropout, kernel=31):
        super().__init__()
        self.ff1 = Fn(Fn(conformer_ff(dim, dropout), dim))
        self.attn = Fn(ConformerAttention(dim, heads, head_dim, dropout), dim)
        inner = 2 * dim
        dw = Wrapped(nn.Conv1d(inner, inner, kernel, groups=inner))
        self.conv = nn.Module()
        self.conv.net = nn.Sequential(nn.LayerNorm(dim), nn.Identity(), nn.Conv1d(dim, 2 * inner, 1), nn.Identity(), dw,
                                      nn.BatchNorm1d(inner), Swish(), nn.Conv1d(inner, dim, 1), nn.Identity(), nn.Dropout(dropout))
        self.ff2 = Fn(Fn(conformer_ff(dim, dropout), dim))
        self.post_norm = nn.LayerNorm(dim)
        self.kernel = kernel

    def conv_module(self, x):  # (B, T, C)
        net = self.conv.net
        h = net[2](net[0](x).transpose(1, 2))
        a, gate = h.chunk(2, dim=1)
        h = a * gate.sigmoid()  # GLU over channels
        h = net[4].conv(F.pad(h, (self.kernel // 2, self.kernel // 2)))
        h = net[7](net[6](net[5](h)))
        return net[9](h.transpose(1, 2))

    def forward(self, x, mask):
        x = 0.5 * self.ff1.fn.fn(self.ff1.fn.norm(x)) + x
        x = self.attn.fn(self.attn.norm(x), mask.bool()) + x
        x = self.conv_module(x) + x
        x = 0.5 * self.ff2.fn.fn(self.ff2.fn.norm(x)) + x
        return self.post_norm(x)


class Decoder(nn.Module):
    def __init__(self, c_in, c_out, channels, dropout, head_dim, n_blocks, num_mid_blocks, num_heads, types):
        super().__init__()
        t_dim = 4 * channels[0]
        self.c_in = c_in
        self.time_mlp = TimestepEmbedding(c_in, t_dim)

        def blocks(kind, dim):
            make = ConformerBlock if kind == "conformer" else BasicTransformerBlock
            return nn.ModuleList(make(dim, num_heads, head_dim, dropout) for _ in range(n_blocks))

        self.down_blocks, self.mid_blocks, self.up_blocks = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c = c_in
        for i, out in enumerate(channels):
            last = i == len(channels) - 1
            down = nn.Conv1d(out, out, 3, padding=1) if last else Wrapped(nn.Conv1d(out, out, 3, 2, 1))
            self.down_blocks.append(nn.ModuleList([ResnetBlock1D(c, out, t_dim), blocks(types[0], out), down]))
            c = out
        for _ in range(num_mid_blocks):
            self.mid_blocks.append(nn.ModuleList([ResnetBlock1D(c, c, t_dim), blocks(types[1], c)]))
        ups = list(channels[::-1]) + [channels[0]]
        for i in range(len(ups) - 1):
            last = i == len(ups) - 2
            up = nn.Conv1d(ups[i + 1], ups[i + 1], 3, padding=1) if last else Wrapped(nn.ConvTranspose1d(ups[i + 1], ups[i + 1], 4, 2, 1))
            self.up_blocks.append(nn.ModuleList([ResnetBlock1D(2 * ups[i], ups[i + 1], t_dim), blocks(types[2], ups[i + 1]), up]))
        self.final_block = Block1D(ups[-1], ups[-1])
        self.final_proj = nn.Conv1d(ups[-1], c_out, 1)
        for m in self.modules():  # Matcha's initialize_weights
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x, mask, mu, t):
        t = self.time_mlp(sinusoidal(t.reshape(-1), self.c_in))
        x = torch.cat([x, mu], dim=1)
        hiddens, masks = [], [mask]
        for resnet, blocks, down in self.down_blocks:
            m = masks[-1]
            x = resnet(x, m, t).transpose(1, 2)
            for b in blocks:
                x = b(x, m[:, 0])
            x = x.transpose(1, 2)
            hiddens.append(x)
            x = down(x * m)
            masks.append(m[:, :, ::2])
        masks = masks[:-1]
        m = masks[-1]
        for resnet, blocks in self.mid_blocks:
            x = resnet(x, m, t).transpose(1, 2)
            for b in blocks:
                x = b(x, m[:, 0])
            x = x.transpose(1, 2)
        for resnet, blocks, up in self.up_blocks:
            m = masks.pop()
            x = resnet(torch.cat([x, hiddens.pop()], dim=1), m, t).transpose(1, 2)
            for b in blocks:
                x = b(x, m[:, 0])
            x = up(x.transpose(1, 2) * m)
        return self.final_proj(self.final_block(x, m) * m) * mask


class LatentCFM(nn.Module):
    """The flow-matching fMRI encoder's stage 2 for one subject: proj_in (V -> d) shared by x1 and mu,
    the estimator on [x; mu] in the latent, proj_out (d -> V)."""

    def __init__(self, v, d, dec, sigma_min=1e-4, aux="autoencoder", aux_weight=0.1):
        super().__init__()
        self.proj_in, self.proj_out = nn.Linear(v, d), nn.Linear(d, v)
        self.estimator = Decoder(2 * d, d, **dec)
        self.sigma_min, self.aux, self.aux_weight = sigma_min, aux, aux_weight

    def to_latent(self, x):  # (B, V, T) -> (B, d, T)
        return self.proj_in(x.transpose(1, 2)).transpose(1, 2)

    def to_parcels(self, x):  # (B, d, T) -> (B, V, T)
        return self.proj_out(x.transpose(1, 2)).transpose(1, 2)

    def loss(self, x1, mu, mask, t, z):  # t (B, 1, 1), z (B, d, T): Matcha's compute_loss in the latent
        x1l, mul = self.to_latent(x1), self.to_latent(mu)
        s = self.sigma_min
        y = (1 - (1 - s) * t) * z + t * x1l
        u = x1l - (1 - s) * z
        v = self.estimator(y, mask, mul, t.squeeze())
        cfm = F.mse_loss(v, u, reduction="sum") / (mask.sum() * u.shape[1])
        recon = self.to_parcels(x1l) if self.aux == "autoencoder" else self.to_parcels(y + (1 - t) * v)
        aux = F.mse_loss(recon * mask, x1 * mask, reduction="sum") / (mask.sum() * x1.shape[1])
        return cfm, aux, cfm + self.aux_weight * aux

    def sample(self, mu, mask, z, steps):  # Euler from z at t = 0 over linspace(0, 1, steps + 1)
        mul = self.to_latent(mu)
        t_span = torch.linspace(0, 1, steps + 1)
        x, t, dt = z, t_span[0], t_span[1] - t_span[0]
        for step in range(1, steps + 1):
            x = x + dt * self.estimator(x, mask, mul, t)
            t = t + dt
            if step < steps:
                dt = t_span[step + 1] - t
        return self.to_parcels(x) * mask


def perturb(model, gen):
    # Trained-looking state: every parameter and batch-norm statistic moves, so a misplaced one shows.
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                p.fill_(3)
            elif name.endswith("running_var"):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))
            elif name.endswith("rel_pos_emb.weight"):
                p.mul_(0.3)
            else:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))


def decoder_config(channels, kind, **changes):
    cfg = dict(channels=channels, dropout=0.05, attention_head_dim=4, n_blocks=1, num_mid_blocks=2, num_heads=2,
               act_fn="snakebeta", down_block_type=kind, mid_block_type=kind, up_block_type=kind)
    cfg.update(changes)
    return cfg


def build(cfg, c_in, c_out):
    types = (cfg["down_block_type"], cfg["mid_block_type"], cfg["up_block_type"])
    args = {k: cfg[k] for k in ("channels", "dropout", "n_blocks", "num_mid_blocks", "num_heads")}
    return Decoder(c_in, c_out, head_dim=cfg["attention_head_dim"], types=types, **args)


def main():
    gen = torch.Generator().manual_seed(14)
    torch.manual_seed(14)
    cases, configs = {}, {}
    d, v, b, n = 8, 12, 2, 8
    mask = torch.ones(b, 1, n)
    padded = mask.clone()
    padded[1, :, 6:] = 0  # the second sample is 6 frames long
    x, mu = torch.randn(b, d, n, generator=gen), torch.randn(b, d, n, generator=gen)
    t = torch.rand(b, generator=gen)
    cases.update({"decoder.x": x, "decoder.mu": mu, "decoder.t": t, "mask.full": mask, "mask.padded": padded})
    for label, cfg in {"transformer": decoder_config([16, 24], "transformer"),
                       "conformer": decoder_config([16, 16], "conformer"),
                       "mixed": decoder_config([16, 16, 16], "transformer", mid_block_type="conformer", n_blocks=2)}.items():
        model = build(cfg, 2 * d, d)
        perturb(model, gen)
        model.eval()
        with torch.no_grad():
            for m in ("full", "padded"):
                cases[f"{label}.{m}.output"] = model(x, cases[f"mask.{m}"], mu, t)
        for name, tensor in model.state_dict().items():
            cases[f"{label}.weights.{name}"] = tensor.clone()
        if label == "conformer":
            # training mode without dropout: batch norm on the batch's statistics, running ones updated
            for module in model.modules():
                if isinstance(module, nn.Dropout):
                    module.p = 0.0
            model.train()
            with torch.no_grad():
                cases["conformer.train.output"] = model(x, padded, mu, t)
            cases["conformer.train.running_mean"] = model.up_blocks[0][1][0].conv.net[5].running_mean.clone()
            cases["conformer.train.running_var"] = model.up_blocks[0][1][0].conv.net[5].running_var.clone()
        configs[label] = cfg
        configs[label + ".names"] = [name for name, _ in model.named_parameters()]
        configs[label + ".buffers"] = [name for name, _ in model.named_buffers()]
        configs[label + ".parameter_count"] = sum(p.numel() for p in model.parameters())

    # Stage 2 proper: V 12, d 8, the transformer estimator at [16, 16].
    flow = dict(latent_dim=d, target_dim=v, sigma_min=1e-4, n_timesteps=25, aux_loss="autoencoder", aux_loss_weight=0.1,
                decoder=decoder_config([16, 16], "transformer"))
    cfm = LatentCFM(v, d, {k: flow["decoder"][k] for k in ("channels", "dropout", "n_blocks", "num_mid_blocks", "num_heads")}
                    | dict(head_dim=4, types=("transformer",) * 3))
    perturb(cfm, gen)
    cfm.eval()
    x1, mu_v = torch.randn(b, v, n, generator=gen), torch.randn(b, v, n, generator=gen)
    tt, z, z0 = torch.rand(b, 1, 1, generator=gen), torch.randn(b, d, n, generator=gen), torch.randn(b, d, n, generator=gen)
    cases.update({"cfm.x1": x1, "cfm.mu": mu_v, "cfm.t": tt, "cfm.z": z, "cfm.z0": z0})
    with torch.no_grad():
        for aux in ("autoencoder", "denoised"):
            cfm.aux = aux
            losses = cfm.loss(x1, mu_v, mask, tt, z)
            for name, value in zip(("cfm", "aux", "total"), losses):
                cases[f"cfm.{aux}.{name}"] = value
        cases["cfm.sample.full"] = cfm.sample(mu_v, mask, z0, 25)
        cases["cfm.sample.steps3"] = cfm.sample(mu_v, padded, z0, 3)
    for name, tensor in cfm.state_dict().items():
        cases[f"cfm.weights.{name}"] = tensor.clone()
    # gradients of the denoised-form total loss (evaluation mode: no dropout), every parameter
    cfm.aux = "denoised"
    cfm.loss(x1, mu_v, mask, tt, z)[2].backward()
    for name, p in cfm.named_parameters():
        cases[f"cfm.grad.{name}"] = p.grad.clone()
    configs["cfm"] = flow
    configs["cfm.parameter_count"] = sum(p.numel() for p in cfm.parameters())

    # Full sizes (notes A5): d 128 (in 256, out 128), V 1000.
    for label, cfg in {"full.transformer": decoder_config([256, 256], "transformer", attention_head_dim=64),
                       "full.conformer": decoder_config([256, 256], "conformer", attention_head_dim=64),
                       "full.small": decoder_config([128, 128], "transformer", attention_head_dim=64)}.items():
        configs[label] = cfg
        configs[label + ".parameter_count"] = sum(p.numel() for p in build(cfg, 256, 128).parameters())
    assert configs["full.transformer.parameter_count"] == 11_217_792
    assert configs["full.conformer.parameter_count"] == 12_505_344
    assert configs["full.small.parameter_count"] == 3_151_360

    # two files of about 600 kB each (the conformer's relative-position tables are most of it)
    first = ("decoder.", "mask.", "transformer.", "conformer.")
    for name, keep in (("flow_decoder_cases", lambda k: k.startswith(first)), ("flow_cfm_cases", lambda k: not k.startswith(first))):
        save_file({k: val.contiguous() for k, val in cases.items() if keep(k)}, os.path.join(HERE, name + ".safetensors"))
    with open(os.path.join(HERE, "flow_configs.json"), "w") as f:
        json.dump(configs, f, indent=1)


if __name__ == "__main__":
    main()
