# Writes the BrainData test fixtures with the real tools (h5py, numpy, nibabel, Python's tarfile as
# webdataset uses it). Deterministic; run from the repository root:
#   PYTHONPATH=/tmp/torchinst python3 Tests/BrainDataTests/Fixtures/generate_fixtures.py
import io
import json
import os
import shutil
import tarfile

import h5py
import nibabel as nib
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)
MTIME = 1700000000.25  # a float mtime is what makes tarfile write a PAX header per member


def path(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


# ---------------------------------------------------------------- HDF5
def write_hdf5():
    p = path("hdf5", "types.hdf5")
    expected = {}
    with h5py.File(p, "w") as f:
        f16 = (np.arange(15, dtype=np.float32).reshape(5, 3) * 0.5 - 3).astype(np.float16)
        f32 = (np.arange(24, dtype=np.float32).reshape(6, 4) * 0.25 + 1).astype(np.float32)
        f64 = np.arange(8, dtype=np.float64).reshape(4, 2) / 3.0
        cube = np.arange(60, dtype=np.float32).reshape(5, 4, 3)
        f.create_dataset("f16", data=f16)
        f.create_dataset("f32", data=f32)
        f.create_dataset("f64", data=f64)
        f.create_dataset("cube", data=cube, chunks=(2, 2, 3))
        f.create_dataset("i8", data=np.array([-128, -1, 0, 1, 127], dtype=np.int8))
        f.create_dataset("u8", data=np.array([0, 1, 200, 255], dtype=np.uint8))
        f.create_dataset("i16", data=np.array([[-300, 2], [3, 30000]], dtype=np.int16))
        f.create_dataset("i32", data=np.array([-70000, 0, 70000], dtype=np.int32))
        f.create_dataset("i64", data=np.array([[-(2**40), 5], [7, 2**40]], dtype=np.int64))
        f.create_dataset("u16", data=np.array([0, 65535], dtype=np.uint16))
        f.create_dataset("flags", data=np.array([True, False, False, True, True]))
        f.create_dataset("u64", data=np.array([1, 2], dtype=np.uint64))  # no int64 holds every uint64
        f.create_dataset("scalar", data=np.float64(2.75))
        g = f.create_group("group")
        g.create_dataset("inner", data=np.array([1.5, 2.5], dtype=np.float32))
        expected = {
            "f16": f16.astype(np.float64).flatten().tolist(),
            "f32": f32.astype(np.float64).flatten().tolist(),
            "f64": f64.flatten().tolist(),
            "cube": cube.astype(np.float64).flatten().tolist(),
        }
    with open(path("hdf5", "types.json"), "w") as fh:
        json.dump(expected, fh, indent=0)
    data = open(p, "rb").read()
    with open(path("hdf5", "truncated.hdf5"), "wb") as fh:
        fh.write(data[: len(data) // 3])
    with open(path("hdf5", "not_hdf5.hdf5"), "wb") as fh:
        fh.write(b"this is not an HDF5 file\n" * 20)


# ---------------------------------------------------------------- tar shards
def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def add_member(tar, name, data, pax=True):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o444
    info.uname = "bigdata"
    info.gname = "bigdata"
    if pax:
        info.mtime = MTIME
        info.pax_headers = {"mtime": repr(MTIME)}
    else:
        info.mtime = int(MTIME)
    tar.addfile(info, io.BytesIO(data))


def behav_members(image, subject, session, trial):
    behav = np.full((1, 17), -1.0)
    behav[0, 0] = image
    behav[0, 1] = subject
    behav[0, 2] = session
    behav[0, 3] = 0  # an unused column, as in the release
    behav[0, 5] = trial
    past = np.full((15, 17), -1.0)
    past[0, 0] = max(image - 1, 0)
    future = np.full((15, 17), -1.0)
    olds = np.full((3, 17), -1.0)
    return [
        ("behav.npy", npy_bytes(behav)),
        ("past_behav.npy", npy_bytes(past)),
        ("future_behav.npy", npy_bytes(future)),
        ("olds_behav.npy", npy_bytes(olds)),
    ]


def write_shard(p, samples, first_key=0):
    """samples: list of (image, subject, session, trial). Written the way webdataset's TarWriter does."""
    with tarfile.open(p, "w", format=tarfile.PAX_FORMAT) as tar:
        for n, s in enumerate(samples):
            key = "sample%09d" % (first_key + n)
            for ext, data in behav_members(*s):
                add_member(tar, key + "." + ext, data)


def write_tars():
    samples = [(3, 1, 1, 0), (1, 1, 1, 4), (5, 1, 1, 2)]
    p = path("tar", "webdataset.tar")
    write_shard(p, samples)
    with tarfile.open(p) as t:
        members = t.getmembers()
        offsets = [m.offset for m in members]
    # every sample of 4 members takes 12,800 bytes, as the spec says
    assert offsets[4] - offsets[0] == 12800, offsets
    behav0 = np.load(io.BytesIO(behav_members(*samples[0])[0][1]))
    data = open(p, "rb").read()
    with open(path("tar", "truncated.tar"), "wb") as fh:
        fh.write(data[: 12800 + 1536 + 100])  # cut inside sample 2's behav.npy data

    with tarfile.open(path("tar", "ustar.tar"), "w", format=tarfile.USTAR_FORMAT) as tar:
        add_member(tar, "a.txt", b"hello", pax=False)
        add_member(tar, "dir/b.bin", bytes(range(256)) * 3, pax=False)
        add_member(tar, "empty.txt", b"", pax=False)

    long_name = "long/" + "x" * 120 + ".behav.npy"
    with tarfile.open(path("tar", "gnu_long.tar"), "w", format=tarfile.GNU_FORMAT) as tar:
        add_member(tar, long_name, npy_bytes(np.arange(3, dtype=np.float64)), pax=False)
        add_member(tar, "short.txt", b"after the long name", pax=False)
    with open(path("tar", "tar.json"), "w") as fh:
        json.dump({"long_name": long_name, "behav0": behav0.flatten().tolist(),
                   "offsets": offsets}, fh, indent=0)


# ---------------------------------------------------------------- NIfTI
def asymmetric_mask(shape, seed):
    r = np.random.default_rng(seed)
    m = r.choice([-1, 0, 1], size=shape, p=[0.2, 0.5, 0.3]).astype(np.int16)
    return m


def write_nifti():
    m1 = asymmetric_mask((5, 6, 7), 7)
    aff1 = np.array([[-1.8, 0, 0, 72.0], [0, 1.8, 0, -90.0], [0, 0, 1.8, -54.0], [0, 0, 0, 1]])
    img1 = nib.Nifti1Image(m1, aff1)
    img1.set_sform(aff1, code=1)
    img1.set_qform(np.eye(4), code=1)  # differs from the sform: the reader must prefer the sform
    nib.save(img1, path("nifti", "mask_5x6x7.nii.gz"))

    m2 = asymmetric_mask((4, 3, 5), 8).astype(np.float32)
    aff2 = np.array([[2.0, 0, 0, -4.0], [0, 3.0, 0, 1.0], [0, 0, 1.5, 2.0], [0, 0, 0, 1]])
    img2 = nib.Nifti2Image(m2, aff2)
    img2.set_sform(None, code=0)
    img2.set_qform(aff2, code=1)  # only a qform: the reader must fall back to it
    nib.save(img2, path("nifti", "mask_4x3x5_nifti2.nii"))

    out = {}
    for name in ["mask_5x6x7.nii.gz", "mask_4x3x5_nifti2.nii"]:
        img = nib.load(path("nifti", name))
        a = img.get_fdata()
        coords = np.argwhere(a == 1)
        mm = nib.affines.apply_affine(img.affine, coords)
        out[name] = {
            "shape": list(a.shape),
            "values": a.flatten().tolist(),  # C order over (i, j, k)
            "coords": coords.flatten().tolist(),
            "mm": mm.flatten().tolist(),
            "affine": img.affine.flatten().tolist(),
            "count": int(len(coords)),
        }
    with open(path("nifti", "nifti.json"), "w") as fh:
        json.dump(out, fh, indent=0)


# ---------------------------------------------------------------- a tiny NSD data root
NUM_IMAGES = 10
TOKENS, DIM = 2, 3
SHARED = [7, 8]


def nsd_mask(shape, seed):
    m = asymmetric_mask(shape, seed)
    return m


def write_mask(root, subject, mask):
    p = os.path.join(root, "nsddata", "ppdata", "subj%02d" % subject, "func1pt8mm", "roi", "nsdgeneral.nii.gz")
    os.makedirs(os.path.dirname(p), exist_ok=True)
    aff = np.diag([1.8, 1.8, 1.8, 1.0])
    img = nib.Nifti1Image(mask.astype(np.float32), aff)
    img.set_sform(aff, code=1)
    nib.save(img, p)


def betas_matrix(rows, voxels):
    # value = row * 1000 + column: a test reads back exactly which row and column it got
    return (np.arange(rows)[:, None] * 1000 + np.arange(voxels)[None, :]).astype(np.float32)


def write_root(root, subjects, images=True):
    """subjects: {s: dict(mask_shape, seed, rows, train: [[(image, session, trial)] per session],
    new_test: [...] or None, test: [...] or None, betas: optional override)}"""
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    info = {}
    for s, spec in subjects.items():
        mask = nsd_mask(spec["mask_shape"], spec["seed"])
        write_mask(root, s, mask)
        voxels = int((mask == 1).sum()) + spec.get("extra_columns", 0)
        betas = spec.get("betas")
        if betas is None:
            betas = betas_matrix(spec["rows"], voxels)
        with h5py.File(os.path.join(root, "betas_all_subj%02d_fp32_renorm.hdf5" % s), "w") as f:
            f.create_dataset("betas", data=betas)
        key = 0
        for k, session in enumerate(spec["train"]):
            p = os.path.join(root, "wds", "subj%02d" % s, "train", "%d.tar" % k)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            write_shard(p, [(im, s, ses, tr) for (im, ses, tr) in session], first_key=key)
            key += len(session)
        for folder in ["new_test", "test"]:
            if spec.get(folder) is not None:
                p = os.path.join(root, "wds", "subj%02d" % s, folder, "0.tar")
                os.makedirs(os.path.dirname(p), exist_ok=True)
                write_shard(p, [(im, s, ses, tr) for (im, ses, tr) in spec[folder]])
        info["subj%02d" % s] = {
            "voxels": voxels,
            "coords": np.argwhere(mask == 1).flatten().tolist(),
        }
    if images:
        ims = (np.arange(NUM_IMAGES)[:, None, None, None] + np.zeros((1, 3, 4, 4))) / 16.0
        ims = ims + np.arange(16).reshape(1, 1, 4, 4) / 256.0
        with h5py.File(os.path.join(root, "coco_images_224_float16.hdf5"), "w") as f:
            f.create_dataset("images", data=ims.astype(np.float16))
        targets = np.arange(NUM_IMAGES * TOKENS * DIM, dtype=np.float32).reshape(NUM_IMAGES, TOKENS, DIM)
        with h5py.File(os.path.join(root, "clip_targets.hdf5"), "w") as f:
            f.create_dataset("targets", data=targets.astype(np.float16))
        shared = np.zeros(NUM_IMAGES, dtype=bool)
        shared[SHARED] = True
        np.save(os.path.join(root, "shared1000.npy"), shared)
    return info


def write_nsd():
    # subject 1: 2 sessions of 6 trials (rows 0..11); rows 2, 5, 8, 11 are shared-image test trials
    s1 = dict(
        mask_shape=(5, 6, 7), seed=21, rows=12,
        train=[[(3, 1, 1), (0, 1, 0), (4, 1, 3), (1, 1, 4)],
               [(2, 2, 9), (6, 2, 6), (5, 2, 10), (9, 2, 7)]],
        new_test=[(7, 1, 2), (8, 1, 5), (7, 2, 8), (8, 2, 11)],
        test=[(7, 1, 2)],
    )
    # subject 2: one session (rows 0..5), only the older test/0.tar
    s2 = dict(
        mask_shape=(4, 5, 6), seed=22, rows=6,
        train=[[(1, 1, 3), (5, 1, 0), (2, 1, 4), (6, 1, 1)]],
        new_test=None,
        test=[(8, 1, 5), (8, 1, 2)],
    )
    info = write_root(os.path.join(HERE, "nsd"), {1: s1, 2: s2})
    with open(os.path.join(HERE, "nsd.json"), "w") as fh:
        json.dump(info, fh, indent=0)

    # broken roots, one fault per subject: NaN/inf betas, a column-count mismatch, an out-of-range row
    bad1 = dict(s2)
    b = betas_matrix(6, int((nsd_mask((4, 5, 6), 22) == 1).sum()))
    b[1, 2] = np.nan
    b[3, 0] = np.inf
    b[4, 5] = -np.inf
    bad1["betas"] = b
    bad2 = dict(s2, extra_columns=1)
    bad3 = dict(s2, train=[[(1, 1, 3), (5, 1, 6)]])
    write_root(os.path.join(HERE, "nsd_bad"), {1: bad1, 2: bad2, 3: bad3}, images=True)


def write_safetensors_targets():
    from safetensors.numpy import save_file

    targets = np.arange(NUM_IMAGES * TOKENS * DIM, dtype=np.float32).reshape(NUM_IMAGES, TOKENS, DIM) + 0.5
    save_file({"targets": targets}, path("targets", "clip_targets.safetensors"))
    save_file({"clip": targets[:2]}, path("targets", "wrong_key", "clip_targets.safetensors"))


if __name__ == "__main__":
    write_safetensors_targets()
    write_hdf5()
    write_tars()
    write_nifti()
    write_nsd()
    print("fixtures written")
