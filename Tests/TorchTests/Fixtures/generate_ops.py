# Writes ops.json: inputs and PyTorch's outputs for the Swift tensor-library tests (Tests/TorchTests/*Tests.swift).
# Run from the repository root:
#   PYTHONPATH=/tmp/torchinst python3 Tests/TorchTests/Fixtures/generate_ops.py
# Deterministic: every random input comes from a seeded torch.Generator, every seeded draw from torch.manual_seed.
# Values are written as exact Python floats (float32/16 values widen to float64 without rounding).
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
out = {}


def put(name, t):
    t = t.detach()
    if t.dtype == torch.bool:
        values = [bool(v) for v in t.reshape(-1).tolist()]
    elif t.dtype.is_floating_point:
        # JSON has no NaN or infinities: those are written as the strings "nan", "inf", "-inf"
        values = [float(v) if math.isfinite(v) else str(v) for v in t.to(torch.float64).reshape(-1).tolist()]
    else:
        values = [int(v) for v in t.reshape(-1).tolist()]
    out[name] = {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "values": values}


def text(name, s):
    out[name] = {"text": s}


def number(name, v):
    out[name] = {"value": float(v)}


gen = torch.Generator().manual_seed(1234)


def randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


# ---- dtypes --------------------------------------------------------------------------------------------------
src = torch.tensor([-2.7, -0.5, 0.5, 1.5, 2.5, 3.99, 1000.1, 1 / 3], dtype=torch.float64)
put("dtype.src", src)
for dt in [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.bool]:
    put("dtype.to_" + str(dt).replace("torch.", ""), src.to(dt))

# ---- creation ------------------------------------------------------------------------------------------------
put("create.linspace", torch.linspace(-1, 2, 7))
put("create.arange_float", torch.arange(0.5, 3.0, 0.25))
put("create.eye", torch.eye(3, 4))
torch.manual_seed(0)
put("random.rand", torch.rand(5))
torch.manual_seed(1)
put("random.randn", torch.randn(2, 3))
torch.manual_seed(2)
put("random.randint", torch.randint(0, 10, (6,)))
torch.manual_seed(3)
put("random.randperm", torch.randperm(8))
torch.manual_seed(4)
put("random.beta", torch.distributions.Beta(0.15, 0.15).sample([6]))
torch.manual_seed(5)
put("random.sequence_rand", torch.rand(3))
put("random.sequence_randn", torch.randn(4, dtype=torch.float64))
put("random.sequence_randint", torch.randint(-5, 5, (2, 2)))

# ---- element-wise ----------------------------------------------------------------------------------------------
a, b, c = randn(2, 3), randn(3), randn(2, 1)
put("ew.a", a)
put("ew.b", b)
put("ew.c", c)
put("ew.a_add_b", a + b)
put("ew.a_sub_b", a - b)
put("ew.a_mul_b", a * b)
put("ew.a_div_b", a / b)
put("ew.a_add_c", a + c)
put("ew.b_sub_c", b - c)
put("ew.rsub_2_5", 2.5 - a)
put("ew.rdiv_3", 3 / a)
put("ew.mul_2", a * 2)
put("ew.add_int_left", 1 + a)
put("ew.pow_2", a.pow(2))
put("ew.abs_pow_b", a.abs().pow(b))
put("ew.exp", a.exp())
put("ew.log_abs", a.abs().log())
put("ew.sqrt_abs", a.abs().sqrt())
put("ew.tanh", a.tanh())
put("ew.sigmoid", a.sigmoid())
put("ew.maximum_b", torch.maximum(a, b))
put("ew.minimum_c", torch.minimum(a, c))
put("ew.clamp", a.clamp(-0.5, 0.5))
put("ew.gt_b", a > b)
put("ew.ge_0", a >= 0)
put("ew.lt_c", a < c)
put("ew.ne_b", a != b)

# ---- linear algebra and reductions -----------------------------------------------------------------------------
m1, m2 = randn(2, 3), randn(3, 4)
put("la.m1", m1)
put("la.m2", m2)
put("la.matmul", m1 @ m2)
b1, b2 = randn(2, 2, 3), randn(2, 3, 2)
put("la.b1", b1)
put("la.b2", b2)
put("la.bmm", torch.bmm(b1, b2))
put("la.matmul_broadcast", b1 @ m2)
put("la.matvec", m1 @ m2[:, 0])

x = randn(3, 4)
put("red.x", x)
put("red.sum", x.sum())
put("red.sum0", x.sum(0))
put("red.sum1_keep", x.sum(1, keepdim=True))
put("red.mean", x.mean())
put("red.mean1", x.mean(1))
put("red.max", x.max())
put("red.min", x.min())
v, i = x.max(1)
put("red.max1_values", v)
put("red.max1_indices", i)
v, i = x.min(0)
put("red.min0_values", v)
put("red.min0_indices", i)
put("red.argmax1", x.argmax(1))
put("red.argmax", x.argmax())
put("red.argsort1", x.argsort(1))
put("red.argsort0_desc", x.argsort(0, descending=True))
v, i = x.topk(2, dim=1)
put("red.topk_values", v)
put("red.topk_indices", i)
v, i = x.topk(2, dim=0, largest=False)
put("red.topk_small_values", v)
put("red.topk_small_indices", i)
put("red.norm", x.norm())
put("red.norm1_dim1", x.norm(p=1, dim=1))
put("red.logsumexp1", x.logsumexp(1))
put("red.logsumexp", x.logsumexp((0, 1)))

# ---- shapes --------------------------------------------------------------------------------------------------
s = torch.arange(24.0).reshape(2, 3, 4)
put("shape.permute", s.permute(2, 0, 1))
put("shape.transpose02", s.transpose(0, 2))
put("shape.flatten1", s.flatten(1))
put("shape.cat1", torch.cat([s, s[:, :1] * -1], 1))
put("shape.stack1", torch.stack([s[0], s[1] * 10], 1))
put("shape.expand", torch.tensor([[1.0], [2.0], [3.0]]).expand(2, 3, 4))

# ---- indexing -------------------------------------------------------------------------------------------------
put("idx.x_1", s[1])
put("idx.all_1to3", s[:, 1:3])
put("idx.last_stride2", s[:, :, ::2])
put("idx.ellipsis_neg1", s[..., -1])
put("idx.neg_mixed", s[-1, 1:, ::3])
put("idx.middle_ellipsis", s[0, ..., 1:3])
put("idx.newaxis", s[None, 0])
put("idx.neg_range", s[:, -2:])
put("idx.closed", s[1, 0:2, 1:3])
put("idx.tensor_dim1", s[:, torch.tensor([2, 0])])
put("idx.tensor_dim0", s[torch.tensor([1, 1, 0])])
put("idx.index_select", s.index_select(2, torch.tensor([3, 0, 3])))
gi = torch.tensor([[[0, 2, 1, 0], [2, 2, 0, 1]], [[1, 0, 0, 2], [0, 1, 2, 2]]])
put("idx.gather_index", gi)
put("idx.gather", s.gather(1, gi))
base = randn(3, 4)
src2 = randn(2, 4)
si = torch.tensor([[0, 2, 2, 1], [2, 2, 0, 1]])
put("idx.base", base)
put("idx.src", src2)
put("idx.scatter_index", si)
put("idx.scatter", base.scatter(0, torch.tensor([[0, 2, 1, 1], [2, 0, 0, 2]]), src2))
put("idx.scatter_plain_index", torch.tensor([[0, 2, 1, 1], [2, 0, 0, 2]]))
for red in ["sum", "mean", "amax"]:
    for inc in [True, False]:
        put(f"idx.scatter_reduce_{red}_{'self' if inc else 'noself'}",
            base.scatter_reduce(0, si, src2, red, include_self=inc))
mask = base > 0
put("idx.mask", mask)
put("idx.masked_fill", base.masked_fill(mask, -9.5))
put("idx.where", torch.where(mask, base, src2[:1] * 100))
y = s.clone()
y[0, 1:3] = torch.tensor([-1.0, -2.0, -3.0, -4.0])
y[:, :, ::2] = torch.tensor(0.5)
y[-1, -1, -1] = torch.tensor(99.0)
y[..., 1] = s[..., 1] * 2
put("idx.assigned", y)
z = s.clone()
z[torch.tensor([1, 0])] = torch.full((3, 4), 7.0)
put("idx.assigned_tensor", z)

# ---- functional -----------------------------------------------------------------------------------------------
fx, fw, fb = randn(2, 3), randn(4, 3), randn(4)
put("fn.linear_x", fx)
put("fn.linear_w", fw)
put("fn.linear_b", fb)
put("fn.linear", F.linear(fx, fw, fb))
put("fn.linear_nobias", F.linear(fx, fw))
cx, cw, cb = randn(2, 3, 8), randn(4, 3, 3), randn(4)
put("fn.conv_x", cx)
put("fn.conv_w", cw)
put("fn.conv_b", cb)
put("fn.conv1d", F.conv1d(cx, cw, cb, stride=2, padding=1))
put("fn.conv1d_dilated", F.conv1d(cx, cw, None, dilation=2))
cgw = randn(6, 1, 3)
put("fn.conv_groups_w", cgw)
put("fn.conv1d_groups", F.conv1d(cx, cgw, None, padding=1, groups=3))
tx, tw, tb = randn(2, 4, 5), randn(4, 3, 3), randn(3)
put("fn.convt_x", tx)
put("fn.convt_w", tw)
put("fn.convt_b", tb)
put("fn.conv_transpose1d", F.conv_transpose1d(tx, tw, tb, stride=2, padding=1, output_padding=1))
lx, lw, lb = randn(2, 3, 4), randn(4), randn(4)
put("fn.ln_x", lx)
put("fn.ln_w", lw)
put("fn.ln_b", lb)
put("fn.layer_norm", F.layer_norm(lx, [4], lw, lb))
put("fn.layer_norm_2d_plain", F.layer_norm(lx, [3, 4], eps=1e-3))
gx, gw, gb = randn(2, 6, 5), randn(6), randn(6)
put("fn.gn_x", gx)
put("fn.gn_w", gw)
put("fn.gn_b", gb)
put("fn.group_norm", F.group_norm(gx, 3, gw, gb))
put("fn.group_norm_plain", F.group_norm(gx, 2))
ax = randn(3, 5) * 3
put("fn.act_x", ax)
put("fn.softmax", F.softmax(ax, -1))
put("fn.log_softmax0", F.log_softmax(ax, 0))
put("fn.gelu", F.gelu(ax))
put("fn.gelu_tanh", F.gelu(ax, approximate="tanh"))
put("fn.silu", F.silu(ax))
put("fn.mish", F.mish(ax))
torch.manual_seed(7)
put("fn.dropout_seeded", F.dropout(ax, 0.4, training=True))
q, k, v = randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 6)
put("fn.q", q)
put("fn.k", k)
put("fn.v", v)
bmask = torch.tensor([[True, False, True, True, False], [False, False, True, False, False],
                      [True, True, True, True, True]])
fmask = randn(3, 5)
put("fn.bool_mask", bmask)
put("fn.float_mask", fmask)
put("fn.sdpa", F.scaled_dot_product_attention(q, k, v))
put("fn.sdpa_bool", F.scaled_dot_product_attention(q, k, v, attn_mask=bmask))
put("fn.sdpa_float", F.scaled_dot_product_attention(q, k, v, attn_mask=fmask))
put("fn.sdpa_scale", F.scaled_dot_product_attention(q, k, v, scale=0.3))
put("fn.sdpa_causal", F.scaled_dot_product_attention(q, k[:, :3], v[:, :3], is_causal=True))
torch.manual_seed(8)
put("fn.sdpa_dropout", F.scaled_dot_product_attention(q, k, v, dropout_p=0.3))
logits = randn(4, 5)
target = torch.tensor([1, 0, 4, 2])
probs = F.softmax(randn(4, 5), -1)
put("fn.logits", logits)
put("fn.target", target)
put("fn.probs", probs)
put("fn.ce", F.cross_entropy(logits, target))
put("fn.ce_none", F.cross_entropy(logits, target, reduction="none"))
put("fn.ce_sum_smooth", F.cross_entropy(logits, target, reduction="sum", label_smoothing=0.1))
put("fn.ce_ignore", F.cross_entropy(logits, torch.tensor([1, -100, 4, -100])))
put("fn.ce_probs", F.cross_entropy(logits, probs))
put("fn.ce_probs_smooth", F.cross_entropy(logits, probs, label_smoothing=0.2))
la, lb2 = randn(3, 4), randn(3, 4)
put("fn.loss_a", la)
put("fn.loss_b", lb2)
put("fn.mse", F.mse_loss(la, lb2))
put("fn.mse_sum", F.mse_loss(la, lb2, reduction="sum"))
put("fn.l1", F.l1_loss(la, lb2))
put("fn.l1_none", F.l1_loss(la, lb2, reduction="none"))
put("fn.normalize", F.normalize(la))
put("fn.normalize_p1_dim0", F.normalize(la, p=1, dim=0))
put("fn.cosine", F.cosine_similarity(la, lb2))
put("fn.cosine_dim0", F.cosine_similarity(la, lb2, dim=0))
put("fn.cdist", torch.cdist(la[:2, :3], lb2[:, :3]))
put("fn.cdist_p1", torch.cdist(la[:2, :3], lb2[:, :3], p=1))

# ---- autograd: global-norm clipping ---------------------------------------------------------------------------
gx1, p1, p2 = randn(5, 3), randn(3, 4), randn(4)
put("grad.x", gx1)
put("grad.p1", p1)
put("grad.p2", p2)
p1r, p2r = p1.clone().requires_grad_(), p2.clone().requires_grad_()
loss = ((gx1 @ p1r + p2r) ** 2).sum()
loss.backward()
put("grad.p1_grad", p1r.grad)
put("grad.p2_grad", p2r.grad)
number("grad.total_norm", torch.nn.utils.clip_grad_norm_([p1r, p2r], 1.0))
put("grad.p1_clipped", p1r.grad)
put("grad.p2_clipped", p2r.grad)

# ---- nn layers: seeded construction equals PyTorch's --------------------------------------------------------
torch.manual_seed(11)
lin = torch.nn.Linear(3, 4)
put("nn.linear_weight", lin.weight)
put("nn.linear_bias", lin.bias)
torch.manual_seed(12)
emb = torch.nn.Embedding(6, 3)
put("nn.embedding_weight", emb.weight)
put("nn.embedding_lookup", emb(torch.tensor([[5, 0], [2, 2]])))
torch.manual_seed(13)
conv = torch.nn.Conv1d(2, 3, 3)
put("nn.conv_weight", conv.weight)
put("nn.conv_bias", conv.bias)

# ---- printing -------------------------------------------------------------------------------------------------
prints = {
    "matrix": torch.tensor([[1.5, -2.25, 3.125], [0.1, 22.0, -0.333]]),
    "integer_floats": torch.tensor([1.0, 2.0, 30.0, -4.0]),
    "zeros": torch.zeros(2, 2),
    "int64": torch.tensor([1, -20, 300]),
    "int32": torch.tensor([7, 8], dtype=torch.int32),
    "bool": torch.tensor([True, False, True]),
    "bool_all_true": torch.tensor([[True, True]]),
    "scalar": torch.tensor(3.5),
    "scalar_int": torch.tensor(-12),
    "float64": torch.tensor([1.25, 2.5], dtype=torch.float64),
    "float16": torch.tensor([0.1, 2.0], dtype=torch.float16),
    "bfloat16": torch.tensor([0.1, 2.0], dtype=torch.bfloat16),
    "requires_grad": torch.tensor([1.0, 2.0], requires_grad=True),
    "sci": torch.tensor([1e-5, 1.0, 12345.678]),
    "sci_large": torch.tensor([1.5e9, -2.0]),
    "int_sci": torch.tensor([1.0, 10000.0]),
    "nonfinite": torch.tensor([1.5, float("nan"), float("inf"), float("-inf")]),
    "nonfinite_int": torch.tensor([1.0, float("nan")]),
    "cube": torch.arange(12.0).reshape(2, 2, 3) / 4,
    "four_d": torch.arange(8).reshape(2, 1, 2, 2),
    "big": torch.arange(2000.0),
    "big_int_matrix": torch.arange(1200).reshape(40, 30),
    "big_cube": torch.arange(2400.0).reshape(3, 20, 40) / 7,
    "wrapped_row": torch.arange(30.0) * 1.5,
    "wrapped_matrix": torch.arange(40.0).reshape(2, 20) / 3,
    "long_suffix": torch.arange(10.0, dtype=torch.float64) * 1.1,
    "empty": torch.zeros(0),
    "empty_2d": torch.zeros(2, 0),
    "empty_int": torch.zeros(0, dtype=torch.int64),
    "negative_zero": torch.tensor([-0.0, 1.0]),
}
for name, t in prints.items():
    put("print." + name, t.detach().to(torch.float64) if t.dtype != torch.bool else t.detach())
    out["print." + name]["dtype_original"] = str(t.dtype).replace("torch.", "")
    out["print." + name]["requires_grad"] = t.requires_grad
    out["print." + name]["text"] = str(t)
g = torch.tensor([1.0, 2.0], requires_grad=True)
text("print.grad_fn_mul", str(g * 2))
text("print.grad_fn_sum", str((g * 2).sum()))
text("print.long_suffix_grad", str((torch.arange(10.0, dtype=torch.float64) * 1.1).requires_grad_()))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"), sort_keys=True, allow_nan=False)
    f.write("\n")
print(path, os.path.getsize(path), "bytes,", len(out), "entries")
