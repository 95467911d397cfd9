#!/usr/bin/env python3
"""Measures the figures of a moe-sim hardware profile on this machine and writes the profile.

    python3 tools/measure-device/measure_device.py --base rtx4090 --out my-gpu.json

Host parts (memory bandwidth, CPU expert matmul, storage read rate) need neither a GPU nor PyTorch; the GPU parts
(pinned/pageable H2D and D2H at expert-sized transfers, both directions at once, expert-shaped GEMV/GEMM per weight
format) run when PyTorch sees a CUDA device. Figures that cannot be measured here (datasheet peaks, copy engines, the
host's dispatch speed) are kept from --base with their own sources. Every measured figure's source is
"measured by tools/measure-device on DATE"; the raw probe output goes next to the profile (OUT.raw.json).
"""
import argparse
import datetime
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_probes  # noqa: E402
import gpu_probes  # noqa: E402

REPOSITORY = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PRESETS = os.path.join(REPOSITORY, "Sources", "MoESim", "Resources", "hardware")
# A Mixtral-8x7B expert at HQQ 2-bit, as `sim models show mixtral-8x7b` lists it; hidden and FFN sizes of its matrices.
DEFAULT_EXPERT_BYTES = 66404364
DEFAULT_HIDDEN, DEFAULT_FFN = 4096, 14336


def load_base(name_or_path):
    path = name_or_path if os.path.exists(name_or_path) else os.path.join(PRESETS, name_or_path + ".json")
    if not os.path.exists(path):
        names = sorted(f[:-5] for f in os.listdir(PRESETS) if f.endswith(".json")) if os.path.isdir(PRESETS) else []
        raise SystemExit("error: --base: no preset or file '%s' (presets: %s)" % (name_or_path, ", ".join(names)))
    with open(path) as f:
        return json.load(f), path


def measure(args):
    raw = {"host": cpu_probes.host_facts()}
    quick = args.quick
    print("measuring host memory bandwidth ...", file=sys.stderr)
    raw["hostMemory"] = cpu_probes.host_memory_bandwidth((32 if quick else 512) << 20)
    print("measuring CPU expert matmul ...", file=sys.stderr)
    raw["cpuMatmul"] = cpu_probes.cpu_expert_matmul(args.hidden if not quick else 1024, args.ffn if not quick else 4096)
    if args.storage_dir != "none":
        print("measuring storage read rate in %s ..." % args.storage_dir, file=sys.stderr)
        raw["storage"] = cpu_probes.storage_read(args.storage_dir, (16 if quick else args.storage_mib) << 20)
    if not args.no_gpu and gpu_probes.available():
        print("measuring host link and GPU kernels ...", file=sys.stderr)
        raw["link"] = gpu_probes.link_rates(args.expert_bytes)
        raw["gpu"] = gpu_probes.kernels(args.hidden, args.ffn)
    else:
        raw["gpuSkipped"] = "no GPU measured (--no-gpu, or PyTorch with CUDA is not available)"
    return raw


def build_profile(base, base_path, raw, name, date):
    source = "measured by tools/measure-device on %s" % date

    def sourced(value, note):
        return {"value": value, "source": source, "note": note}

    profile = json.loads(json.dumps(base))
    profile["name"] = name
    profile.pop("aliases", None)
    profile["title"] = base["title"] + " - figures measured on this machine by tools/measure-device"
    profile["notes"] = ("Measured on %s by tools/measure-device (raw output next to this file) starting from the preset %s; figures not "
                        "measured keep that preset's sources. " % (date, os.path.relpath(base_path, REPOSITORY))) + base.get("notes", "")
    host = profile["host"]
    facts = raw["host"]
    if facts.get("memoryBytes"):
        host["memoryBytes"] = sourced(float(facts["memoryBytes"]), "os.sysconf(SC_PAGE_SIZE * SC_PHYS_PAGES)")
    host["cpuCores"] = sourced(facts["cpuCores"], "os.cpu_count(): logical cores (hardware threads)")
    memory = raw["hostMemory"]
    host["memoryBandwidthBytesPerSecond"] = sourced(memory["bytesPerSecond"], memory["method"])
    matmul = raw["cpuMatmul"]
    host["cpuAchievedMemoryBandwidthFraction"] = sourced(min(1.0, matmul["gemvBytesPerSecond"] / memory["bytesPerSecond"]),
                                                         "expert GEMV weight bytes/s over the copy bandwidth; " + matmul["method"])
    host["cpuFlopsPerSecond"] = sourced(matmul["gemmFlopsPerSecond"], "achieved GEMM rate; " + matmul["method"])
    host["cpuAchievedComputeFraction"] = sourced(1.0, "cpuFlopsPerSecond is already the achieved rate")
    if "storage" in raw:
        storage = raw["storage"]
        old = profile.get("storage") or {}
        profile["storage"] = {
            "name": old.get("name", "measured storage"),
            "readBytesPerSecond": sourced(storage["bytesPerSecond"], storage["method"]),
            "setupLatencySeconds": old.get("setupLatencySeconds",
                                           {"value": 0.0001, "source": "assumption (not measured): about 100 us per read, typical of NVMe", "unconfirmed": True}),
        }
    if "link" in raw and profile.get("hostLink"):
        link, kernels = raw["link"], raw["gpu"]
        size = "%d-byte transfers (one expert), median of repeats, CUDA events" % link["expertBytes"]
        hl = profile["hostLink"]
        hl["h2dBytesPerSecond"] = sourced(link["h2dPinned"], "pinned H2D, " + size)
        hl["d2hBytesPerSecond"] = sourced(link["d2hPinned"], "pinned D2H, " + size)
        hl["pageableH2DBytesPerSecond"] = sourced(link["h2dPageable"], "pageable H2D, " + size)
        hl["h2dBytesPerSecondDuringD2H"] = sourced(link["h2dDuringD2H"], "pinned H2D while a pinned D2H runs on another stream, " + size)
        hl["bidirectionalContention"] = {"value": link["h2dDuringD2H"] < 0.9 * link["h2dPinned"], "source": source,
                                         "note": "true when H2D during a D2H is below 90 % of H2D alone"}
        hl["setupLatencySeconds"] = sourced(link["smallCopySeconds"], "median time of a 4 KiB pinned H2D copy")
        device = profile["device"]
        device["memoryBytes"] = sourced(float(kernels["memoryBytes"]), "torch.cuda.get_device_properties(0).total_memory (%s)" % kernels["name"])
        datasheet = device["memoryBandwidthBytesPerSecond"]["value"]
        device["achievedMemoryBandwidthFraction"] = sourced(min(1.0, kernels["fp16GemvBytesPerSecond"] / datasheet),
                                                            "fp16 expert GEMV (%dx%d, batch 1) weight bytes/s over the datasheet %.0f GB/s" % (
                                                                DEFAULT_FFN, DEFAULT_HIDDEN, datasheet / 1e9))
        peak = device["fp16FlopsPerSecond"]["value"]
        device["achievedComputeFraction"] = sourced(min(1.0, kernels["fp16GemmFlopsPerSecond"] / peak),
                                                    "fp16 8192^3 GEMM over the datasheet %.0f TFLOPS" % (peak / 1e12))
    return profile


def write_atomically(path, text, force):
    if os.path.exists(path) and not force:
        raise SystemExit("error: %s: already exists; not overwriting it (hint: pass --force)" % path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".measure-device-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="hardware preset name (Sources/MoESim/Resources/hardware/NAME.json) or file to start from")
    parser.add_argument("--out", required=True, help="hardware profile to write (JSON)")
    parser.add_argument("--name", help="profile name (default: BASE-measured)")
    parser.add_argument("--storage-dir", default=tempfile.gettempdir(), help="folder on the disk experts would be read from, or 'none'")
    parser.add_argument("--storage-mib", type=int, default=1024, help="size of the storage test file in MiB (default 1024)")
    parser.add_argument("--expert-bytes", type=int, default=DEFAULT_EXPERT_BYTES, help="transfer size for the link probes")
    parser.add_argument("--hidden", type=int, default=DEFAULT_HIDDEN, help="expert matrix columns (model hidden size)")
    parser.add_argument("--ffn", type=int, default=DEFAULT_FFN, help="expert matrix rows (FFN size)")
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU probes")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test, not a measurement)")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    args = parser.parse_args(argv)
    base, base_path = load_base(args.base)
    if os.path.exists(args.out) and not args.force:
        raise SystemExit("error: %s: already exists; not overwriting it (hint: pass --force)" % args.out)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    raw = measure(args)
    raw["date"] = date
    raw["quick"] = args.quick
    profile = build_profile(base, base_path, raw, args.name or base["name"] + "-measured", date)
    raw_path = os.path.splitext(args.out)[0] + ".raw.json"
    write_atomically(raw_path, json.dumps(raw, indent=2) + "\n", True)
    write_atomically(args.out, json.dumps(profile, indent=2) + "\n", args.force)
    print("wrote %s (raw probe output: %s)" % (args.out, raw_path))
    for key in ("hostMemory", "cpuMatmul", "storage", "link", "gpu"):
        if key in raw:
            print("  %s: %s" % (key, ", ".join("%s=%.4g" % (k, v) for k, v in raw[key].items() if isinstance(v, float))))
    if "gpuSkipped" in raw:
        print("  " + raw["gpuSkipped"])


if __name__ == "__main__":
    main()
