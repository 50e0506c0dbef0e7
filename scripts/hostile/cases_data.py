"""Class 1: a synthetic data root with one file of subject 1 broken, given to `data check` and to `train`."""
import shutil
import struct

import numpy as np

import files as F
from core import Case

BETAS = "betas_all_subj01_fp32_renorm.hdf5"
MASK = "nsddata/ppdata/subj01/func1pt8mm/roi/nsdgeneral.nii.gz"
SHARD = "wds/subj01/train/0.tar"
TEST_SHARD = "wds/subj01/new_test/0.tar"
INDICES = "COCO_73k_subj_indices.hdf5"
TARGETS = "clip_targets.hdf5"
IMAGES = "coco_images_224_float16.hdf5"
SHARED = "shared1000.npy"


def betas_edit(fn):
    def edit(root):
        b = F.h5_read(root / BETAS, "betas")
        F.h5_replace(root / BETAS, "betas", fn(b.copy()))
    return edit


def nan_rows(rows, value=np.nan):
    def fn(b):
        b[rows, 3] = value
        return b
    return fn


def behav(fn, path=SHARD, member="behav.npy"):
    return lambda root: F.edit_behav(root / path, fn, member)


def set_col(col, value):
    def fn(a):
        a[0, col] = value
    return fn


def rename_members(fn):
    def edit(root):
        members = F.tar_members(root / SHARD)
        F.tar_write(root / SHARD, [(fn(n), d) for n, d in members])
    return edit


def drop_member(suffix):
    def edit(root):
        members = F.tar_members(root / SHARD)
        first = members[0][0].split(".")[0]
        F.tar_write(root / SHARD, [(n, d) for n, d in members if n != f"{first}.{suffix}"])
    return edit


def mask_edit(fn_data=None, fn_header=None):
    def edit(root):
        def fn(header, data):
            if fn_header:
                fn_header(header)
            if fn_data:
                a = np.frombuffer(bytes(data), dtype="<i2").copy()
                fn_data(a)
                data[:] = a.tobytes()
        F.nifti_edit(root / MASK, fn)
    return edit


def drop_roi_voxel(a):
    a[np.flatnonzero(a == 1)[0]] = 0


def add_roi_voxel(a):
    a[np.flatnonzero(a == 0)[0]] = 1


def dims(values):
    def fn(h):
        struct.pack_into("<8h", h, 40, *values)
    return fn


def datatype(code):
    def fn(h):
        struct.pack_into("<h", h, 70, code)
    return fn


def indices_edit(fn):
    def edit(root):
        a = F.h5_read(root / INDICES, "subj01")
        F.h5_replace(root / INDICES, "subj01", fn(a.copy()))
    return edit


def targets_edit(fn):
    def edit(root):
        a = F.h5_read(root / TARGETS, "targets")
        F.h5_replace(root / TARGETS, "targets", fn(a.copy()))
    return edit


def setv(index, value):
    def fn(a):
        a[index] = value
        return a
    return fn


def corruptions():
    """(name, edit(root), the names a clear message may use)."""
    b, m, s, t = BETAS, MASK, SHARD, TEST_SHARD
    path_kinds = [
        ("missing", F.remove), ("empty", lambda p: F.truncate(p, 0)), ("half", lambda p: F.truncate(p, 0.5)),
        ("first-100-bytes", lambda p: F.truncate(p, 100)), ("garbage", F.garbage), ("directory", F.directory),
        ("fifo", F.fifo),
    ]
    out = []
    for label, rel, names in [("betas", b, [b, "subject 1 "]), ("mask", m, ["nsdgeneral", "subj01"]),
                              ("shard", s, ["0.tar", "subj01"]), ("test-shard", t, ["new_test", "subj01"]),
                              ("indices", INDICES, [INDICES]), ("targets", TARGETS, [TARGETS]),
                              ("shared1000", SHARED, [SHARED])]:
        for kind, fn in path_kinds:
            out.append((f"{label}-{kind}", (lambda fn, rel: lambda root: fn(root / rel))(fn, rel), names))
    out += [
        ("betas-dataset-renamed", lambda r: F.h5_replace(r / b, "betas", F.h5_read(r / b, "betas"), "betaz"), [b]),
        ("betas-int32", betas_edit(lambda x: x.astype(np.int32)), [b]),
        ("betas-1d", betas_edit(lambda x: x.reshape(-1)), [b]),
        ("betas-3d", betas_edit(lambda x: x[:, :, None]), [b]),
        ("betas-10-rows", betas_edit(lambda x: x[:10]), [b]),
        ("betas-one-column-fewer", betas_edit(lambda x: x[:, :-1]), [b, "column", "voxel"]),
        ("betas-5-columns-more", betas_edit(lambda x: np.concatenate([x, x[:, :5]], 1)), [b, "column", "voxel"]),
        ("betas-nan-3-rows", betas_edit(nan_rows([0, 5, 41])), [b, "nan"]),
        ("betas-nan-test-row", betas_edit(nan_rows([79])), [b, "nan"]),
        ("betas-inf", betas_edit(nan_rows([2], np.inf)), [b, "inf"]),
        ("betas-minus-inf", betas_edit(nan_rows([2], -np.inf)), [b, "inf"]),
        ("betas-all-nan", betas_edit(lambda x: x * np.nan), [b, "nan"]),
        ("mask-one-roi-voxel-fewer", mask_edit(drop_roi_voxel), ["nsdgeneral", b, "voxel"]),
        ("mask-one-roi-voxel-more", mask_edit(add_roi_voxel), ["nsdgeneral", b, "voxel"]),
        ("mask-no-roi", mask_edit(lambda a: a.__setitem__(a == 1, 0)), ["nsdgeneral"]),
        ("mask-2d-header", mask_edit(fn_header=dims([2, 10, 10, 1, 1, 1, 1, 1])), ["nsdgeneral"]),
        ("mask-negative-dim", mask_edit(fn_header=dims([3, -5, 10, 10, 1, 1, 1, 1])), ["nsdgeneral"]),
        ("mask-huge-dims", mask_edit(fn_header=dims([3, 30000, 30000, 30000, 1, 1, 1, 1])), ["nsdgeneral"]),
        ("mask-bad-datatype", mask_edit(fn_header=datatype(9999)), ["nsdgeneral"]),
        ("mask-not-gzip", lambda r: (r / m).write_bytes(b"\x00" * 400), ["nsdgeneral"]),
        ("shard-members-renamed", rename_members(lambda n: "foo" + n), ["0.tar", "foo"]),
        ("shard-members-no-sample-prefix", rename_members(lambda n: n.replace("sample", "")), ["0.tar"]),
        ("shard-behav-missing", drop_member("behav.npy"), ["0.tar", "behav"]),
        ("shard-only-empty", lambda r: F.tar_write(r / s, []), ["0.tar"]),
        ("shard-missing-whole-train-folder", lambda r: shutil.rmtree(r / "wds/subj01/train"), ["subj01", "train"]),
        ("behav-nan-image", behav(set_col(0, np.nan)), ["0.tar", "behav"]),
        ("behav-inf-image", behav(set_col(0, np.inf)), ["0.tar", "behav"]),
        ("behav-1e300-image", behav(set_col(0, 1e300)), ["0.tar", "behav"]),
        ("behav-negative-image", behav(set_col(0, -5)), ["0.tar", "behav"]),
        ("behav-image-out-of-range", behav(set_col(0, 1e9)), ["0.tar", "behav"]),
        ("behav-image-fractional", behav(set_col(0, 2.5)), ["0.tar", "behav"]),
        ("behav-nan-trial", behav(set_col(5, np.nan)), ["0.tar", "behav"]),
        ("behav-trial-out-of-range", behav(set_col(5, 99999)), ["0.tar", "behav"]),
        ("behav-negative-trial", behav(set_col(5, -3)), ["0.tar", "behav"]),
        ("behav-wrong-shape", lambda r: F.tar_write(r / s, [
            (n, F.npy_bytes(np.zeros(3)) if n.endswith(".behav.npy") else d) for n, d in F.tar_members(r / s)]),
         ["0.tar", "behav"]),
        ("test-behav-nan-image", behav(set_col(0, np.nan), path=t), ["new_test", "behav"]),
        ("test-behav-1e300-trial", behav(set_col(5, 1e300), path=t), ["new_test", "behav"]),
        ("indices-out-of-range", indices_edit(setv(0, 10**9)), [INDICES, "subj01"]),
        ("indices-negative", indices_edit(setv(3, -1)), [INDICES, "subj01"]),
        ("indices-too-short", indices_edit(lambda a: a[:10]), [INDICES, "subj01"]),
        ("targets-nan", targets_edit(lambda a: a * np.float16("nan")), [TARGETS, "nan"]),
        ("targets-wrong-shape", targets_edit(lambda a: a[:, :, :-1]), [TARGETS, "clip_emb_dim", "shape"]),
        ("shared1000-wrong-length", lambda r: np.save(r / SHARED, np.zeros(7, bool)), [SHARED]),
        ("images-missing", lambda r: F.remove(r / IMAGES), [IMAGES]),
    ]
    return out


def make_cases(fx):
    cases = []
    for name, edit, names in corruptions():
        for cmd in ("check", "train"):
            def prepare(d, edit=edit, cmd=cmd):
                root = d / "root"
                shutil.copytree(fx.root, root)
                edit(root)
                if cmd == "check":
                    return ["data", "check", root]
                return ["train", "--config", fx.config, "--run-dir", d / "run", f"data.root={root}"]
            # training reads neither the indices, shared1000.npy nor the images: a broken one may pass unnoticed
            unread = cmd == "train" and name.split("-")[0] in ("indices", "shared1000", "images")
            cases.append(Case(1, f"{cmd}:{name}", prepare, names=names, expect="either" if unread else "error",
                              check=fx.trained_check if unread else None))

    # legitimately valid roots: these must train
    def accept(name, edit, cmd):
        def prepare(d):
            root = d / "root"
            shutil.copytree(fx.root, root)
            edit(root)
            if cmd == "check":
                return ["data", "check", root]
            return ["train", "--config", fx.config, "--run-dir", d / "run", f"data.root={root}"]
        return Case(1, f"{cmd}:{name}", prepare, expect="accept", check=fx.trained_check if cmd == "train" else None)

    for cmd in ("check", "train"):
        cases.append(accept("control-untouched-root", lambda r: None, cmd))
        cases.append(accept("no-synthetic_info.json", lambda r: F.remove(r / "synthetic_info.json"), cmd))
    cases.append(Case(1, "train:root-does-not-exist", lambda d: [
        "train", "--config", fx.config, "--run-dir", d / "run", f"data.root={d / 'nowhere'}"], names=["nowhere"]))
    cases.append(Case(1, "train:root-is-a-file", lambda d: (
        (d / "f").write_text("x"), ["train", "--config", fx.config, "--run-dir", d / "run", f"data.root={d / 'f'}"])[1],
        names=[str("/f")]))
    cases.append(Case(1, "train:subject-not-in-root", lambda d: [
        "train", "--config", fx.config, "--run-dir", d / "run", "data.train_subjects=[1,7]"], names=["subj07", "7"]))
    return cases
