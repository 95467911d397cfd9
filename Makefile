# moe-sim developer commands. Everything runs through the Swift toolchain alone (no package dependencies).
SWIFT ?= swift
TRACE ?= traces/mixtral-8x7b-synth.moetrace.jsonl

SHARED_TRACES ?= ../shared/traces

.PHONY: slurm-check readme-check build release test bench soak run cache-table experiment fuzz test-asan test-tsan clean

# What users run is the release build (a debug build is 20-50x slower, with identical output); the tests stay debug.
SIM = .build/release/sim

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --product sim

# The test command CI runs: the whole suite, the README's first command as a smoke check, the README examples
# marked runnable (.ci/readme-examples), then the experiments' regression guard (re-runs each experiment's small check
# variant against experiments/expected/; about 10 s), then the measurement kit's host probes (tools/measure-device,
# Python; skipped where python3 is absent).
test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(SWIFT) run sim --hardware 4090 --trace $(TRACE) > /dev/null
	.ci/readme-examples
	$(SWIFT) run sim experiment check
	@if command -v python3 > /dev/null; then python3 tools/measure-device/test_measure_device.py --sim "$$($(SWIFT) build --show-bin-path)/sim"; \
	else echo "skipped tools/measure-device test: no python3"; fi

# The experiments README's Slurm job-array recipe, run for real on this machine: installs slurm-wlm and munge if absent
# (root), starts a private single-node Slurm, submits the README's sbatch block, merges, compares with an unsharded run,
# stops what it started (.ci/slurm-check; about 2 minutes after the release build).
slurm-check:
	.ci/slurm-check

# Runs the README examples marked runnable (part of `make test`).
readme-check:
	$(SWIFT) build --product sim
	.ci/readme-examples

# `make experiment` lists the experiments; `make experiment NAME=x` runs experiments/x.json into results/x/
# (replacing an earlier results/x/: it is regenerated output, git-ignored). NAME=fidelity runs `sim fidelity`, whose
# report (tables per source, one-point calibration, log-log scatter) the generic experiment output cannot hold.
# ARGS adds options, e.g. ARGS="--set quant=fp16" (see `sim experiment --help`).
experiment: release
ifeq ($(strip $(NAME)),)
	$(SIM) experiment list
else ifeq ($(strip $(NAME)),fidelity)
	$(SIM) fidelity --out results/fidelity --force
else
	$(SIM) experiment run $(NAME) --force $(ARGS)
endif

# Replay speed and memory (release build): about 30 s.
bench:
	$(SWIFT) build -c release --product moe-bench
	.build/release/moe-bench $(ARGS)

# Soak (not in CI, about 15 min): a 100M token-layer timed replay and a 1M-request serving run, twice. Each run prints
# digests of its full reports and resident memory after a tenth and after all; the two runs' digests must match.
soak:
	$(SWIFT) build -c release --product moe-bench
	.build/release/moe-bench --soak | tee .build/soak-1.txt
	.build/release/moe-bench --soak > .build/soak-2.txt
	grep digest .build/soak-1.txt > .build/soak-1.digests
	grep digest .build/soak-2.txt > .build/soak-2.digests
	cmp .build/soak-1.digests .build/soak-2.digests && echo "soak: both runs gave the same digests"

run: release
	$(SIM) --hardware 4090 --trace $(TRACE) $(ARGS)

# Hit rate of every cache policy at per-layer capacities 1..7 on the real HumanEval decode trace, next to Belady.
cache-table: release
	$(SIM) cache sweep --trace $(SHARED_TRACES)/mixtral-8x7b-vllm-fp8/humaneval-decode.moetrace.jsonl --capacities 1..7

# Fuzz every parser (traces, presets, profiles, experiment specs and shards, recorder imports, policy strings) with
# libFuzzer and AddressSanitizer for FUZZ_SECONDS each; prints executions and findings per target and exits 1 on any.
# Built with swiftc outside SwiftPM into FUZZ_BUILD, where the growing corpus and failing inputs stay (Fuzz/fuzz.sh).
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= /tmp/moe-sim-fuzz
SWIFTC ?= swiftc
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SHARED=$(SHARED_TRACES) SWIFTC=$(SWIFTC) Fuzz/fuzz.sh

# The test suite under AddressSanitizer and ThreadSanitizer (separate build folders: each is a full build).
test-asan:
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build/asan
	$(SWIFT) test --skip-build --sanitize=address --scratch-path .build/asan

test-tsan:
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build/tsan
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build/tsan

clean:
	rm -rf .build
