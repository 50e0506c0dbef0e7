"""Fixtures for `encoding score` (EncodingTrainingTests): MedARC's pearsonr_score computed with NumPy.

pearsonr_score (MedARC src/metrics, as docs/encoding-data.md states it): per column v,
  r_v = sum_t (y_tv - mean_v)(p_tv - pmean_v) / ((||y_v - mean_v|| + 1e-7) (||p_v - pmean_v|| + 1e-7)).
For (S, T, V) arrays the score is the mean over subjects of the mean over parcels.
Run: python3 Tests/VoxelFormerTests/Fixtures/generate_encoding_score.py
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def pearsonr_score(y_true, y_pred, eps=1e-7):
    yt = y_true - y_true.mean(0)
    yt = yt / (np.linalg.norm(yt, axis=0) + eps)
    yp = y_pred - y_pred.mean(0)
    yp = yp / (np.linalg.norm(yp, axis=0) + eps)
    return (yt * yp).sum(0)


rng = np.random.default_rng(14)
# (T, V): 50 TRs, 7 parcels; prediction = signal + noise of increasing size, one constant parcel (r 0)
truth = rng.standard_normal((50, 7)).astype(np.float32)
pred = (truth + rng.standard_normal((50, 7)) * np.linspace(0.2, 3, 7)).astype(np.float32)
pred[:, 3] = 1.5
np.save(os.path.join(here, "encoding_score_true.npy"), truth)
np.save(os.path.join(here, "encoding_score_pred.npy"), pred)
r = pearsonr_score(truth.astype(np.float64), pred.astype(np.float64))
np.save(os.path.join(here, "encoding_score_r.npy"), r)

# (S, T, V): 3 subjects, 40 TRs, 5 parcels, float64
truth3 = rng.standard_normal((3, 40, 5))
pred3 = truth3 * 0.5 + rng.standard_normal((3, 40, 5))
np.save(os.path.join(here, "encoding_score3_true.npy"), truth3)
np.save(os.path.join(here, "encoding_score3_pred.npy"), pred3)
r3 = np.stack([pearsonr_score(truth3[s], pred3[s]) for s in range(3)])
np.save(os.path.join(here, "encoding_score3_r.npy"), r3)
print("2-D mean r %.10f, 3-D mean r %.10f" % (r.mean(), r3.mean(1).mean()))
