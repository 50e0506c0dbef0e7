"""Class 4: .npy inputs to `evaluate --brain/--targets` and `embed --voxels/--coords`."""
import json
import os

import numpy as np

import files as F
from core import Case


def variants(base: np.ndarray, seed: int):
    """(name, writer(path), accepted): the ways one .npy can be hostile, or legitimately unusual."""
    def save(a, **kw):
        return lambda p: np.save(p, a, **kw)

    def with_nan(rows, value=np.nan):
        a = base.astype(np.float32).copy()
        a[rows] = value
        return save(a)

    def raw(header, data=b""):
        return lambda p: F.npy_raw(p, header, data)
    n = base.shape[0]
    out = [
        ("zero-rows", save(np.zeros((0,) + base.shape[1:], base.dtype)), False),
        ("1-d", save(base.reshape(-1)[:n].copy()), False),
        ("0-d", save(np.array(1.0, np.float32)), False),
        ("nan-10-rows", with_nan(list(range(0, n, max(n // 10, 1)))[:10]), False),
        ("nan-one-value", with_nan((0,) + (0,) * (base.ndim - 1)), False),
        ("inf-row", with_nan([1], np.inf), False),
        ("all-nan", with_nan(slice(None)), False),
        ("object-dtype", lambda p: np.save(p, np.array([{"a": 1}] * n, dtype=object), allow_pickle=True), False),
        ("complex64", save(base.astype(np.complex64)), False),
        ("structured-dtype", save(np.zeros(n, dtype=[("a", "<f4"), ("b", "<f4")])), False),
        ("truncated-half", lambda p: (np.save(p, base), F.truncate(p, 0.5)), False),
        ("header-only", lambda p: (np.save(p, base), F.truncate(p, 128)), False),
        ("empty-file", lambda p: p.write_bytes(b""), False),
        ("garbage", lambda p: F.garbage(p, 4096, seed), False),
        ("bad-magic", lambda p: (np.save(p, base), p.write_bytes(b"\x93NUMPX" + p.read_bytes()[6:])), False),
        ("version-9", lambda p: (np.save(p, base), p.write_bytes(p.read_bytes()[:6] + b"\x09\x00" + p.read_bytes()[8:])), False),
        ("shape-claims-1e12-rows", raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 4), }",
                                       b"\0" * 64), False),
        ("negative-shape", raw("{'descr': '<f4', 'fortran_order': False, 'shape': (-5, 4), }", b"\0" * 64), False),
        ("header-no-shape", raw("{'descr': '<f4', 'fortran_order': False, }", b"\0" * 64), False),
        ("header-not-a-dict", raw("[1, 2, 3]", b"\0" * 64), False),
        ("unknown-descr", raw("{'descr': '<q9', 'fortran_order': False, 'shape': (4,), }", b"\0" * 64), False),
        ("fifo", lambda p: os.mkfifo(p), False),
        ("directory", lambda p: p.mkdir(), False),
        ("missing", lambda p: None, False),
        # legitimate: NumPy writes these and they hold the same numbers
        ("fortran-order", save(np.asfortranarray(base)), True),
        ("big-endian", save(base.astype(base.dtype.newbyteorder(">"))), True),
        ("float64", save(base.astype(np.float64)) if base.dtype.kind == "f" else save(base.astype(np.int32)), True),
        ("npy-version-2", lambda p: F.npy_raw(p, header_text(base), np.ascontiguousarray(base).tobytes(), (2, 0)), True),
        ("npy-version-3", lambda p: F.npy_raw(p, header_text(base), np.ascontiguousarray(base).tobytes(), (3, 0)), True),
    ]
    return out


def header_text(a):
    return "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (a.dtype.str, tuple(a.shape))


def make_cases(fx):
    cases = []

    def evaluate(d, brain, targets, *extra, report=False):
        # --json only where the score is checked: a NaN score would otherwise fail at JSON encoding, not scoring
        return ["evaluate", "--config", fx.config, "--brain", brain, "--targets", targets, "--pools", "2",
                "--pool-size", "10", "--seed", "0", *(["--json", d / "report.json"] if report else []), *extra]

    def same_score(r, d):
        p = d / "report.json"
        if not p.exists():
            return "no report.json written"
        got = json.loads(p.read_text())["average"]
        want = fx.brain_report["average"]
        if any(abs(got[k] - want[k]) > 1e-6 for k in ("image_retrieval", "brain_retrieval")):
            return f"score {got['image_retrieval']}/{got['brain_retrieval']} differs from the C-order float32 " \
                   f"input's {want['image_retrieval']}/{want['brain_retrieval']}"
        return None

    for which in ("brain", "targets"):
        base = fx.brain_array if which == "brain" else fx.targets_array
        for name, write, ok in variants(base, 1 if which == "brain" else 2):
            def prepare(d, write=write, which=which, ok=ok):
                p = d / f"{which}.npy"
                write(p)
                other = fx.targets_npy if which == "brain" else fx.brain_npy
                pair = (p, other) if which == "brain" else (other, p)
                return evaluate(d, *pair, report=ok)
            cases.append(Case(4, f"evaluate --{which} {name}", prepare, expect="accept" if ok else "error",
                              names=[f"{which}.npy"], check=same_score if ok else None))
    shaped = [
        ("both-zero-rows", np.zeros((0, 4, 8), np.float32), np.zeros((0, 4, 8), np.float32), ["brain.npy", "rows"]),
        ("both-1-d", fx.brain_array[:, 0, 0].copy(), fx.targets_array[:, 0, 0].copy(), ["brain.npy", "shape"]),
        ("brain-width-7", fx.brain_array[:, :, :7].copy(), fx.targets_array, ["brain.npy", "width", "shape"]),
        ("both-width-9-vs-clip_emb_dim-8", np.concatenate([fx.brain_array, fx.brain_array[:, :, :1]], 2),
         np.concatenate([fx.targets_array, fx.targets_array[:, :, :1]], 2), ["clip_emb_dim", "brain.npy"]),
        ("rows-59-vs-60", fx.brain_array[:59].copy(), fx.targets_array, ["brain.npy", "targets.npy"]),
        ("both-2-rows", fx.brain_array[:2].copy(), fx.targets_array[:2].copy(), ["pool", "rows", "brain.npy"]),
    ]
    for name, b, t, names in shaped:
        def prepare(d, b=b, t=t):
            np.save(d / "brain.npy", b)
            np.save(d / "targets.npy", t)
            return evaluate(d, d / "brain.npy", d / "targets.npy")
        cases.append(Case(4, f"evaluate {name}", prepare, names=names))
    ids = [("ids-wrong-length", np.arange(7)), ("ids-nan", np.full(60, np.nan)), ("ids-2-d", np.zeros((60, 2), np.int64)),
           ("ids-negative", -np.ones(60, np.int64))]
    for name, a in ids:
        def prepare(d, a=a):
            np.save(d / "ids.npy", a)
            return evaluate(d, fx.brain_npy, fx.targets_npy, "--image-ids", d / "ids.npy", "--protocol", "output-averaged")
        cases.append(Case(4, f"evaluate {name}", prepare, names=["ids.npy"]))
    cases.append(Case(4, "control:evaluate-brain", lambda d: evaluate(d, fx.brain_npy, fx.targets_npy, report=True),
                      expect="accept", check=same_score))

    def same_embedding(r, d):
        p = d / "emb" / "clip_voxels.npy"
        if not p.exists():
            return "no clip_voxels.npy written"
        got = np.load(p)
        if got.shape != fx.embed_ref.shape or not np.allclose(got, fx.embed_ref, atol=1e-5):
            return "clip_voxels.npy differs from the C-order input's"
        return None

    def embed(d, voxels, coords):
        return ["embed", "--checkpoint", fx.checkpoint, "--voxels", voxels, "--coords", coords, "--out", d / "emb"]

    for which in ("voxels", "coords"):
        base = fx.voxels_array if which == "voxels" else fx.coords_array
        for name, write, ok in variants(base, 3 if which == "voxels" else 4):
            if which == "coords" and name in ("nan-10-rows",):
                continue
            def prepare(d, write=write, which=which):
                p = d / f"{which}.npy"
                write(p)
                return embed(d, p, fx.coords_npy) if which == "voxels" else embed(d, fx.voxels_npy, p)
            cases.append(Case(4, f"embed --{which} {name}", prepare, expect="accept" if ok else "error",
                              names=[f"{which}.npy"], check=same_embedding if ok else None))
    v, c = fx.voxels_array, fx.coords_array
    shaped = [
        ("voxels-89-vs-90-coords", v[:, :-1].copy(), c, ["voxels.npy", "coords.npy"]),
        ("coords-width-2", v, c[:, :2].copy(), ["coords.npy"]),
        ("voxels-4-d", v[:, None, None, :].copy(), c, ["voxels.npy"]),
        ("zero-voxels", v[:, :0].copy(), c[:0].copy(), ["voxels.npy", "coords.npy"]),
    ]
    for name, a, b, names in shaped:
        def prepare(d, a=a, b=b):
            np.save(d / "voxels.npy", a)
            np.save(d / "coords.npy", b)
            return embed(d, d / "voxels.npy", d / "coords.npy")
        cases.append(Case(4, f"embed {name}", prepare, names=names))
    # the natural way to make coordinates: np.argwhere's Fortran-ordered result, saved as is
    cases.append(Case(4, "embed coords-from-np.argwhere", lambda d: (
        np.save(d / "coords.npy", fx.argwhere_coords), embed(d, fx.voxels_npy, d / "coords.npy"))[1],
        expect="accept", check=same_embedding))
    cases.append(Case(4, "control:embed", lambda d: embed(d, fx.voxels_npy, fx.coords_npy), expect="accept",
                      check=same_embedding))
    cases.append(Case(4, "embed --prior --steps 1 (no prior)", lambda d: embed(d, fx.voxels_npy, fx.coords_npy)
                      + ["--prior", "--steps", "1"], names=["prior"]))
    # the case: a checkpoint that holds a prior, sampled with too few DDIM steps
    def embed_prior(d, steps):
        return ["embed", "--checkpoint", fx.prior_checkpoint, "--voxels", fx.voxels_npy, "--coords", fx.coords_npy,
                "--out", d / "emb", "--prior", "--steps", steps]
    for steps in ["1", "0", "100"]:
        cases.append(Case(4, f"embed --prior --steps {steps} (with the prior)",
                          lambda d, steps=steps: embed_prior(d, steps), names=["--steps"]))
    cases.append(Case(4, "control:embed --prior --steps 2 (with the prior)", lambda d: embed_prior(d, "2"),
                      expect="accept", check=lambda r, d: None if (d / "emb" / "backbone.npy").exists()
                      else "no backbone.npy written"))
    return cases
