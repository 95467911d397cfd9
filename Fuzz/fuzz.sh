#!/usr/bin/env bash
# Builds moe-sim's libFuzzer binary and runs every fuzz target (or FUZZ_TARGETS) for FUZZ_SECONDS each, then prints
# per target: executions, findings (crashes and failed checks; out-of-memory; timeouts) and time. Used by `make fuzz`.
#
#   FUZZ_SECONDS=60        time per target
#   FUZZ_TARGETS="a b"     targets to run (default: all; `MOESIM_FUZZ_TARGET=list $FUZZ_BUILD/moe-fuzz` lists them)
#   FUZZ_BUILD=/tmp/moe-sim-fuzz   build folder: binary, generated seeds, growing corpus, crash artifacts, log
#   FUZZ_SHARED=../shared/traces   shared traces to slice seeds from (skipped when absent)
#   FUZZ_SANITIZE=fuzzer,address   sanitizers (ASan links with libFuzzer on Linux)
#
# The corpus under $FUZZ_BUILD/corpus grows from run to run; artifacts/<target>/ keeps every input that failed.
# Leak detection is off: Foundation's FileManager.contents(atPath:) leaks 4 KiB per empty file read (toolchain, not
# moe-sim). Exit status: 1 when any target found something.
set -u
cd "$(dirname "$0")/.."
SWIFTC=${SWIFTC:-swiftc}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
BUILD=${FUZZ_BUILD:-/tmp/moe-sim-fuzz}
SHARED=${FUZZ_SHARED:-../shared/traces}
SANITIZE=${FUZZ_SANITIZE:-fuzzer,address}
BIN="$BUILD/moe-fuzz"
mkdir -p "$BUILD"

# Build outside SwiftPM (SwiftPM cannot link a libFuzzer main into an executable target): Sources/MoESim and Fuzz/
# as one module. Rebuilt only when a source is newer than the binary.
sources=$(find Sources/MoESim Fuzz -name '*.swift' | sort)
if [ ! -x "$BIN" ] || [ -n "$(find Sources/MoESim Fuzz -name '*.swift' -newer "$BIN" | head -1)" ]; then
    echo "fuzz: building $BIN (-sanitize=$SANITIZE; a few minutes)"
    start=$(date +%s)
    # shellcheck disable=SC2086
    if ! "$SWIFTC" -module-name MoESim -parse-as-library -swift-version 5 -O -wmo -num-threads 2 -gline-tables-only \
        -sanitize="$SANITIZE" $sources -o "$BIN" > "$BUILD/build.log" 2>&1; then
        grep -v "ld.gold: warning" "$BUILD/build.log" | tail -40
        echo "fuzz: build failed (log: $BUILD/build.log)"
        exit 2
    fi
    echo "fuzz: built in $(( $(date +%s) - start )) s"
fi
export MOESIM_RESOURCES="$PWD/Sources/MoESim/Resources"
# Swift's own crash backtracer fights ASan's; ASan prints the stack.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

rm -rf "$BUILD/seeds"
MOESIM_FUZZ_TARGET=make-seeds MOESIM_FUZZ_SEEDS="$BUILD/seeds" MOESIM_FUZZ_SHARED="$SHARED" "$BIN" 2> "$BUILD/seeds.log" \
    || { cat "$BUILD/seeds.log"; echo "fuzz: making the seed corpus failed"; exit 2; }
targets=${FUZZ_TARGETS:-$(MOESIM_FUZZ_TARGET=list "$BIN" 2>&1 | awk '{print $1}')}

max_len() {
    case "$1" in
        synth-profile|experiment-spec|experiment-shard|hardware|model) echo 65536 ;;
        *) echo 16384 ;;
    esac
}

found_any=0
summary="$BUILD/summary.txt"
printf "%-22s %12s %9s %8s %8s %8s %7s\n" target executions exec/s crashes oom timeouts seconds > "$summary"
for target in $targets; do
    corpus="$BUILD/corpus/$target"
    artifacts="$BUILD/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    execs=0; crashes=0; ooms=0; timeouts=0
    start=$(date +%s)
    # A finding stops libFuzzer; go on with the time left (at most 5 restarts, so a crash found at once does not spin).
    for attempt in 1 2 3 4 5 6; do
        left=$(( SECONDS_PER_TARGET - ($(date +%s) - start) ))
        [ "$left" -ge 1 ] || break
        log="$BUILD/$target.log"
        MOESIM_FUZZ_TARGET="$target" "$BIN" "$corpus" "$BUILD/seeds/$target" -max_total_time="$left" -print_final_stats=1 \
            -artifact_prefix="$artifacts/" -dict=Fuzz/moe-sim.dict -max_len="$(max_len "$target")" -timeout=20 -rss_limit_mb=2048 \
            -close_fd_mask=1 -detect_leaks=0 > "$log" 2>&1
        status=$?
        n=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
        # Without final stats (a crash), the last progress line "#N ..." counts the executions.
        [ -n "$n" ] || n=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
        execs=$(( execs + ${n:-0} ))
        [ "$status" -eq 0 ] && break
        if grep -q "libFuzzer: out-of-memory\|malloc(.*) exceeds limit" "$log"; then ooms=$((ooms + 1))
        elif grep -q "libFuzzer: timeout" "$log"; then timeouts=$((timeouts + 1))
        else crashes=$((crashes + 1)); fi
        cp "$log" "$artifacts/finding-$(date +%s)-$attempt.log"
        grep -m1 -A3 "moe-fuzz finding\|ERROR: \|Fatal error\|fatal error" "$log" | head -4 | sed "s/^/  $target: /"
        found_any=1
    done
    elapsed=$(( $(date +%s) - start ))
    rate=$(( execs / (elapsed > 0 ? elapsed : 1) ))
    printf "%-22s %12d %9d %8d %8d %8d %7d\n" "$target" "$execs" "$rate" "$crashes" "$ooms" "$timeouts" "$elapsed" | tee -a "$summary"
    printf "%s\t%s\t%d\t%d\t%d\t%d\t%d\n" "$(date -u +%FT%TZ)" "$target" "$execs" "$crashes" "$ooms" "$timeouts" "$elapsed" >> "$BUILD/history.tsv"
done
echo
cat "$summary"
echo "fuzz: corpus in $BUILD/corpus, failing inputs in $BUILD/artifacts, every run in $BUILD/history.tsv"
exit $found_any
