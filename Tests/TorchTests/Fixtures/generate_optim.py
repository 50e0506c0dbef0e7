# Fixtures for OptimTests.swift: OneCycleLR schedules, an AdamW trajectory under OneCycle, clip_grad_norm_.
# Run from the repository root (writes Tests/TorchTests/Fixtures/optim.json):
#   PYTHONPATH=/tmp/torchinst python3 Tests/TorchTests/Fixtures/generate_optim.py
import json
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim.json")


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def schedule(total_steps, max_lr, pct_start, anneal):
    """lr and beta1 after constructing the scheduler and calling step() k times, k = 0 ... total_steps - 1."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=1.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start, anneal_strategy=anneal
    )
    lrs, beta1s = [], []
    for k in range(total_steps):
        lrs.append(opt.param_groups[0]["lr"])
        beta1s.append(opt.param_groups[0]["betas"][0])
        if k < total_steps - 1:
            opt.step()
            sched.step()
    return {"total_steps": total_steps, "max_lr": max_lr, "pct_start": pct_start, "anneal": anneal,
            "lr": lrs, "beta1": beta1s}


schedules = [
    schedule(300, 5e-5, 2 / 150, "cos"),  # the paper preset's shape
    schedule(120, 3e-3, 0.3, "linear"),
]

# AdamW on float64 parameters in two groups, driven by OneCycle (lr and beta1 change every step).
# loss = (((W x + b) * s - y)^2).sum(), W: (4, 3) in group 0 (weight decay 1e-2); b: (4, 1), s: (1,) in group 1.
x = torch.randn(3, 5, dtype=torch.float64)
y = torch.randn(4, 5, dtype=torch.float64)
W0 = torch.randn(4, 3, dtype=torch.float64)
b0 = torch.randn(4, 1, dtype=torch.float64)
s0 = torch.tensor([0.7], dtype=torch.float64)
W, b, s = (t.clone().requires_grad_(True) for t in (W0, b0, s0))
opt = torch.optim.AdamW(
    [{"params": [W], "weight_decay": 1e-2}, {"params": [b, s], "weight_decay": 0.0}],
    lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=False,
)
max_lrs = [0.05, 0.02]
steps = 100
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lrs, total_steps=steps, pct_start=0.3)
checkpoints = {}
for k in range(1, steps + 1):
    opt.zero_grad()
    loss = (((W @ x + b) * s - y) ** 2).sum()
    loss.backward()
    opt.step()
    if k < steps:
        sched.step()
    if k in (1, 10, 50, 100):
        checkpoints[str(k)] = {"W": flat(W), "b": flat(b), "s": flat(s)}
state = opt.state_dict()
final_state = {
    str(i): {"step": int(st["step"].item()), "exp_avg": flat(st["exp_avg"]), "exp_avg_sq": flat(st["exp_avg_sq"])}
    for i, st in state["state"].items()
}
adamw = {
    "x": flat(x), "y": flat(y), "W": flat(W0), "b": flat(b0), "s": flat(s0),
    "max_lr": max_lrs, "total_steps": steps, "pct_start": 0.3, "weight_decay": [1e-2, 0.0],
    "betas": [0.9, 0.999], "eps": 1e-8,
    "params_after": checkpoints, "state_after_100": final_state,
    "groups_after_100": [{"lr": g["lr"], "betas": list(g["betas"]), "weight_decay": g["weight_decay"]}
                         for g in state["param_groups"]],
}

# clip_grad_norm_ on fixed float32 gradients (grad of (p * c).sum() is c).
c1 = torch.randn(3, 4)
c2 = torch.randn(5)
clips = []
for max_norm, norm_type in ((1.0, 2.0), (100.0, 2.0), (0.5, 1.0)):
    p1 = torch.zeros(3, 4, requires_grad=True)
    p2 = torch.zeros(5, requires_grad=True)
    ((p1 * c1).sum() + (p2 * c2).sum()).backward()
    total = torch.nn.utils.clip_grad_norm_([p1, p2], max_norm=max_norm, norm_type=norm_type)
    clips.append({"max_norm": max_norm, "norm_type": norm_type, "total_norm": float(total),
                  "grad1": flat(p1.grad), "grad2": flat(p2.grad)})
clip = {"c1": flat(c1), "c2": flat(c2), "cases": clips}

with open(OUT, "w") as f:
    json.dump({"torch": torch.__version__, "schedules": schedules, "adamw": adamw, "clip": clip}, f)
print("wrote", OUT, os.path.getsize(OUT), "bytes")
