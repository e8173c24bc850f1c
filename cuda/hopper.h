// What the Hopper kernels (attention_wgmma.cu, gemm_wgmma.cu) share on the host: whether this build
// can run them on a device, and TMA tensor maps.
#pragma once
#include <cuda.h>  // CUtensorMap and its enums only: the encoder comes from cudaGetDriverEntryPointByVersion

#include "common.cuh"

namespace er {

// True when `device` has compute capability 9.0 and this build holds an sm_90a image of the Hopper
// kernel files (a probe kernel compiled beside them is launched once per device and the verdict
// cached, so ask before any stream capture). Throws only on a CUDA failure of the probe itself.
bool hopper_kernels_usable(int device);

// Raises `kernel`'s dynamic shared-memory limit to `bytes` on the current device, once per device
// and thread: the attribute belongs to the device's context, and a worker restarted after
// cudaDeviceReset (BertModel's destructor when broken) runs on a new thread with a new context.
void allow_dynamic_smem(const void* kernel, size_t bytes);

// A 2-D tiled tensor map over a row-major [rows, cols] matrix of 16-bit values (fp16 or bf16) with
// row stride ld elements, boxes of box_rows × box_cols, 128-byte swizzle (box_cols·2 ≤ 128), zero
// fill out of range. Throws std::runtime_error naming `who` if base is not 16-byte aligned, ld·2
// is not a multiple of 16 bytes, or the driver refuses the map (TMA's rules).
CUtensorMap tensor_map_2d(DType dt, const void* base, int cols, int rows, int ld, int box_cols, int box_rows, const char* who);

}  // namespace er
