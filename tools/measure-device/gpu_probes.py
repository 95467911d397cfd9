"""GPU-side probes (PyTorch with CUDA): host link rates at expert-sized transfers, pinned and pageable, one
direction and both at once; expert-shaped GEMV/GEMM per weight format; device memory.

Timings use CUDA events on dedicated streams; each figure is the median of several repeats after a warm-up.
"""
import statistics


def available():
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


def _median_seconds(torch, fn, repeats, stream=None):
    times = []
    for i in range(repeats + 1):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        if i > 0:  # the first is a warm-up
            times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def link_rates(expert_bytes, repeats=10):
    import torch
    device = torch.device("cuda")
    stream = torch.cuda.Stream()
    pinned = torch.empty(expert_bytes, dtype=torch.uint8).pin_memory()
    pageable = torch.empty(expert_bytes, dtype=torch.uint8)
    gpu = torch.empty(expert_bytes, dtype=torch.uint8, device=device)
    gpu_other = torch.empty(expert_bytes, dtype=torch.uint8, device=device)
    pinned_back = torch.empty(expert_bytes, dtype=torch.uint8).pin_memory()
    out = {}
    with torch.cuda.stream(stream):
        out["h2dPinned"] = expert_bytes / _median_seconds(torch, lambda: gpu.copy_(pinned, non_blocking=True), repeats, stream)
        out["d2hPinned"] = expert_bytes / _median_seconds(torch, lambda: pinned_back.copy_(gpu, non_blocking=True), repeats, stream)
        out["h2dPageable"] = expert_bytes / _median_seconds(torch, lambda: gpu.copy_(pageable), repeats, stream)
        out["d2hPageable"] = expert_bytes / _median_seconds(torch, lambda: pageable.copy_(gpu), repeats, stream)
        small_pinned = torch.empty(4096, dtype=torch.uint8).pin_memory()
        small_gpu = torch.empty(4096, dtype=torch.uint8, device=device)
        out["smallCopySeconds"] = _median_seconds(torch, lambda: small_gpu.copy_(small_pinned, non_blocking=True), repeats * 5, stream)
    # Both directions at once, on two streams: H2D timed while a D2H of the same size runs (started first).
    up, down = torch.cuda.Stream(), torch.cuda.Stream()
    times = []
    for i in range(repeats + 1):
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        with torch.cuda.stream(down):
            pinned_back.copy_(gpu_other, non_blocking=True)
            pinned_back.copy_(gpu_other, non_blocking=True)  # long enough to cover the H2D
        with torch.cuda.stream(up):
            start.record(up)
            gpu.copy_(pinned, non_blocking=True)
            end.record(up)
        torch.cuda.synchronize()
        if i > 0:
            times.append(start.elapsed_time(end) / 1e3)
    out["h2dDuringD2H"] = expert_bytes / statistics.median(times)
    out["expertBytes"] = expert_bytes
    return out


def kernels(hidden, ffn, repeats=20):
    """Expert-shaped matmuls on the GPU per weight format, and device memory."""
    import torch
    device = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    out = {"name": props.name, "memoryBytes": props.total_memory}
    w16 = torch.randn(ffn, hidden, dtype=torch.float16, device=device)
    x1 = torch.randn(hidden, 1, dtype=torch.float16, device=device)
    x128 = torch.randn(hidden, 128, dtype=torch.float16, device=device)
    t = _median_seconds(torch, lambda: w16 @ x1, repeats)
    out["fp16GemvBytesPerSecond"] = w16.numel() * 2 / t
    t = _median_seconds(torch, lambda: w16 @ x128, repeats)
    out["fp16Gemm128FlopsPerSecond"] = 2 * ffn * hidden * 128 / t
    n = 8192
    a = torch.randn(n, n, dtype=torch.float16, device=device)
    t = _median_seconds(torch, lambda: a @ a, max(3, repeats // 4))
    out["fp16GemmFlopsPerSecond"] = 2 * n ** 3 / t
    # int8 weights dequantised to fp16 then multiplied (the unfused eager path); bytes counted as int8 weight bytes.
    w8 = torch.randint(-127, 127, (ffn, hidden), dtype=torch.int8, device=device)
    scale = torch.rand(ffn, 1, dtype=torch.float16, device=device)
    t = _median_seconds(torch, lambda: (w8.to(torch.float16) * scale) @ x1, repeats)
    out["int8DequantGemvBytesPerSecond"] = w8.numel() / t
    # A device-to-device copy: the memory bandwidth a streaming kernel can reach.
    b = torch.empty_like(w16)
    t = _median_seconds(torch, lambda: b.copy_(w16), repeats)
    out["deviceCopyBytesPerSecond"] = 2 * w16.numel() * 2 / t
    return out
