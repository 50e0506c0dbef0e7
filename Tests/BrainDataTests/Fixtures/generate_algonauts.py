"""Writes the Algonauts 2025 fixtures of AlgonautsTests: a tiny root in the release's layout written by
h5py (two subjects, four parcels, Friends and movie10 runs, missing runs, MedARC's feature shards) with
every value in algonauts.json, and Pearson r values computed by NumPy as MedARC's `pearsonr_score`.

Run from anywhere: python3 Tests/BrainDataTests/Fixtures/generate_algonauts.py (needs numpy, h5py).
"""
import json
import shutil
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE / "algonauts"
V = 4
FRIENDS = "space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net_desc-s123456_bold.h5"
MOVIE10 = "space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net_bold.h5"

# subject -> series -> [(key, N_TR)]. sub-02 lacks s01e02a and wolf01.
RUNS = {
    1: {
        "friends": [("ses-001_task-s01e01a", 6), ("ses-001_task-s01e01b", 5), ("ses-002_task-s01e02a", 4),
                    ("ses-010_task-s06e01a", 5)],
        "movie10": [("ses-020_task-bourne01", 6), ("ses-021_task-figures01_run-1", 5),
                    ("ses-022_task-figures01_run-2", 5), ("ses-023_task-wolf01", 4)],
    },
    2: {
        "friends": [("ses-001_task-s01e01a", 7), ("ses-002_task-s01e01b", 4), ("ses-010_task-s06e01a", 5)],
        "movie10": [("ses-020_task-bourne01", 5), ("ses-021_task-figures01_run-1", 5),
                    ("ses-022_task-figures01_run-2", 4)],
    },
}
# task -> rows of its feature shard. s01e01a is longer than the fMRI (truncated), s01e01b shorter (padded).
FEATURE_ROWS = {"s01e01a": 7, "s01e01b": 2, "s01e02a": 4, "s06e01a": 5, "bourne01": 5, "figures01": 6, "wolf01": 4}


def fmri_value(sub, key_index, n, series):
    """(n, V) float32: 1000*sub + 100*run + 10*t + v (+ 50 for movie10), exact in float32."""
    t = np.arange(n)[:, None]
    v = np.arange(V)[None, :]
    return (1000 * sub + 100 * key_index + 10 * t + v + (50 if series == "movie10" else 0)).astype(np.float32)


def feature_value(task_index, n, width, scale=1.0):
    t = np.arange(n)[:, None]
    d = np.arange(width)[None, :]
    return ((100 * task_index + 10 * t + d) * scale).astype(np.float32)


def shard_path(model, task):
    if task.startswith("s0"):
        return ROOT / "features" / model / "friends" / f"s{int(task[1:3])}" / f"friends_{task}.h5"
    movie = task.rstrip("0123456789")
    return ROOT / "features" / model / "movie10" / movie / f"movie10_{task}.h5"


def main():
    if ROOT.exists():
        shutil.rmtree(ROOT)
    expected = {"fmri": {}, "features": {}}
    for sub, series_runs in RUNS.items():
        for series, runs in series_runs.items():
            folder = ROOT / "fmri" / f"sub-{sub:02d}" / "func"
            folder.mkdir(parents=True, exist_ok=True)
            name = FRIENDS if series == "friends" else MOVIE10
            with h5py.File(folder / f"sub-{sub:02d}_task-{series}_{name}", "w") as f:
                for i, (key, n) in enumerate(runs):
                    data = fmri_value(sub, i, n, series)
                    f.create_dataset(key, data=data)
                    expected["fmri"][f"{sub}/{key}"] = data.ravel().tolist()
    for i, (task, n) in enumerate(sorted(FEATURE_ROWS.items())):
        m1 = feature_value(i, n, 3)
        # (T, L=2, D=2): layer l holds the base values plus 1000*l, so the mean over L adds 500.
        m2 = np.stack([feature_value(i, n, 2) + 1000 * l for l in range(2)], axis=1)
        squeezed = feature_value(i, n, 3, 0.5)[:, None, :]  # (T, 1, D): MedARC squeezes it to (T, D)
        for model, layers in (("m1", {"layers.1": m1}), ("m2", {"enc.out": m2, "squeezed": squeezed})):
            path = shard_path(model, task)
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(path, "w") as f:
                for layer, data in layers.items():
                    f.create_dataset(layer, data=data)
                    expected["features"][f"{model}/{layer}/{task}"] = {"shape": list(data.shape),
                                                                       "values": data.ravel().tolist()}

    # Pearson: two subjects, three episodes of different lengths, five parcels; parcel 4 of the truth is
    # constant (its r is 0 through the eps in the denominator).
    rng = np.random.default_rng(2025)
    lengths = [7, 5, 9]
    truth = [[rng.standard_normal((n, 5)) for n in lengths] for _ in range(2)]
    for s in range(2):
        for e in range(3):
            truth[s][e][:, 4] = 3.0
    pred = [[0.6 * y + rng.standard_normal(y.shape) for y in subj] for subj in truth]

    def pearsonr_score(y_true, y_pred, eps=1e-7):
        yt = y_true - y_true.mean(0)
        yt = yt / (np.linalg.norm(yt, axis=0) + eps)
        yp = y_pred - y_pred.mean(0)
        yp = yp / (np.linalg.norm(yp, axis=0) + eps)
        return (yt * yp).sum(0)

    per_parcel = [pearsonr_score(np.concatenate(truth[s]), np.concatenate(pred[s])) for s in range(2)]
    expected["pearson"] = {
        "lengths": lengths,
        "truth": [[y.ravel().tolist() for y in subj] for subj in truth],
        "pred": [[y.ravel().tolist() for y in subj] for subj in pred],
        "single": pearsonr_score(truth[0][0], pred[0][0]).tolist(),
        "per_parcel": [r.tolist() for r in per_parcel],
        "subjects": [float(r.mean()) for r in per_parcel],
        "score": float(np.mean([r.mean() for r in per_parcel])),
    }
    with open(HERE / "algonauts.json", "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"))


if __name__ == "__main__":
    main()
