"""Host-side probes: host memory bandwidth, CPU expert matmul speed, storage read rate.

They run without a GPU and without PyTorch: with numpy when it is installed, else with pure-Python fallbacks
(memoryview copies, a small pure-Python matmul). Every probe returns a dict with the figure, the method used and the
raw timings, so the written profile can say exactly what was measured.
"""
import mmap
import os
import statistics
import time

try:
    import numpy as np
except ImportError:  # the fallbacks below need nothing
    np = None


def _best_seconds(action, repeats):
    """Runs `action` `repeats` times; returns (best, median) wall seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def host_memory_bandwidth(size_bytes, repeats=5):
    """Copy bandwidth (STREAM-like 'copy': each byte read once and written once), counted as read + write bytes."""
    if np is not None:
        a = np.ones(size_bytes // 8, dtype=np.float64)
        b = np.empty_like(a)
        best, median = _best_seconds(lambda: np.copyto(b, a), repeats)
        method = "numpy.copyto of a %d MiB float64 array" % (size_bytes >> 20)
    else:
        a = bytearray(size_bytes)
        b = bytearray(size_bytes)
        view_a, view_b = memoryview(a), memoryview(b)

        def copy():
            view_b[:] = view_a
        best, median = _best_seconds(copy, repeats)
        method = "memoryview copy of a %d MiB buffer (pure Python, memcpy)" % (size_bytes >> 20)
    return {"bytesPerSecond": 2 * size_bytes / best, "medianBytesPerSecond": 2 * size_bytes / median,
            "method": method + ", best of %d, read + write bytes" % repeats, "bytes": size_bytes}


def cpu_expert_matmul(hidden, ffn, repeats=3):
    """An expert-shaped matrix-vector product (batch 1 decode) and a square GEMM on the CPU.

    Returns the weight bytes streamed per second by the GEMV (what batch-1 CPU expert execution is bound by) and the
    GEMM's floating-point rate.
    """
    if np is not None:
        w = np.random.default_rng(1).standard_normal((ffn, hidden), dtype=np.float32)
        x = np.ones(hidden, dtype=np.float32)
        best, median = _best_seconds(lambda: w @ x, repeats + 2)
        n = 1024
        a = np.ones((n, n), dtype=np.float32)
        gemm_best, _ = _best_seconds(lambda: a @ a, repeats)
        return {"gemvBytesPerSecond": w.nbytes / best, "gemvMedianBytesPerSecond": w.nbytes / median,
                "gemmFlopsPerSecond": 2 * n ** 3 / gemm_best,
                "method": "numpy float32: GEMV %dx%d (one expert matrix, batch 1), GEMM %d^3; best of %d" % (ffn, hidden, n, repeats + 2),
                "weightBytes": w.nbytes}
    # Pure Python: far slower than any real kernel; recorded so the figure is never silently invented.
    rows, cols = 64, 256
    w = [[(i * cols + j) % 7 * 0.5 for j in range(cols)] for i in range(rows)]
    x = [1.0] * cols

    def gemv():
        return [sum(wi * xi for wi, xi in zip(row, x)) for row in w]
    best, _ = _best_seconds(gemv, repeats)
    return {"gemvBytesPerSecond": rows * cols * 4 / best, "gemmFlopsPerSecond": 2 * rows * cols / best,
            "method": "pure Python %dx%d GEMV (numpy absent): a lower bound, far below a real CPU kernel" % (rows, cols),
            "weightBytes": rows * cols * 4}


def storage_read(directory, size_bytes, chunk_bytes=4 << 20):
    """Sequential read rate of a file written in `directory` (the disk experts would be read from).

    Reads with O_DIRECT where the file system allows it (no page cache); otherwise the file is synced and dropped from
    the page cache with posix_fadvise(DONTNEED) first, which Linux honours for clean pages.
    """
    path = os.path.join(directory, ".measure-device-%d.bin" % os.getpid())
    block = os.urandom(1 << 20)
    try:
        with open(path, "wb") as f:
            for _ in range(size_bytes >> 20):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
        method = None
        seconds = None
        if hasattr(os, "O_DIRECT"):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
                buffer = mmap.mmap(-1, chunk_bytes)  # page-aligned, as O_DIRECT needs
                start = time.perf_counter()
                while os.readv(fd, [buffer]) > 0:
                    pass
                seconds = time.perf_counter() - start
                os.close(fd)
                method = "O_DIRECT sequential read, %d MiB chunks" % (chunk_bytes >> 20)
            except OSError:
                seconds = None
        if seconds is None:
            fd = os.open(path, os.O_RDONLY)
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            buffer = bytearray(chunk_bytes)
            start = time.perf_counter()
            while os.readv(fd, [buffer]) > 0:
                pass
            seconds = time.perf_counter() - start
            os.close(fd)
            method = "buffered sequential read after posix_fadvise(DONTNEED), %d MiB chunks (O_DIRECT unavailable here)" % (chunk_bytes >> 20)
        return {"bytesPerSecond": size_bytes / seconds, "method": method + ", %d MiB file in %s" % (size_bytes >> 20, directory),
                "bytes": size_bytes, "seconds": seconds}
    finally:
        if os.path.exists(path):
            os.remove(path)


def host_facts():
    """Cores and memory as the operating system reports them."""
    facts = {"cpuCores": os.cpu_count() or 1}
    try:
        facts["memoryBytes"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        facts["memoryBytes"] = None
    return facts
