# Fixture for MindEye2TrainingTests: the losses of one seeded multi-subject training batch, computed with
# our own PyTorch version of MindEye2's model (Tests/MindEye2Tests/Fixtures/generate_mindeye2.py, its
# weights) and of the reference's loss functions, written from /work/shared/ref/mindeye2.md §3.2
# (utils.mixco, utils.mixco_nce, utils.soft_clip_loss; read, not copied). Dropout off (evaluation mode), no
# prior. Run from the repository root (deterministic):
#   PYTHONPATH=/work/main/.libtorch/pkg python3 Tests/VoxelFormerTests/Fixtures/generate_mindeye2_step.py
# Writes mindeye2_step.safetensors beside this script: per subject the voxels, MixCo draws (perm, betas,
# select), the targets, and the losses: BiMixCo at tau 0.006 with the reference's concatenated permutations
# and with offset ones, SoftCLIP at tau 0.004.
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "MindEye2Tests", "Fixtures")
sys.path.insert(0, MODEL)
import generate_mindeye2 as me2  # noqa: E402  (the model classes, not its main)

torch.set_num_threads(1)
PER_SUBJECT = 3


def mixco_labels(perm, betas, select):
    """probs = diag(betas'), then probs[i, perm[i]] = 1 - betas'_i, betas' = 1 where not selected."""
    b = torch.where(select, betas, torch.ones_like(betas))
    probs = torch.diag(b)
    probs[torch.arange(len(perm)), perm] = 1 - b
    return probs


def mixco_nce(p, t, tau, probs):
    logits = p @ t.T / tau
    first = -(logits.log_softmax(-1) * probs).sum(-1).mean()
    second = -(logits.T.log_softmax(-1) * probs.T).sum(-1).mean()
    return (first + second) / 2


def soft_clip(p, t, tau):
    teacher = (t @ t.T / tau).softmax(-1)
    a = -(teacher * (p @ t.T / tau).log_softmax(-1)).sum(-1).mean()
    b = -(teacher * (t @ p.T / tau).log_softmax(-1)).sum(-1).mean()
    return (a + b) / 2


def main():
    model = me2.Model(effective=False)
    model.load_state_dict(load_file(os.path.join(MODEL, "mindeye2_weights.safetensors")))
    model.eval()
    g = torch.Generator().manual_seed(5)
    out = {}
    voxels, mixed, perms, betas, selects = [], [], [], [], []
    for i, v in enumerate(me2.NUM_VOXELS):
        x = torch.randn(PER_SUBJECT, 1, v, generator=g)
        perm = torch.randperm(PER_SUBJECT, generator=g)
        beta = torch.rand(PER_SUBJECT, generator=g) * 0.8 + 0.1
        select = torch.tensor([True, False, True]) if i == 0 else torch.tensor([True, True, False])
        w = torch.where(select, beta, torch.ones_like(beta)).view(-1, 1, 1)
        mixed.append(x * w + x[perm] * (1 - w))
        voxels.append(x)
        perms.append(perm)
        betas.append(beta)
        selects.append(select)
        out[f"subject{i}.voxels"], out[f"subject{i}.perm"] = x, perm
        out[f"subject{i}.betas"], out[f"subject{i}.select"] = beta, select.to(torch.uint8)
    targets = torch.randn(PER_SUBJECT * len(voxels), me2.Q, me2.E, generator=g)
    out["targets"] = targets
    t = F.normalize(targets.flatten(1), dim=-1)

    def predictions(inputs):
        with torch.no_grad():
            ridged = torch.cat([model.ridge(x, i) for i, x in enumerate(inputs)], dim=0)
            _, clip, _ = model.backbone(ridged)
        return F.normalize(clip.flatten(1), dim=-1)

    p_mixed, p_clean = predictions(mixed), predictions(voxels)
    betas_all, select_all = torch.cat(betas), torch.cat(selects)
    quirk = torch.cat(perms)  # as the reference concatenates them: each indexes its own sub-batch
    offset = torch.cat([perm + i * PER_SUBJECT for i, perm in enumerate(perms)])
    out["loss.bimixco_reference"] = mixco_nce(p_mixed, t, 0.006, mixco_labels(quirk, betas_all, select_all)).reshape(1)
    out["loss.bimixco_offset"] = mixco_nce(p_mixed, t, 0.006, mixco_labels(offset, betas_all, select_all)).reshape(1)
    out["loss.softclip"] = soft_clip(p_clean, t, 0.004).reshape(1)
    assert abs(out["loss.bimixco_reference"] - out["loss.bimixco_offset"]) > 1e-3
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(HERE, "mindeye2_step.safetensors"))
    print({k: float(v) for k, v in out.items() if k.startswith("loss.")})


if __name__ == "__main__":
    main()
