#!/usr/bin/env bash
# Idempotent set-up: Debian packages, then the pinned libtorch in .libtorch/torch.
# LIBTORCH=/path/to/torch uses an existing installation (for example site-packages/torch).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUIRED_TORCH=2.13.0
DEB_PACKAGES=(pkg-config zlib1g-dev libhdf5-dev libniftiio-dev libnifti2-dev libznz-dev libgloo-dev)

# --- Debian packages -------------------------------------------------------------------------
missing=()
for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing Debian packages: ${missing[*]}" >&2
        echo "setup: run this as root, then run make again:" >&2
        echo "    sudo sh -c '$cmd'" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    sh -c "DEBIAN_FRONTEND=noninteractive $cmd" >/dev/null
fi

# --- libtorch ----------------------------------------------------------------------------------
torch_version() {  # prints the version a torch folder declares, or nothing
    [ -f "$1/version.py" ] || return 0
    sed -n "s/^__version__ *= *['\"]\([^'\"]*\)['\"].*/\1/p" "$1/version.py" 2>/dev/null | head -n1 || true
}
hint() {  # where the torch package folder of $1 (a venv or a Python prefix, say) may be
    local found
    found=$(ls -d "$1"/lib/python3*/site-packages/torch "$1"/Lib/site-packages/torch 2>/dev/null | head -n1 || true)
    if [ -n "$found" ]; then
        echo "setup: $1 looks like a Python environment; its torch is LIBTORCH=$found" >&2
    else
        echo "setup: point LIBTORCH at torch's package folder, which holds version.py, lib/ and include/:" >&2
        echo "    python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))'" >&2
    fi
}
check_torch() {  # $1: folder, $2: where it came from
    local v
    v=$(torch_version "$1")
    if [ -z "$v" ]; then
        echo "setup: $2=$1 is not a torch installation: found no $1/version.py (expected torch's package folder)" >&2
        hint "$1"; exit 1
    fi
    case "$v" in
        "$REQUIRED_TORCH"|"$REQUIRED_TORCH"+*) ;;
        *) echo "setup: $2=$1 holds torch $v, but torch $REQUIRED_TORCH is required" >&2; exit 1;;
    esac
    for f in include/ATen/ATen.h lib/libtorch_cpu.so lib/libc10.so; do
        [ -e "$1/$f" ] || { echo "setup: $2=$1 (torch $v) has no $f; a CPU torch wheel carries it" >&2; hint "$1"; exit 1; }
    done
}

mkdir -p .libtorch
if [ -n "${LIBTORCH:-}" ]; then
    target=$(cd "$LIBTORCH" 2>/dev/null && pwd) || { echo "setup: LIBTORCH=$LIBTORCH is not a folder" >&2; hint "$LIBTORCH"; exit 1; }
    check_torch "$target" "LIBTORCH"
    if [ "$(readlink .libtorch/torch 2>/dev/null)" != "$target" ]; then
        rm -rf .libtorch/torch
        ln -s "$target" .libtorch/torch
        echo "setup: using libtorch at $target"
    fi
elif [ -e .libtorch/torch/version.py ]; then
    check_torch .libtorch/torch ".libtorch/torch"
else
    echo "setup: installing torch $REQUIRED_TORCH (libtorch) into .libtorch"
    rm -rf .libtorch/pkg .libtorch/torch
    py=$(command -v python3 || command -v python) || { echo "setup: python3 with pip is needed to fetch the torch wheel" >&2; exit 1; }
    # --no-compile: pip would byte-compile the wheel's 2,371 .py files, 10 of the 17 CPU-seconds the install
    # takes; the fixture generators and the bench's peer import torch just as well without the .pyc files.
    if ! "$py" -m pip install -q --no-deps --no-compile --target .libtorch/pkg "torch==$REQUIRED_TORCH+cpu" 2>/dev/null; then
        echo "setup: no torch==$REQUIRED_TORCH+cpu here; installing torch==$REQUIRED_TORCH --no-deps"
        "$py" -m pip install -q --no-deps --no-compile --target .libtorch/pkg "torch==$REQUIRED_TORCH"
    fi
    ln -s pkg/torch .libtorch/torch
    check_torch .libtorch/torch "the torch wheel"
fi

# --- tensorboard (Python) -----------------------------------------------------------------------
# TensorBoardTests read the Swift-written event files back with tensorboard's own reader, run with
# PYTHONPATH=.libtorch/python; installed there unless python3 already imports it. Only `make test` asks
# for it (SETUP_TEST_DEPS=1): `make demo` does not need it.
if [ "${SETUP_TEST_DEPS:-0}" = 1 ] && ! PYTHONPATH=".libtorch/python${PYTHONPATH:+:$PYTHONPATH}" python3 -c \
        'import tensorboard.backend.event_processing.event_accumulator' 2>/dev/null; then
    command -v python3 >/dev/null || { echo "setup: python3 with pip is needed to install tensorboard" >&2; exit 1; }
    echo "setup: installing tensorboard into .libtorch/python"
    python3 -m pip install -q --target .libtorch/python tensorboard
fi
