"""Class 3: broken training checkpoints given to `evaluate --checkpoint` and to `train --resume`."""
import json
import shutil
import struct

import numpy as np

import files as F
from core import Case

CK = "checkpoint.safetensors"


def meta(key, value):
    def fn(t, m):
        if value is None:
            m.pop(key, None)
        else:
            m[key] = value
    return fn


def sampler(edit):
    def fn(t, m):
        s = json.loads(m["sampler"])
        edit(s)
        m["sampler"] = json.dumps(s)
    return fn


def tensor(fn_name, fn):
    """Edits the first model tensor whose name passes fn_name."""
    def edit(t, m):
        k = sorted(k for k in t if fn_name(k))[0]
        dtype, a = t[k]
        t[k] = (dtype, fn(a.copy()))
    return edit


def all_model(fn):
    def edit(t, m):
        for k in [k for k in t if k.startswith("model.")]:
            dtype, a = t[k]
            t[k] = (dtype, fn(a.copy()))
    return edit


def drop(pred):
    def edit(t, m):
        for k in sorted(k for k in t if pred(k))[:1]:
            del t[k]
    return edit


def nan_first(a):
    a.reshape(-1)[0] = np.nan
    return a


def corruptions():
    """(name, edit(path), names). Weights edits go through the safetensors reader above."""
    st = lambda fn: (lambda p: F.st_edit(p, fn))  # noqa: E731
    is_weight = lambda k: k.startswith("model.") and k.endswith("weight")  # noqa: E731
    out = [
        ("missing", F.remove, [CK]), ("empty", lambda p: F.truncate(p, 0), [CK]),
        ("8-bytes", lambda p: F.truncate(p, 8), [CK]), ("100-bytes", lambda p: F.truncate(p, 100), [CK]),
        ("half", lambda p: F.truncate(p, 0.5), [CK]), ("last-byte-cut", lambda p: F.truncate(p, p.stat().st_size - 1), [CK]),
        ("garbage", F.garbage, [CK]), ("fifo", F.fifo, [CK]), ("directory", F.directory, [CK]),
        ("header-length-2^63", lambda p: p.write_bytes(struct.pack("<Q", 2**63) + p.read_bytes()[8:]), [CK]),
        ("header-not-json", lambda p: p.write_bytes(struct.pack("<Q", 16) + b"{not json at al}" + b"\0" * 64), [CK]),
        ("offsets-past-end", lambda p: (lambda h, d: (h[next(k for k in h if k != "__metadata__")].update(
            data_offsets=[0, 10**9]), F.st_write(p, h, d)))(*F.st_read(p)), [CK]),
        ("unknown-dtype", lambda p: (lambda h, d: (h[next(k for k in h if k != "__metadata__")].update(
            dtype="Q7"), F.st_write(p, h, d)))(*F.st_read(p)), [CK]),
        ("format-wrong", st(meta("format", "pytorch")), [CK, "format"]),
        ("format-missing", st(meta("format", None)), [CK, "format"]),
        ("epoch--4", st(meta("epoch", "-4")), [CK, "epoch"]),
        ("epoch-999", st(meta("epoch", "999")), [CK, "epoch"]),
        ("epoch-abc", st(meta("epoch", "abc")), [CK, "epoch"]),
        ("step--1", st(meta("step", "-1")), [CK, "step"]),
        ("step_in_epoch-999", st(meta("step_in_epoch", "999")), [CK, "step_in_epoch"]),
        ("step_in_epoch--1", st(meta("step_in_epoch", "-1")), [CK, "step_in_epoch"]),
        ("sampler-batchSize-0", st(sampler(lambda s: s.__setitem__("batchSize", 0))), [CK, "sampler", "batch"]),
        ("sampler-garbage", st(meta("sampler", "{{{")), [CK, "sampler"]),
        ("sampler-missing", st(meta("sampler", None)), [CK, "sampler"]),
        ("config-bad-yaml", st(meta("config", "model: [unclosed\n")), [CK]),
        ("config-missing", st(meta("config", None)), [CK, "config"]),
        ("config-other-widths", st(lambda t, m: m.__setitem__(
            "config", m["config"].replace("encoder_hidden_dim: 16", "encoder_hidden_dim: 32"))), [CK, "encoder", "shape"]),
        ("rng-10-bytes", st(lambda t, m: t.__setitem__("rng.torch", ("U8", np.zeros(10, np.uint8)))), [CK, "rng"]),
        ("rng-missing", st(drop(lambda k: k == "rng.torch")), [CK, "rng"]),
        ("weight-one-nan", st(tensor(is_weight, nan_first)), [CK, "nan", "finite"]),
        ("weights-all-nan", st(all_model(lambda a: a * np.nan if a.dtype.kind == "f" else a)), [CK, "nan", "finite"]),
        ("weight-inf", st(tensor(is_weight, lambda a: a + np.inf)), [CK, "inf", "finite"]),
        ("weight-wrong-shape", st(tensor(is_weight, lambda a: a.reshape(-1)[:-1].copy())), [CK, "shape"]),
        ("weight-missing", st(drop(is_weight)), [CK, "model."]),
        ("weight-extra", st(lambda t, m: t.__setitem__("model.bogus.weight", ("F32", np.zeros(3, np.float32)))),
         [CK, "bogus"]),
        ("weight-float64", st(tensor(is_weight, lambda a: a.astype(np.float64))), [CK, "dtype", "F64", "float"]),
        ("optimizer-missing", st(lambda t, m: [t.pop(k) for k in [k for k in t if k.startswith("optimizer.")]]),
         [CK, "optimizer"]),
        ("scheduler-missing", st(lambda t, m: [t.pop(k) for k in [k for k in t if k.startswith("scheduler.")]]),
         [CK, "scheduler"]),
    ]
    return out


# Corruptions of metadata that only a resume reads: evaluate may legitimately ignore them.
RESUME_ONLY = {"epoch--4", "epoch-999", "epoch-abc", "step--1", "step_in_epoch-999", "step_in_epoch--1",
               "sampler-batchSize-0", "sampler-garbage", "sampler-missing", "rng-10-bytes", "rng-missing",
               "optimizer-missing", "scheduler-missing"}


def make_cases(fx):
    cases = []
    for name, edit, names in corruptions():
        def ev(d, edit=edit):
            p = d / CK
            shutil.copy(fx.checkpoint, p)
            edit(p)
            return ["evaluate", "--checkpoint", p, f"data.root={fx.root}"]

        def resume(d, edit=edit):
            run = d / "run"
            shutil.copytree(fx.resume_run, run)
            edit(run / CK)
            return ["train", "--config", fx.config, "--run-dir", run, "--resume", "train.max_steps=20"]
        if name in RESUME_ONLY:
            cases.append(Case(3, f"evaluate:{name}", ev, expect="accept", check=fx.evaluate_check))
        else:
            cases.append(Case(3, f"evaluate:{name}", ev, names=names))
        cases.append(Case(3, f"resume:{name}", resume, names=names))
    # embed reads the same weights
    for name, edit, names in corruptions():
        if name in ("weights-all-nan", "weight-wrong-shape", "half", "fifo", "config-bad-yaml", "garbage"):
            def emb(d, edit=edit):
                p = d / CK
                shutil.copy(fx.checkpoint, p)
                edit(p)
                return ["embed", "--checkpoint", p, "--subject", "1", "--out", d / "emb", f"data.root={fx.root}"]
            cases.append(Case(3, f"embed:{name}", emb, names=names))
    cases.append(Case(3, "control:evaluate", lambda d: ["evaluate", "--checkpoint", fx.checkpoint,
                                                         f"data.root={fx.root}"], expect="accept", check=fx.evaluate_check))
    cases.append(Case(3, "control:resume", lambda d: (shutil.copytree(fx.resume_run, d / "run"), [
        "train", "--config", fx.config, "--run-dir", d / "run", "--resume", "train.max_steps=20"])[1],
        expect="accept", check=fx.resumed_check))
    return cases
