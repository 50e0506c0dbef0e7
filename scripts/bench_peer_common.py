"""What the bench's PyTorch peers (scripts/bench_*_peer.py) share: reading this process's memory, and ending
with the bench that started them."""
import os
import sys
import threading
import time


def status_mib(field):
    """A /proc/self/status field (VmRSS, VmHWM) in MiB. The kernel pads with spaces and tabs."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status: no {field} line")


def exit_with_the_bench():
    """Ends this process when the bench that started it (VOXELFORMER_BENCH_PARENT, its pid) is gone, so a
    stopped bench leaves no peer running to load the machine. Nothing when the script is run by hand."""
    parent = os.environ.get("VOXELFORMER_BENCH_PARENT")
    if not parent:
        return

    def watch():
        while os.getppid() == int(parent):
            time.sleep(1)
        print(f"{os.path.basename(sys.argv[0])}: the bench that started it ({parent}) ended", file=sys.stderr)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
