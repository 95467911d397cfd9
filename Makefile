# moe-sim developer commands. Everything runs through the Swift toolchain alone (no package dependencies).
SWIFT ?= swift
TRACE ?= traces/mixtral-8x7b-synth.moetrace.jsonl

SHARED_TRACES ?= ../shared/traces

.PHONY: build test bench soak run cache-table experiment fuzz test-asan test-tsan clean

build:
	$(SWIFT) build

# The test command CI runs: the whole suite, the README's first command as a smoke check, then the experiments'
# regression guard (re-runs each experiment's small check variant against experiments/expected/; about 10 s), then
# the measurement kit's host probes (tools/measure-device, Python; skipped where python3 is absent).
test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(SWIFT) run sim --hardware 4090 --trace $(TRACE) > /dev/null
	$(SWIFT) run sim experiment check
	@if command -v python3 > /dev/null; then python3 tools/measure-device/test_measure_device.py --sim "$$($(SWIFT) build --show-bin-path)/sim"; \
	else echo "skipped tools/measure-device test: no python3"; fi

# `make experiment` lists the experiments; `make experiment NAME=x` runs experiments/x.json into results/x/
# (replacing an earlier results/x/: it is regenerated output, git-ignored). NAME=fidelity runs `sim fidelity`, whose
# report (tables per source, one-point calibration, log-log scatter) the generic experiment output cannot hold.
experiment:
ifeq ($(strip $(NAME)),)
	$(SWIFT) run sim experiment list
else ifeq ($(strip $(NAME)),fidelity)
	$(SWIFT) run sim fidelity --out results/fidelity --force
else
	$(SWIFT) run sim experiment run $(NAME) --force
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

run:
	$(SWIFT) run sim --hardware 4090 --trace $(TRACE)

# Hit rate of every cache policy at per-layer capacities 1..7 on the real HumanEval decode trace, next to Belady.
cache-table:
	$(SWIFT) run sim cache sweep --trace $(SHARED_TRACES)/mixtral-8x7b-vllm-fp8/humaneval-decode.moetrace.jsonl --capacities 1..7

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
