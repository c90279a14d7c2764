"""The machines recorded figures were measured on; benchmarks/RESULTS.md describes each one.

A `Recorded(machine=...)` names one of these, so the same description is not retyped per variant."""

CPU_2C = "cpu-2c: 2 cores of an Intel Xeon with AVX512-BF16/AMX, 24 GiB, no GPU"
CPU_2C_EPYC = "cpu-2c-epyc: 2 cores of an AMD EPYC with AVX512-BF16 (no AMX), 23 GiB, no GPU"
CPU_2C_EMR = (
    "cpu-2c-emr: 2 cores of an Intel Xeon (Emerald Rapids) with AVX512-BF16, AMX hidden by the hypervisor, "
    "24 GiB, no GPU"
)
CPU_2C_EPYC_1T = (
    "cpu-2c-epyc, 1 thread: one core of cpu-2c-epyc and one torch thread (the other core ran another seed)"
)
GPU_H200 = (
    "gpu-h200: one NVIDIA H200 (driver 580.159.04, CUDA 13.0, cuDNN 9.19) and 16 Xeon cores, torch 2.11.0, "
    "bf16 autocast"
)
