"""Writes retrieval.json and ridge.json: top-1 retrieval scores and ridge fits computed in NumPy alone.

Retrieval follows the spec ("Evaluation"): row i of brain and targets is one trial; image retrieval ranks
the pool's targets for each brain row, brain retrieval ranks the pool's brain rows for each target, both by
cosine; a hit tied with k-1 other candidates counts 1/k (fractional) or 0 (strict). Pools are drawn as the
Swift code documents them (SplitMix64, Lemire's bounded integers, Fisher-Yates from the last position, a
fresh 0..<N per pool, the first pool_size kept), re-implemented here from that description.

Ridge follows RidgeBaseline's documentation: z-score voxels (population std, clamped at 1e-12), centre
targets, W = (Z'Z + lam I)^-1 Z'Y (dual form when V > N), lam picked by held-out MSE on the last
round(0.15 N) trials, refit on all trials.

Run: python3 Tests/VoxelFormerTests/Fixtures/generate_evaluation.py
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & M64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, bound):
        threshold = ((1 << 64) - bound) % bound
        while True:
            product = self.next() * bound
            if (product & M64) >= threshold:
                return product >> 64

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def draw_pools(count, pools, pool_size, seed):
    if count <= pool_size:
        return [list(range(count))]
    rng = SplitMix64(seed)
    out = []
    for _ in range(pools):
        items = list(range(count))
        rng.shuffle(items)
        out.append(items[:pool_size])
    return out


def cosine_matrix(brain, targets):
    """(N, N): cosine of brain row i with target row j, in float64."""
    b = brain.reshape(len(brain), -1).astype(np.float64)
    t = targets.reshape(len(targets), -1).astype(np.float64)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    return b @ t.T


def credit(row, own_index, rule):
    """Top-1 credit of candidate `own_index` among the scores `row` (exact ties only)."""
    own = row[own_index]
    if np.any(row > own):
        return 0.0
    k = int(np.sum(row == own))
    if k == 1:
        return 1.0
    return 1.0 / k if rule == "fractional" else 0.0


def score_pool(sim, pool, rule):
    pool = np.array(pool)
    sub = sim[np.ix_(pool, pool)]  # (P, P): brain pool[a] against target pool[b]
    image = np.mean([credit(sub[a, :], a, rule) for a in range(len(pool))])
    brain = np.mean([credit(sub[:, a], a, rule) for a in range(len(pool))])
    return float(image), float(brain)


def average_repeats(brain, targets, ids):
    order = list(dict.fromkeys(ids))
    rows = {i: [r for r, x in enumerate(ids) if x == i] for i in order}
    b = np.stack([brain[rows[i]].astype(np.float64).mean(0) for i in order])
    t = np.stack([targets[rows[i][0]] for i in order])
    return b, t


def retrieval_case(name, brain, targets, ids, pools, pool_size, seed, protocol):
    b, t = (brain, targets) if protocol == "single-trial" else average_repeats(brain, targets, ids)
    sim = cosine_matrix(b, t)
    if protocol == "single-trial":
        # exact ties in float64 where the Swift code finds them: identical target rows
        for i in range(len(t)):
            for j in range(len(t)):
                if np.array_equal(t[i], t[j]):
                    sim[:, j] = sim[:, i]
    if name.startswith("gaussian"):
        # no near-ties that float32 could order differently from float64
        for m in (sim, sim.T):
            for row in m:
                u = np.unique(np.round(row, 12))
                assert np.min(np.diff(u)) > 1e-5, f"{name}: a near-tie; pick another seed"
    drawn = draw_pools(len(b), pools, pool_size, seed)
    case = {"name": name, "brain_shape": list(brain.shape), "brain": brain.reshape(-1).tolist(),
            "targets": targets.reshape(-1).tolist(), "image_ids": [int(x) for x in ids], "pools": pools,
            "pool_size": pool_size, "seed": seed, "protocol": protocol, "first_pool": drawn[0],
            "pools_drawn": len(drawn), "samples": len(b)}
    b2 = b.reshape(len(b), -1).astype(np.float64)
    t2 = t.reshape(len(t), -1).astype(np.float64)
    case["cosine"] = float(np.mean(np.sum(b2 * t2, 1) / np.linalg.norm(b2, axis=1) / np.linalg.norm(t2, axis=1)))
    for rule in ("fractional", "strict"):
        scores = [score_pool(sim, p, rule) for p in drawn]
        case[rule] = {"image": float(np.mean([s[0] for s in scores])), "brain": float(np.mean([s[1] for s in scores]))}
        case[rule + "_first_pool"] = {"image": scores[0][0], "brain": scores[0][1]}
    return case


def retrieval_cases(rng):
    cases = []
    # Entries of +-1 over 16 values: every norm is 4, every cosine a multiple of 1/16, computed exactly in
    # float32 by any summation order, so ties are exact in both languages. Few distinct rows: many ties.
    ids = rng.integers(0, 9, size=40)
    proto = rng.choice([-1.0, 1.0], size=(9, 4, 4)).astype(np.float32)
    targets = proto[ids]
    brain = rng.choice([-1.0, 1.0], size=(40, 4, 4)).astype(np.float32)
    brain[5] = brain[3]  # duplicate brain rows: ties in brain retrieval
    brain[7] = targets[7]  # perfect predictions
    brain[8] = targets[8]
    for protocol_pools in [(25, 12, 7), (3, 39, 5), (1, 60, 0)]:
        pools, size, seed = protocol_pools
        cases.append(retrieval_case(f"sign-ties-{pools}x{size}", brain, targets, ids, pools, size, seed, "single-trial"))
    # Gaussian rows with repeated images: targets tie only through repeats; output-averaged too.
    ids = np.repeat(np.arange(15), 3)
    rng.shuffle(ids)
    clean = rng.standard_normal((15, 2, 8)).astype(np.float32)
    targets = clean[ids]
    brain = (targets + 2.5 * rng.standard_normal(targets.shape)).astype(np.float32)
    cases.append(retrieval_case("gaussian-repeats-single", brain, targets, ids, 20, 10, 3, "single-trial"))
    cases.append(retrieval_case("gaussian-repeats-averaged", brain, targets, ids, 20, 10, 3, "output-averaged"))
    return cases


def ridge_fit(x, y, lam):
    x = x.astype(np.float64)
    y = y.reshape(len(y), -1).astype(np.float64)
    mean = x.mean(0)
    std = np.maximum(x.std(0), 1e-12)
    z = (x - mean) / std
    bias = y.mean(0)
    yc = y - bias
    n, v = z.shape
    if v <= n:
        w = np.linalg.solve(z.T @ z + lam * np.eye(v), z.T @ yc)
    else:
        w = z.T @ np.linalg.solve(z @ z.T + lam * np.eye(n), yc)
    return mean, std, w, bias


def ridge_predict(fit, x):
    mean, std, w, bias = fit
    return ((x.astype(np.float64) - mean) / std) @ w + bias


def ridge_case(rng, n, v, d, noise, test_n):
    lambdas = [1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5]
    w_true = rng.standard_normal((v, d))
    x = (rng.standard_normal((n + test_n, v)) * rng.uniform(0.5, 3, v) + rng.uniform(-2, 2, v)).astype(np.float32)
    x[:, 0] = 1.5  # a constant voxel: std clamped, contributes nothing
    y = (x.astype(np.float64) @ w_true + noise * rng.standard_normal((n + test_n, d))).astype(np.float32)
    xt, yt, xs = x[:n], y[:n], x[n:]
    held = int(round(n * 0.15))
    mses = []
    for lam in lambdas:
        f = ridge_fit(xt[: n - held], yt[: n - held], lam)
        mses.append(float(np.mean((ridge_predict(f, xt[n - held:]) - yt[n - held:].astype(np.float64)) ** 2)))
    best = int(np.argmin(mses))
    f = ridge_fit(xt, yt, lambdas[best])
    return {"n": n, "v": v, "d": d, "test_n": test_n, "x_train": xt.reshape(-1).tolist(),
            "y_train": yt.reshape(-1).tolist(), "x_test": xs.reshape(-1).tolist(), "lambdas": lambdas,
            "validation_mse": mses, "lambda": lambdas[best], "weight": f[2].reshape(-1).tolist(),
            "bias": f[3].tolist(), "predictions": ridge_predict(f, xs).reshape(-1).tolist()}


def main():
    rng = np.random.default_rng(20261129)
    with open(os.path.join(HERE, "retrieval.json"), "w") as fh:
        json.dump({"cases": retrieval_cases(rng)}, fh)
    ridge = [ridge_case(rng, 60, 8, 6, 4.0, 10),   # primal (V <= N)
             ridge_case(rng, 20, 30, 4, 1.0, 5),   # dual (V > N)
             ridge_case(rng, 80, 5, 3, 0.1, 6)]    # little noise: a small lambda wins
    with open(os.path.join(HERE, "ridge.json"), "w") as fh:
        json.dump({"cases": ridge}, fh)


if __name__ == "__main__":
    main()
