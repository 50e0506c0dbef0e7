# Every target runs `setup` first: it installs only what is missing.
SWIFT ?= swift
.PHONY: setup build demo test bench fixtures clean

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build

demo: setup
	$(SWIFT) build -c release --product voxelformer
	$(SWIFT) run -c release voxelformer demo

# One test at a time: seeded tests share libtorch's process-wide generator.
test: setup
	$(SWIFT) test --no-parallel

bench: setup
	$(SWIFT) run -c release voxelformer-bench

# Regenerates every test fixture (needs torch, numpy, safetensors, h5py, nibabel in python3).
fixtures:
	for g in Tests/*/Fixtures/generate*.py Tests/*/Fixtures/*/generate*.py; do python3 $$g || exit 1; done

clean:
	rm -rf .build
