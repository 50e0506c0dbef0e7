"""Classes 5 and 6: run folders (concurrent writers, overwrites, resumes) and the environment (setup, full disks,
signals, limits)."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from core import Case, finished


def popen(runner, argv, cwd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.Popen([str(runner.binary)] + [str(a) for a in argv], cwd=cwd, env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)


def wait(p, timeout):
    try:
        out, err = p.communicate(timeout=timeout)
        return out, err, False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return out, err, True


def concurrent(d, argv, runner):
    """Two trainings into one folder, the second started while the first runs: one must be refused."""
    start = time.monotonic()
    a = popen(runner, argv, d)
    deadline = time.monotonic() + 30
    while not (d / "run" / "metrics.jsonl").exists() and a.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    b = popen(runner, argv + ["train.seed=2"], d)
    oa, ea, ta = wait(a, runner.timeout)
    ob, eb, tb = wait(b, runner.timeout)
    ra = finished(a.args, a.returncode, ta, time.monotonic() - start, oa, ea)
    rb = finished(b.args, b.returncode, tb, time.monotonic() - start, ob, eb)
    # the outcome is that of the worse run: a hang or crash of either, else the refused one if any
    for r in (ra, rb):
        if r.timed_out or r.signal:
            return r
    return rb if rb.rc != 0 else ra if ra.rc != 0 else rb


def interrupt(sig):
    """Sends `sig` once training has logged a step; the run must stop cleanly with a checkpoint to resume."""
    def run(d, argv, runner):
        start = time.monotonic()
        p = popen(runner, argv, d)
        metrics = d / "run" / "metrics.jsonl"
        deadline = time.monotonic() + 40
        while p.poll() is None and time.monotonic() < deadline:
            if metrics.exists() and metrics.stat().st_size > 0:
                break
            time.sleep(0.05)
        if p.poll() is None:
            p.send_signal(sig)
        out, err, t = wait(p, runner.timeout)
        return finished(p.args, p.returncode, t, time.monotonic() - start, out, err)
    return run


def mount_tmpfs(path: Path, size: str, fill_leaving=None, ro=False):
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if ro else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
    if fill_leaving is not None:
        st = os.statvfs(path)
        free = st.f_bavail * st.f_frsize
        with open(path / "filler", "wb") as f:
            f.write(b"\0" * max(free - fill_leaving, 0))


def unmount_after(run_fn):
    def run(d, argv, runner):
        try:
            return run_fn(d, argv, runner)
        finally:
            subprocess.run(["umount", "-l", str(d / "disk")], capture_output=True)
    return run


def make_cases(fx):
    cases = []

    def train(d, *extra, run=None):
        return ["train", "--config", fx.config, "--run-dir", run or d / "run", *extra]

    def copy_run(d):
        shutil.copytree(fx.run, d / "run")
        return d / "run"

    # --- class 5: run folders ---
    long = ["train.epochs=40"]
    cases.append(Case(5, "two-concurrent-runs", lambda d: train(d, *long), names=["lock", "run", "another"],
                      runner=concurrent, timeout=120))

    def kept_metrics(r, d):
        return None if (d / "run" / "metrics.jsonl").read_text() == fx.metrics_text else "metrics.jsonl was replaced"
    cases.append(Case(5, "existing-folder-without-resume", lambda d: (copy_run(d), train(d))[1],
                      names=["--resume", "--overwrite", "run"], check=kept_metrics))
    cases.append(Case(5, "existing-folder-with-overwrite", lambda d: (copy_run(d), train(d, "--overwrite"))[1],
                      expect="accept", check=fx.trained_check))
    cases.append(Case(5, "resume-with-changed-batch-size", lambda d: (
        shutil.copytree(fx.resume_run, d / "run"), train(d, "--resume", "train.max_steps=20", "train.batch_size=4"))[1],
        names=["train.batch_size", "batch_size"]))
    cases.append(Case(5, "resume-with-changed-widths", lambda d: (
        shutil.copytree(fx.resume_run, d / "run"), train(d, "--resume", "train.max_steps=20",
                                                         "model.encoder_hidden_dim=32"))[1],
        names=["model.encoder_hidden_dim", "encoder_hidden_dim"]))
    cases.append(Case(5, "resume-without-config", lambda d: (
        shutil.copytree(fx.resume_run, d / "run"),
        ["train", "--run-dir", d / "run", "--resume", "train.max_steps=20", f"data.root={fx.root}"])[1],
        expect="accept", check=fx.resumed_check))
    cases.append(Case(5, "resume-empty-folder", lambda d: ((d / "run").mkdir(), train(d, "--resume"))[1],
                      names=["checkpoint"]))
    cases.append(Case(5, "resume-no-folder", lambda d: train(d, "--resume"), names=["checkpoint", "run"]))

    def stale_tmp(d):
        run = shutil.copytree(fx.resume_run, d / "run")
        (run / ".checkpoint.safetensors.0123-dead.tmp").write_bytes(b"\0" * 1000)
        return train(d, "--resume", "train.max_steps=20")

    def tmp_removed(r, d):
        left = list((d / "run").glob(".*.tmp"))
        return f"stale {left[0].name} left in the run folder" if left else fx.resumed_check(r, d)
    cases.append(Case(5, "stale-tmp-file", stale_tmp, expect="accept", check=tmp_removed))
    cases.append(Case(5, "run-dir-is-a-file", lambda d: ((d / "f").write_text("x"), train(d, run=d / "f"))[1],
                      names=[str("/f")]))
    cases.append(Case(5, "run-dir-below-a-file", lambda d: ((d / "f").write_text("x"), train(d, run=d / "f" / "r"))[1],
                      names=["/f"]))
    cases.append(Case(5, "run-dir-in-proc", lambda d: train(d, run="/proc/hostile-run"), names=["/proc/hostile-run"]))
    cases.append(Case(5, "run-dir-empty-string", lambda d: ["train", "--config", fx.config, "run_dir="],
                      names=["run_dir", "run-dir"]))
    cases.append(Case(5, "config.yaml-is-a-directory", lambda d: (copy_run(d), shutil.rmtree(d / "run"),
                                                                  (d / "run" / "config.yaml").mkdir(parents=True),
                                                                  train(d))[3], names=["config.yaml"]))
    cases.append(Case(5, "checkpoint-is-a-fifo-on-resume", lambda d: (
        shutil.copytree(fx.resume_run, d / "run"), (d / "run" / "checkpoint.safetensors").unlink(),
        os.mkfifo(d / "run" / "checkpoint.safetensors"), train(d, "--resume"))[3], names=["checkpoint.safetensors"]))

    def readonly(d):
        mount_tmpfs(d / "disk", "1m", ro=True)
        return train(d, run=d / "disk" / "run")
    cases.append(Case(5, "run-dir-on-read-only-mount", readonly, names=["disk/run", "read-only", "Read-only"],
                      runner=unmount_after(lambda d, a, r: r.run(a, cwd=d))))

    # --- class 6: environment and resources ---
    # tmpfs hands out 4 KiB pages: 4096 leaves config.yaml its page and metrics.jsonl none
    for leave in (0, 2048, 4096, 8192, 32768, 65536):
        def full(d, leave=leave):
            mount_tmpfs(d / "disk", "2m", fill_leaving=leave)
            return train(d, run=d / "disk" / "run")
        cases.append(Case(6, f"disk-full-leaving-{leave}-bytes", full,
                          names=["disk/run", "space", "checkpoint", "metrics.jsonl", "config.yaml"],
                          runner=unmount_after(lambda d, a, r: r.run(a, cwd=d))))

    def resumable(r, d):
        if not (d / "run" / "checkpoint.safetensors").exists():
            return "no checkpoint after the interrupt"
        return None
    for sig in (signal.SIGINT, signal.SIGTERM):
        cases.append(Case(6, f"{sig.name}-during-train", lambda d: train(d, "train.epochs=200"),
                          names=["checkpoint", "interrupt"], runner=interrupt(sig), check=resumable, timeout=120))
    cases.append(Case(6, "fd-limit-12", lambda d: ["bash", "-c", 'ulimit -n 12; exec "$@"', "x", fx.binary, *train(d)],
                      names=["open", "files", "descriptor"], expect="either", check=fx.trained_check, runner=lambda d, a, r: r.run(a, cwd=d, binary=False)))
    cases.append(Case(6, "address-space-limit-1GB", lambda d: ["bash", "-c", 'ulimit -v 1000000; exec "$@"', "x",
                                                               fx.binary, *train(d)],
                      names=["memory", "alloc"], expect="either", check=fx.trained_check, runner=lambda d, a, r: r.run(a, cwd=d, binary=False)))
    cases.append(Case(6, "TMPDIR-missing", lambda d: train(d), env={"TMPDIR": "/nonexistent-tmp"}, expect="accept",
                      check=fx.trained_check))
    cases.append(Case(6, "OMP_NUM_THREADS-garbage", lambda d: train(d), env={"OMP_NUM_THREADS": "lots"},
                      expect="accept", check=fx.trained_check))
    cases.append(Case(6, "HOME-nonexistent", lambda d: train(d), env={"HOME": "/nonexistent-home"},
                      expect="accept", check=fx.trained_check))

    # setup.sh with a bad LIBTORCH, in a copy of the repository's scripts so the real .libtorch is never touched
    def setup(d, libtorch_maker, use_make=False):
        repo = d / "repo"
        (repo / "scripts").mkdir(parents=True)
        shutil.copy(fx.repo / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
        shutil.copy(fx.repo / "Makefile", repo / "Makefile")
        target = libtorch_maker(d)
        cmd = f"cd {repo} && LIBTORCH={target} " + ("make setup" if use_make else "bash scripts/setup.sh")
        return ["bash", "-c", cmd]

    def venv(d):
        v = d / "venv"
        (v / "lib" / "python3.12" / "site-packages").mkdir(parents=True)
        (v / "bin").mkdir()
        (v / "pyvenv.cfg").write_text("home = /usr/bin\n")
        return v

    def wrong_version(d):
        t = d / "torch"
        t.mkdir()
        (t / "version.py").write_text("__version__ = '1.0.0'\n")
        return t

    def no_lib(d):
        t = d / "torch"
        t.mkdir()
        (t / "version.py").write_text("__version__ = '2.13.0'\n")
        return t
    for name, maker, use_make, names in [
        ("setup-LIBTORCH-venv", venv, False, ["venv", "torch"]), ("make-setup-LIBTORCH-venv", venv, True, ["venv", "torch"]),
        ("setup-LIBTORCH-missing", lambda d: d / "nowhere", False, ["nowhere"]),
        ("setup-LIBTORCH-wrong-version", wrong_version, False, ["1.0.0", "version"]),
        ("setup-LIBTORCH-without-libs", no_lib, False, ["libtorch_cpu", "ATen"]),
    ]:
        cases.append(Case(6, name, lambda d, m=maker, u=use_make: setup(d, m, u), names=names,
                          runner=lambda d, a, r: r.run(a, cwd=d, binary=False)))
    return cases
