# Fixtures for PriorTests.swift: the diffusion prior (MindEye2's DALL-E 2 style prior), re-implemented here
# from its description in PyTorch, with the reference's state-dict names.
#
#   PYTHONPATH=/tmp/torchinst python3 Tests/VoxelFormerTests/Fixtures/generate_prior.py
#
# Writes prior_weights.safetensors (a small prior: dim 32, depth 2, 2 heads of 40 dims, 4 tokens; the rotary
# embedding turns 32 of each head's 40 channels, as at full size where heads have 52),
# prior_cases.safetensors (inputs and outputs), prior_grads.safetensors (the loss's gradients) and prior_schedule.json (schedule and DDIM coefficients).
# Deterministic: every draw comes from torch.manual_seed.
import json
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


class GainOnlyLayerNorm(torch.nn.Module):
    """Layer norm with a gain `g` and no bias; `stable` divides by the row maximum first."""

    def __init__(self, dim, stable=False):
        super().__init__()
        self.stable = stable
        self.g = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        eps = 1e-5 if x.dtype == torch.float32 else 1e-3
        if self.stable:
            x = x / x.amax(dim=-1, keepdim=True).detach()
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + eps) * self.g


def relative_bucket(rel, num_buckets=32, max_distance=128):
    """T5 buckets of key - query offsets, one-sided: keys after the query share bucket 0."""
    n = torch.clamp(-rel, min=0)
    exact = num_buckets // 2
    safe = torch.clamp(n, min=1).float()
    large = exact + (torch.log(safe / exact) / math.log(max_distance / exact) * (num_buckets - exact)).long()
    large = torch.clamp(large, max=num_buckets - 1)
    return torch.where(n < exact, n, large)


class RelPosBias(torch.nn.Module):
    def __init__(self, heads):
        super().__init__()
        self.relative_attention_bias = torch.nn.Embedding(32, heads)

    def forward(self, i, j):
        rel = torch.arange(j)[None, :] - torch.arange(i)[:, None]
        return self.relative_attention_bias(relative_bucket(rel)).permute(2, 0, 1)  # (h, i, j)


class Rotary(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.freqs = torch.nn.Parameter(1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)),
                                        requires_grad=False)

    def forward(self, t):  # rotates the first len(freqs)*2 channels, pairs interleaved, positions along -2
        n = t.shape[-2]
        angles = torch.arange(n, dtype=torch.float32)[:, None] * self.freqs[None, :]
        angles = angles.repeat_interleave(2, dim=-1)  # (n, rot)
        rot = angles.shape[-1]
        head, tail = t[..., :rot], t[..., rot:]
        pairs = head.reshape(*head.shape[:-1], rot // 2, 2)
        turned = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).reshape(head.shape)
        return torch.cat((head * angles.cos() + turned * angles.sin(), tail), dim=-1)


class Attention(torch.nn.Module):
    """Multi-query cosine-similarity attention (scale 16) with a learned null key/value."""

    def __init__(self, dim, dim_head, heads, rotary):
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        self.norm = GainOnlyLayerNorm(dim)
        self.null_kv = torch.nn.Parameter(torch.randn(2, dim_head))
        self.to_q = torch.nn.Linear(dim, dim_head * heads, bias=False)
        self.to_kv = torch.nn.Linear(dim, dim_head * 2, bias=False)
        self.rotary_emb = rotary
        self.to_out = torch.nn.Sequential(torch.nn.Linear(dim_head * heads, dim, bias=False), GainOnlyLayerNorm(dim))

    def forward(self, x, bias):
        b, n, _ = x.shape
        x = self.norm(x)
        q = self.to_q(x).view(b, n, self.heads, self.dim_head).transpose(1, 2)  # (b, h, n, d)
        k, v = self.to_kv(x).chunk(2, dim=-1)  # (b, n, d) each, shared by all heads
        q, k = self.rotary_emb(q), self.rotary_emb(k)
        k = torch.cat((self.null_kv[0].expand(b, 1, -1), k), dim=1)
        v = torch.cat((self.null_kv[1].expand(b, 1, -1), v), dim=1)
        q, k = F.normalize(q, dim=-1) * 4.0, F.normalize(k, dim=-1) * 4.0
        # einsum over the one shared key/value head, as the reference writes it (the bench's PyTorch peer
        # runs this module, so it costs what the reference's attention costs)
        sim = torch.einsum("bhid,bjd->bhij", q, k) + bias  # (b, h, n, n+1)
        out = torch.einsum("bhij,bjd->bhid", sim.softmax(dim=-1), v)  # (b, h, n, d)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class SwiGLU(torch.nn.Module):
    def forward(self, x):
        a, gate = x.chunk(2, dim=-1)
        return a * F.silu(gate)


def feed_forward(dim, mult=4):
    inner = dim * mult
    return torch.nn.Sequential(GainOnlyLayerNorm(dim), torch.nn.Linear(dim, inner * 2, bias=False), SwiGLU(),
                               torch.nn.Identity(), torch.nn.Dropout(0.0), torch.nn.Linear(inner, dim, bias=False))


class Transformer(torch.nn.Module):
    def __init__(self, dim, depth, dim_head, heads):
        super().__init__()
        self.rel_pos_bias = RelPosBias(heads)
        rotary = Rotary(min(32, dim_head))
        self.layers = torch.nn.ModuleList(
            [torch.nn.ModuleList([Attention(dim, dim_head, heads, rotary), feed_forward(dim)]) for _ in range(depth)])
        self.norm = GainOnlyLayerNorm(dim, stable=True)
        self.project_out = torch.nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        n = x.shape[1]
        bias = self.rel_pos_bias(n, n + 1)
        for attn, ff in self.layers:
            x = attn(x, bias) + x
            x = ff(x) + x
        return self.project_out(self.norm(x))


class SinusoidalTime(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, dtype=t.dtype) * -(math.log(10000) / (half - 1)))
        angles = t[:, None] * freqs[None, :]
        return torch.cat((angles.sin(), angles.cos()), dim=-1)


class TimeMLP(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        hidden = 2 * dim
        self.net = torch.nn.Sequential(
            torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.SiLU(), torch.nn.Identity()),
            torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.SiLU(), torch.nn.Identity()),
            torch.nn.Linear(hidden, dim))

    def forward(self, x):
        return self.net(x.float())


class Unsqueeze1(torch.nn.Module):
    def forward(self, x):
        return x[:, None]


class PriorNet(torch.nn.Module):
    def __init__(self, dim, depth, dim_head, heads, num_tokens):
        super().__init__()
        self.num_tokens = num_tokens
        self.to_time_embeds = torch.nn.Sequential(torch.nn.Sequential(SinusoidalTime(dim), TimeMLP(dim)), Unsqueeze1())
        self.learned_query = torch.nn.Parameter(torch.randn(num_tokens, dim) * dim ** -0.5)
        self.causal_transformer = Transformer(dim, depth, dim_head, heads)
        self.null_brain_embeds = torch.nn.Parameter(torch.randn(num_tokens, dim))
        self.null_image_embed = torch.nn.Parameter(torch.randn(num_tokens, dim))

    @staticmethod
    def keep_mask(batch, drop):
        if drop == 0:
            return torch.ones(batch, dtype=torch.bool)
        if drop == 1:
            return torch.zeros(batch, dtype=torch.bool)
        return torch.zeros(batch).uniform_(0, 1) < 1 - drop

    def forward(self, image, times, brain, brain_drop=0.0, image_drop=0.0):
        b = image.shape[0]
        brain_keep = self.keep_mask(b, brain_drop)[:, None, None]
        image_keep = self.keep_mask(b, image_drop)[:, None, None]
        brain = torch.where(brain_keep, brain, self.null_brain_embeds[None])
        image = torch.where(image_keep, image, self.null_image_embed[None])
        time = self.to_time_embeds(times.to(image.dtype))
        tokens = torch.cat((brain, time, image + self.learned_query[None]), dim=1)
        return self.causal_transformer(tokens)[:, -self.num_tokens:]

    def guided(self, image, times, brain, scale):
        out = self.forward(image, times, brain)
        if scale == 1:
            return out
        null = self.forward(image, times, brain, 1.0, 1.0)
        return null + (out - null) * scale


class Schedule(torch.nn.Module):
    def __init__(self, timesteps):
        super().__init__()
        s = 0.008
        x = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64)
        f = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
        f = f / f[0]
        betas = torch.clip(1 - f[1:] / f[:-1], 0, 0.999)
        alphas = 1 - betas
        ac = torch.cumprod(alphas, dim=0)
        ac_prev = torch.cat((torch.ones(1, dtype=torch.float64), ac[:-1]))
        post_var = betas * (1 - ac_prev) / (1 - ac)
        values = {
            "betas": betas, "alphas_cumprod": ac, "alphas_cumprod_prev": ac_prev,
            "sqrt_alphas_cumprod": ac.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - ac).sqrt(),
            "log_one_minus_alphas_cumprod": (1 - ac).log(), "sqrt_recip_alphas_cumprod": (1 / ac).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1 / ac - 1).sqrt(), "posterior_variance": post_var,
            "posterior_log_variance_clipped": post_var.clamp(min=1e-20).log(),
            "posterior_mean_coef1": betas * ac_prev.sqrt() / (1 - ac),
            "posterior_mean_coef2": (1 - ac_prev) * alphas.sqrt() / (1 - ac),
            "p2_loss_weight": (1 + ac / (1 - ac)) ** -0.0,
        }
        for name, v in values.items():
            self.register_buffer(name, v.to(torch.float32))
        self.num_timesteps = timesteps

    @staticmethod
    def at(a, t):
        return a.gather(-1, t)[:, None, None]

    def q_sample(self, x0, t, noise):
        return self.at(self.sqrt_alphas_cumprod, t) * x0 + self.at(self.sqrt_one_minus_alphas_cumprod, t) * noise

    def ddim_pairs(self, steps):
        times = torch.linspace(-1.0, self.num_timesteps, steps=steps + 1)[:-1].int().tolist()[::-1]
        return list(zip(times[:-1], times[1:]))

    def ddim_coefficients(self, time, time_next, eta):
        a = self.alphas_cumprod_prev[time]
        a_next = self.alphas_cumprod_prev[time_next]
        c1 = eta * ((1 - a / a_next) * (1 - a_next) / (1 - a)).sqrt()
        c2 = ((1 - a_next) - c1 ** 2).sqrt()
        return a, a_next, c1, c2


class Prior(torch.nn.Module):
    def __init__(self, net, timesteps, cond_drop_prob):
        super().__init__()
        self.noise_scheduler = Schedule(timesteps)
        self.net = net
        self.cond_drop_prob = cond_drop_prob

    def loss(self, brain, target, times=None, noise=None, drop=None):
        drop = self.cond_drop_prob if drop is None else drop
        if times is None:
            times = torch.randint(0, self.noise_scheduler.num_timesteps, (target.shape[0],))
        if noise is None:
            noise = torch.randn_like(target)
        noisy = self.noise_scheduler.q_sample(target, times, noise)
        pred = self.net(noisy, times, brain, drop, drop)
        return F.mse_loss(pred, target)

    @torch.no_grad()
    def sample(self, brain, steps, scale, eta):
        s = self.noise_scheduler
        x = torch.randn(brain.shape)
        for time, time_next in s.ddim_pairs(steps):
            t = torch.full((brain.shape[0],), time, dtype=torch.long)
            x0 = self.net.guided(x, t, brain, scale)
            eps = (s.at(s.sqrt_recip_alphas_cumprod, t) * x - x0) / s.at(s.sqrt_recipm1_alphas_cumprod, t)
            if time_next < 0:
                x = x0
                continue
            _, a_next, c1, c2 = s.ddim_coefficients(time, time_next, eta)
            noise = torch.randn_like(x) if time_next > 0 else 0.0
            x = x0 * a_next.sqrt() + c1 * noise + c2 * eps
        return x


def main():
    dim, depth, dim_head, heads, tokens, batch = 32, 2, 40, 2, 4, 2
    torch.manual_seed(0)
    prior = Prior(PriorNet(dim, depth, dim_head, heads, tokens), timesteps=100, cond_drop_prob=0.2)
    with torch.no_grad():  # move the gains and the embedding tables off their defaults so they are tested
        for name, p in prior.net.named_parameters():
            if name.endswith(".g"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
    weights = {k: v.detach().clone().contiguous() for k, v in prior.state_dict().items()}
    save_file(weights, os.path.join(HERE, "prior_weights.safetensors"))

    g = torch.Generator().manual_seed(1)
    brain = torch.randn(batch, tokens, dim, generator=g)
    target = torch.randn(batch, tokens, dim, generator=g)
    noise = torch.randn(batch, tokens, dim, generator=g)
    times = torch.tensor([3, 71])
    cases = {"brain": brain, "target": target, "noise": noise, "times": times}
    with torch.no_grad():
        noisy = prior.noise_scheduler.q_sample(target, times, noise)
        cases["noisy"] = noisy
        cases["forward"] = prior.net(noisy, times, brain)
        cases["forward_null"] = prior.net(noisy, times, brain, 1.0, 1.0)
        cases["loss"] = prior.loss(brain, target, times, noise, drop=0.0).reshape(1)
        # The whole training draw (times, noise, keep masks) from a seed, on a batch of 6.
        big_brain = torch.randn(6, tokens, dim, generator=g)
        big_target = torch.randn(6, tokens, dim, generator=g)
        cases["seeded_brain"], cases["seeded_target"] = big_brain, big_target
        torch.manual_seed(2)
        cases["seeded_loss"] = prior.loss(big_brain, big_target).reshape(1)
        torch.manual_seed(2)
        seeded_times = torch.randint(0, 100, (6,))
        torch.randn(6, tokens, dim)
        keep_brain = torch.zeros(6).uniform_(0, 1) < 0.8
        keep_image = torch.zeros(6).uniform_(0, 1) < 0.8
        assert not bool(keep_brain.all()) and not bool(keep_image.all()), "the seed should drop a condition"
        cases["seeded_times"] = seeded_times
        cases["seeded_keep_brain"], cases["seeded_keep_image"] = keep_brain.to(torch.uint8), keep_image.to(torch.uint8)
        torch.manual_seed(7)
        cases["sample_eta0"] = prior.sample(brain, steps=20, scale=1.0, eta=0.0)
        torch.manual_seed(7)
        cases["sample_eta1_guided"] = prior.sample(brain, steps=20, scale=2.0, eta=1.0)
    save_file({k: v.contiguous() for k, v in cases.items()}, os.path.join(HERE, "prior_cases.safetensors"))

    # Gradients of the fixed-draw loss (times, noise, no dropout) for every parameter and the condition.
    grad_brain = brain.clone().requires_grad_()
    prior.zero_grad()
    prior.loss(grad_brain, target, times, noise, drop=0.0).backward()
    grads = {"brain": grad_brain.grad}
    grads.update({name: p.grad for name, p in prior.named_parameters() if p.grad is not None})
    save_file({k: v.contiguous() for k, v in grads.items()}, os.path.join(HERE, "prior_grads.safetensors"))

    s = prior.noise_scheduler
    pairs = s.ddim_pairs(20)
    schedule = {
        "betas": s.betas.tolist(),
        "alphas_cumprod": s.alphas_cumprod.tolist(),
        "ddim_times": [p[0] for p in pairs],
        "ddim_next_times": [p[1] for p in pairs],
    }
    for eta in (0.0, 1.0):
        rows = [s.ddim_coefficients(t, tn, eta) for t, tn in pairs if tn >= 0]
        key = "eta%d" % int(eta)
        schedule[key] = {name: [float(r[i]) for r in rows] for i, name in enumerate(["alpha", "alpha_next", "c1", "c2"])}
    offsets = torch.arange(-600, 4)  # key position - query position
    schedule["bucket_offsets"] = offsets.tolist()
    schedule["buckets"] = relative_bucket(offsets).tolist()
    with open(os.path.join(HERE, "prior_schedule.json"), "w") as f:
        json.dump(schedule, f)


if __name__ == "__main__":
    main()
