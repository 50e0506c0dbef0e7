"""Cases, the runner and the classification of outcomes for the hostile-input harness."""
import copy
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

CLASSES = {
    1: "data root",
    2: "config and overrides",
    3: "checkpoints",
    4: "npy and embedding inputs",
    5: "run folders",
    6: "environment and resources",
}

# Markers of a Swift runtime trap or a libtorch abort rather than a thrown error.
CRASH_MARKERS = ("Fatal error", "Precondition failed", "Assertion failed", "Stack dump", "Current stack trace",
                 "Illegal instruction", "Segmentation fault", "Trace/breakpoint", "terminate called",
                 "Aborted", "Unexpectedly found nil", "Backtrace:")


@dataclass
class Result:
    argv: list
    rc: Optional[int]          # exit status; None when it timed out
    signal: Optional[int]      # the signal that ended it, if any
    timed_out: bool
    seconds: float
    stdout: str
    stderr: str


@dataclass
class Case:
    """One hostile input. `prepare(d)` makes its files in the empty folder d and returns the argv (without the
    binary); `expect` is "error" (the CLI must refuse), "accept" (legitimate input: `check` tells whether the
    result is right) or "either" (a resource limit: a checked success or a clear error both do). `names`: strings of which one must appear in the message for the error to count as clear."""
    cls: int
    name: str
    prepare: Callable[[Path], list]
    expect: str = "error"
    names: list = field(default_factory=list)
    # strings that must all appear in a clear message (the value a user typed, say)
    quotes: list = field(default_factory=list)
    check: Optional[Callable[[Result, Path], Optional[str]]] = None
    env: dict = field(default_factory=dict)
    # a custom runner (d, default runner) -> Result, for concurrent runs, signals and the like
    runner: Optional[Callable] = None
    timeout: Optional[float] = None


class Runner:
    def __init__(self, binary: Path, timeout: float):
        self.binary = binary
        self.timeout = timeout

    def run(self, argv, cwd: Path, env=None, timeout=None, binary=True) -> Result:
        full = ([str(self.binary)] if binary else []) + [str(a) for a in argv]
        e = dict(os.environ)
        e.update(env or {})
        start = time.monotonic()
        p = subprocess.Popen(full, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout or self.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            timed_out = True
        return finished(full, p.returncode, timed_out, time.monotonic() - start, out, err)


def finished(argv, code, timed_out, seconds, out, err) -> Result:
    sig = -code if code is not None and code < 0 else None
    return Result(argv=argv, rc=None if timed_out else code, signal=sig, timed_out=timed_out, seconds=seconds,
                  stdout=out.decode("utf-8", "replace")[-20000:], stderr=err.decode("utf-8", "replace")[-20000:])


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def error_line(r: Result) -> str:
    """The line a user reads as the error: the `Error:` line if there is one, else stderr's first line."""
    for line in r.stderr.splitlines():
        if line.startswith("Error:"):
            return line.strip()[:300]
    return first_line(r.stderr) or first_line(r.stdout)


def classify(case: Case, r: Result, d: Path):
    """(outcome, why). Outcomes: clear error, unclear error, crash, hang, silently wrong, accepted, refused valid."""
    if r.timed_out:
        return "hang", f"no exit within {r.seconds:.0f} s"
    text = r.stderr + r.stdout
    if r.signal is not None:
        return "crash", f"killed by signal {signal.Signals(r.signal).name}"
    if r.rc is not None and r.rc >= 128 and r.rc - 128 in (4, 5, 6, 7, 8, 11):  # a shell reporting a signal
        return "crash", f"exit {r.rc} (signal {r.rc - 128})"
    marker = next((m for m in CRASH_MARKERS if m in r.stderr), None)
    if marker:
        return "crash", f"stderr has '{marker}'"
    if case.expect == "either" and r.rc == 0:  # a limit the run happened to fit in
        why = case.check(r, d) if case.check else None
        return ("silently wrong", why) if why else ("accepted", "exit 0 within the limit, result checked")
    if case.expect == "accept":
        if r.rc != 0:
            return "refused valid", f"exit {r.rc} on a valid input"
        why = case.check(r, d) if case.check else None
        return ("silently wrong", why) if why else ("accepted", "exit 0, result checked")
    if r.rc == 0:
        why = case.check(r, d) if case.check else None
        return "silently wrong", why or "exit 0 on a bad input"
    # A clear error is short and names what is wrong; a wall of lines is not clear.
    error_lines = [line for line in r.stderr.splitlines() if line.strip()]
    if len(error_lines) > 12:
        return "unclear error", f"{len(error_lines)} lines on stderr"
    wanted = [n for n in case.names if n]
    if wanted and not any(n.lower() in text.lower() for n in wanted):
        return "unclear error", "the message names none of: " + ", ".join(wanted)
    missing = [q for q in case.quotes if q not in text]
    if missing:
        return "unclear error", "the message does not quote " + ", ".join(missing)
    if case.check:
        why = case.check(r, d)
        if why:
            return "silently wrong", why
    return "clear error", ""


def execute(case: Case, runner: Runner, scratch: Path, keep=False) -> dict:
    d = scratch / f"c{case.cls}-{safe(case.name)}"
    if d.exists():
        shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    try:
        argv = case.prepare(d)
        if case.runner:
            # a custom runner waits with runner.timeout: give it the case's own (a 40-epoch run needs > 60 s)
            if case.timeout:
                runner = copy.copy(runner)
                runner.timeout = case.timeout
            r = case.runner(d, argv, runner)
        else:
            r = runner.run(argv, cwd=d, env=case.env, timeout=case.timeout)
        outcome, why = classify(case, r, d)
    except Exception as e:  # the harness itself failed: report it, never hide it
        r = Result(argv=[], rc=None, signal=None, timed_out=False, seconds=0, stdout="", stderr=repr(e))
        outcome, why = "harness error", repr(e)
    if not keep:
        shutil.rmtree(d, ignore_errors=True)
    return {
        "class": case.cls, "class_name": CLASSES[case.cls], "name": case.name, "expect": case.expect,
        "command": shlex.join(str(a) for a in r.argv), "exit": r.rc, "signal": r.signal, "timed_out": r.timed_out,
        "seconds": round(r.seconds, 2), "first_stderr_line": first_line(r.stderr), "error_line": error_line(r),
        "outcome": outcome, "why": why,
    }


def safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
