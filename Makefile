# moe-sim developer commands. Everything runs through the Swift toolchain alone (no package dependencies).
SWIFT ?= swift
TRACE ?= traces/mixtral-8x7b-synth.moetrace.jsonl

.PHONY: build test bench run clean

build:
	$(SWIFT) build

# The test command CI runs: the whole suite, then the README's first command as a smoke check.
test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(SWIFT) run sim --hardware 4090 --trace $(TRACE) > /dev/null

# Replay speed and memory (release build): about 30 s.
bench:
	$(SWIFT) build -c release --product moe-bench
	.build/release/moe-bench $(ARGS)

run:
	$(SWIFT) run sim --hardware 4090 --trace $(TRACE)

clean:
	rm -rf .build
