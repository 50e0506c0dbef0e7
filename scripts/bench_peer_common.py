"""What the bench's PyTorch peers (scripts/bench_*_peer.py) share: reading this process's memory."""


def status_mib(field):
    """A /proc/self/status field (VmRSS, VmHWM) in MiB. The kernel pads with spaces and tabs."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status: no {field} line")
