#!/usr/bin/env python3
"""Smoke test of the measurement kit's host part (no GPU, no PyTorch, no pytest): runs it in --quick mode, checks the
profile it writes, and, when given `--sim PATH`, that `sim run` accepts the profile. Run by `make test`."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import measure_device  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", help="path to the sim binary, to check the written profile loads")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="measure-device-test-")
    out = os.path.join(folder, "host.json")
    measure_device.main(["--base", "t4", "--out", out, "--quick", "--no-gpu", "--storage-dir", folder])
    with open(out) as f:
        profile = json.load(f)
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    host = profile["host"]
    for key in ("memoryBandwidthBytesPerSecond", "cpuFlopsPerSecond", "cpuCores", "cpuAchievedMemoryBandwidthFraction"):
        figure = host[key]
        check(figure["source"].startswith("measured by tools/measure-device on "), "host.%s source: %s" % (key, figure["source"]))
        check(figure["value"] > 0, "host.%s value %r" % (key, figure["value"]))
    check(0 < host["cpuAchievedMemoryBandwidthFraction"]["value"] <= 1, "fraction out of (0, 1]")
    check(profile["storage"]["readBytesPerSecond"]["value"] > 0, "storage read rate")
    check(profile["name"] == "t4-measured" and "aliases" not in profile, "name / aliases")
    # Not measured without a GPU: kept from the base preset with its own source.
    check(not profile["hostLink"]["h2dBytesPerSecond"]["source"].startswith("measured"), "hostLink measured without a GPU?")
    check(os.path.exists(os.path.join(folder, "host.raw.json")), "raw output missing")
    # No overwrite without --force.
    try:
        measure_device.main(["--base", "t4", "--out", out, "--quick", "--no-gpu", "--storage-dir", "none"])
        failures.append("overwrote without --force")
    except SystemExit as e:
        check("already exists" in str(e), "unexpected refusal: %s" % e)
    if args.sim:
        trace = os.path.join(HERE, "..", "..", "traces", "mixtral-8x7b-humaneval-synth-short.moetrace.jsonl")
        r = subprocess.run([args.sim, "--hardware", out, "--quant", "hqq2", "--trace", trace, "--json"], capture_output=True, text=True)
        check(r.returncode == 0, "sim rejects the profile: " + r.stderr.strip())
    if failures:
        print("measure-device test FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("measure-device test: ok (host probes ran%s)" % (" and sim accepted the profile" if args.sim else ""))


if __name__ == "__main__":
    main()
