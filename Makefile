# Every target runs `setup` first: it installs only what is missing.
SWIFT ?= swift
.PHONY: setup build demo test bench fixtures fuzz fuzz-build clean

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build

# A debug build: the demo's time is in libtorch's kernels, where debug and release run at the same speed
# (docs/ablations.md, "Cost"), and it builds in about half the time. The binary runs directly: `swift run`
# would check the build a second time.
demo: setup
	$(SWIFT) build --product voxelformer
	"$$($(SWIFT) build --show-bin-path)/voxelformer" demo

# One test at a time: seeded tests share libtorch's process-wide generator.
test:
	@SETUP_TEST_DEPS=1 bash scripts/setup.sh
	$(SWIFT) test --no-parallel

bench: setup
	$(SWIFT) run -c release voxelformer-bench

# libFuzzer over each file reader (safetensors, npy, tar, nifti, checkpoint metadata, config YAML + overrides),
# FUZZ_RUNS inputs each, from the committed seeds in Tests/FuzzTests/Corpus/<target>. New coverage goes to
# .build-fuzz/corpus/<target>, crashers to .build-fuzz/findings/<target>/; `make test` replays the committed
# corpus. One target: `make fuzz FUZZ_TARGETS=tar FUZZ_RUNS=10000`. Swift's backtracer is off so that
# libFuzzer's own signal handler saves the crashing input.
FUZZ_RUNS ?= 1000000
FUZZ_TARGETS ?= safetensors npy tar nifti checkpoint config
FUZZ_FLAGS ?= -max_len=8192 -timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=1024 -print_final_stats=1
# Release: the config target ran ~48 inputs/s in a debug build (1,000,000 inputs would take ~6 hours).
FUZZ_CONFIG ?= release
FUZZ_BIN = .build-fuzz/$(FUZZ_CONFIG)/voxelformer-fuzz

fuzz-build: setup
	$(SWIFT) build -c $(FUZZ_CONFIG) --scratch-path .build-fuzz --product voxelformer-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -use-ld=lld

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t .build-fuzz/findings/$$t && \
	  echo "== fuzz $$t: $(FUZZ_RUNS) runs" && \
	  FUZZ_TARGET=$$t SWIFT_BACKTRACE=enable=no $(FUZZ_BIN) -runs=$(FUZZ_RUNS) $(FUZZ_FLAGS) -artifact_prefix=.build-fuzz/findings/$$t/ \
	    .build-fuzz/corpus/$$t Tests/FuzzTests/Corpus/$$t || exit 1; \
	done

# Regenerates every test fixture (needs torch, numpy, safetensors, h5py, nibabel in python3).
fixtures:
	for g in Tests/*/Fixtures/generate*.py Tests/*/Fixtures/*/generate*.py Tests/FuzzTests/Corpus/generate*.py; do python3 $$g || exit 1; done

clean:
	rm -rf .build
