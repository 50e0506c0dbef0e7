#!/usr/bin/env python3
"""Runs the built voxelformer CLI on about 600 hostile inputs in 6 classes (issue 9) and tabulates what happens.

    python3 scripts/hostile/hostile.py [--bin .build/release/voxelformer] [--json hostile.json] [--jobs 2]

Everything is generated into a scratch folder: a small synthetic data root (`voxelformer synth`), a tiny trained
checkpoint and run folder, then each case's broken copy. Outcomes: clear error (non-zero exit, no signal, a short
message naming the file or key), unclear error (non-zero exit, but the message names neither, or is a wall of
lines), crash (a signal, a Swift trap or a libtorch abort), hang (no exit within --timeout), silently wrong (exit 0
on a bad input, or a wrong result on a valid one), accepted (a valid input, result checked), refused valid.
Needs python3 with numpy and h5py; classes 5 and 6 mount small tmpfs folders, so run it as root.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cases_checkpoint  # noqa: E402
import cases_config  # noqa: E402
import cases_data  # noqa: E402
import cases_npy  # noqa: E402
import cases_run  # noqa: E402
import files as F  # noqa: E402
from core import CLASSES, Runner, execute  # noqa: E402

TINY = """\
# A model small enough that a whole training run takes seconds.
model:
  encoder_hidden_dim: 16
  nat_depth: 1
  num_heads: 2
  tome_r: 10
  decoder_hidden_dim: 16
  n_blocks_decoder: 1
  clip_seq_dim: 4
  clip_emb_dim: 8
  drop: 0.0
  drop_path_rate: 0.0
  last_n_features: 4
data:
  root: {root}
  train_subjects: [1, 2]
  test_subjects: [1, 2]
train:
  epochs: 3
  batch_size: 8
  max_lr: 1.0e-3
  softclip_start_temperature: 0.05
  softclip_end_temperature: 0.05
  mixup_pct: 0.33
  seed: 1
  threads: 1
prior:
  dim: 8
  depth: 1
  dim_head: 4
  heads: 2
  num_tokens: 4
  sampling_steps: 2
eval:
  pools: 2
  pool_size: 10
  every_epochs: 3
run_dir: run
"""
SYNTH = ["--subjects", "2", "--images", "40", "--test-images", "20", "--test-repeats", "2", "--trials-per-session",
         "20", "--voxels", "60", "--tokens", "4", "--token-dim", "8", "--image-size", "8", "--latent-dim", "4",
         "--noise", "1"]


class Fixtures:
    """The valid inputs every case starts from, made once by the binary under test."""

    def __init__(self, cases_runner: Runner, dir: Path, repo: Path):
        # the fixtures are valid inputs: a slow machine gets more time, never a "hang"
        runner = Runner(cases_runner.binary, max(cases_runner.timeout, 600))
        self.binary, self.repo = runner.binary, repo
        dir.mkdir(parents=True, exist_ok=True)
        self.root = dir / "root"
        must(runner.run(["synth", "--out", self.root, *SYNTH], cwd=dir), "synth")
        self.config = dir / "tiny.yaml"
        self.config.write_text(TINY.format(root=self.root))
        self.run = dir / "run"
        must(runner.run(["train", "--config", self.config, "--run-dir", self.run], cwd=dir), "train")
        self.checkpoint = self.run / "checkpoint.safetensors"
        self.metrics_text = (self.run / "metrics.jsonl").read_text()
        # a run stopped after its first epoch (10 steps), for resumes
        self.resume_run = dir / "resume_run"
        must(runner.run(["train", "--config", self.config, "--run-dir", self.resume_run, "train.max_steps=10"],
                        cwd=dir), "train (10 steps)")
        # a checkpoint holding a diffusion prior (3 steps), for `embed --prior`
        self.prior_run = dir / "prior_run"
        must(runner.run(["train", "--config", self.config, "--run-dir", self.prior_run, "train.use_prior=true",
                         "train.max_steps=3"], cwd=dir), "train (with the prior, 3 steps)")
        self.prior_checkpoint = self.prior_run / "checkpoint.safetensors"

        rng = np.random.default_rng(0)
        self.targets_array = rng.standard_normal((60, 4, 8)).astype(np.float32)
        self.brain_array = (self.targets_array + 2 * rng.standard_normal((60, 4, 8))).astype(np.float32)
        self.brain_npy, self.targets_npy = dir / "brain.npy", dir / "targets.npy"
        np.save(self.brain_npy, self.brain_array)
        np.save(self.targets_npy, self.targets_array)
        report = dir / "brain_report.json"
        must(runner.run(["evaluate", "--config", self.config, "--brain", self.brain_npy, "--targets", self.targets_npy,
                         "--pools", "2", "--pool-size", "10", "--seed", "0", "--json", report], cwd=dir), "evaluate")
        self.brain_report = json.loads(report.read_text())

        flat, dims = F.nifti_mask(self.root / cases_data.MASK)
        mask = flat[:dims[1] * dims[2] * dims[3]].reshape(dims[1:4], order="F")
        self.argwhere_coords = np.argwhere(mask == 1)   # Fortran-ordered, as NumPy returns it
        self.coords_array = np.ascontiguousarray(self.argwhere_coords)
        self.voxels_array = rng.standard_normal((5, len(self.coords_array))).astype(np.float32)
        self.voxels_npy, self.coords_npy = dir / "voxels.npy", dir / "coords.npy"
        np.save(self.voxels_npy, self.voxels_array)
        np.save(self.coords_npy, self.coords_array)
        must(runner.run(["embed", "--checkpoint", self.checkpoint, "--voxels", self.voxels_npy, "--coords",
                         self.coords_npy, "--out", dir / "emb"], cwd=dir), "embed")
        self.embed_ref = np.load(dir / "emb" / "clip_voxels.npy")

    @staticmethod
    def trained_check(r, d):
        runs = [d / "run", d / "disk" / "run"]
        if not any((p / "checkpoint.safetensors").exists() for p in runs):
            return "no checkpoint.safetensors written"
        if "subjects 1, 2" not in r.stdout:
            return "the banner does not list subjects 1, 2"
        return None

    @staticmethod
    def evaluate_check(r, d):
        if "subj01" not in r.stdout or "subj02" not in r.stdout:
            return "a subject is missing from the report"
        if "nan" in r.stdout.lower():
            return "the report holds NaN"
        return None

    @staticmethod
    def resumed_check(r, d):
        lines = (d / "run" / "metrics.jsonl").read_text().splitlines()
        steps = [json.loads(x).get("step") for x in lines if x.strip()]
        if not steps or max(steps) != 20:
            return f"expected the resumed run to reach step 20, metrics.jsonl ends at {max(steps) if steps else None}"
        return None


def must(r, what):
    if r.rc != 0:
        sys.exit(f"hostile: making the fixtures failed at {what} (exit {r.rc}):\n{r.stderr[-3000:]}")


def table(results):
    cols = ["tried", "clear error", "unclear error", "crash or hang", "silently wrong", "accepted", "refused valid"]
    rows = []
    for c, name in CLASSES.items():
        rs = [r for r in results if r["class"] == c]
        count = lambda *o: sum(r["outcome"] in o for r in rs)  # noqa: E731
        rows.append([f"{c}. {name}", len(rs), count("clear error"), count("unclear error"), count("crash", "hang"),
                     count("silently wrong"), count("accepted"), count("refused valid")])
    total = ["total"] + [sum(r[i] for r in rows) for i in range(1, len(cols) + 1)]
    lines = ["| class | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for r in rows + [total]:
        lines.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(lines)


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/release/voxelformer", help="the voxelformer binary to test")
    ap.add_argument("--json", default="hostile-results.json", help="where to write every case's outcome")
    ap.add_argument("--jobs", type=int, default=2, choices=[1, 2], help="cases run at once (at most 2)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds after which a case counts as a hang")
    ap.add_argument("--classes", default="1,2,3,4,5,6", help="comma-separated classes to run")
    ap.add_argument("--filter", default="", help="only cases whose name contains one of these (comma-separated)")
    ap.add_argument("--scratch", help="scratch folder (default: a new temporary folder, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--table", nargs="+", metavar="JSON",
                    help="only print the table of earlier results; a later file's case replaces an earlier one's")
    args = ap.parse_args()
    if args.table:
        merged = {}
        for path in args.table:
            for r in json.loads(Path(path).read_text())["cases"]:
                merged[(r["class"], r["name"])] = r
        print(table(sorted(merged.values(), key=lambda r: (r["class"], r["name"]))))
        return

    binary = Path(args.bin).resolve()
    if not binary.is_file():
        sys.exit(f"hostile: {binary} does not exist; build it with `swift build -c release --product voxelformer`")
    scratch = Path(args.scratch) if args.scratch else Path(tempfile.mkdtemp(prefix="hostile-"))
    runner = Runner(binary, args.timeout)
    started = time.monotonic()
    classes = {int(c) for c in args.classes.split(",")}
    print(f"hostile: fixtures in {scratch}", flush=True)
    fx = Fixtures(runner, scratch / "fixtures", here.parent.parent)
    makers = {1: cases_data, 2: cases_config, 3: cases_checkpoint, 4: cases_npy, 5: cases_run, 6: cases_run}
    cases = []
    for m in dict.fromkeys(makers[c] for c in sorted(classes)):
        cases += [c for c in m.make_cases(fx) if c.cls in classes and any(f in c.name for f in args.filter.split(","))]
    print(f"hostile: {len(cases)} cases, {args.jobs} at a time, timeout {args.timeout:.0f} s", flush=True)
    results = []
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(execute, c, runner, scratch / "cases", args.keep): c for c in cases}
        for i, f in enumerate(as_completed(futures), 1):
            r = f.result()
            results.append(r)
            print(f"[{i}/{len(cases)}] {r['class']} {r['name']}: {r['outcome']}"
                  + (f" ({r['why']})" if r["why"] else "") + (f" | {r['error_line']}" if r["error_line"] else ""),
                  flush=True)
    results.sort(key=lambda r: (r["class"], r["name"]))
    seconds = time.monotonic() - started
    Path(args.json).write_text(json.dumps({"binary": str(binary), "seconds": round(seconds), "cases": results},
                                          indent=1))
    print()
    print(table(results))
    print(f"\n{len(results)} cases in {seconds / 60:.1f} min; every case in {args.json}")
    if not args.keep and not args.scratch:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    os.umask(0o022)
    main()
