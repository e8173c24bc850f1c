// What the one-op test entry points (decoder_test.cu, fp8_test.cu) share: an arena of device
// buffers freed when it goes out of scope, poisoned outputs (0xff bytes: NaN in every float dtype
// and e4m3) so an unwritten value fails, host arrays copied in, float32 host arrays converted to
// the dtype under test, and an integer argument reader.
#pragma once
#include <napi.h>

#include <vector>

#include "ops.h"

namespace er::op_test {

struct DeviceBuffers {
  std::vector<void*> ptrs;
  void* alloc(size_t bytes) {
    void* p = nullptr;
    ER_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
    ptrs.push_back(p);
    return p;
  }
  void* poisoned(size_t bytes) {
    void* p = alloc(bytes);
    ER_CHECK(cudaMemset(p, 0xff, bytes ? bytes : 1));
    return p;
  }
  // Any typed array's bytes, as they are.
  template <typename A> void* copy_in(const A& a) {
    void* d = alloc(a.ByteLength());
    ER_CHECK(cudaMemcpy(d, a.Data(), a.ByteLength(), cudaMemcpyHostToDevice));
    return d;
  }
  ~DeviceBuffers() {
    for (void* p : ptrs) cudaFree(p);
  }
};

// float32 host array → dt on the device.
inline void* upload(DeviceBuffers& b, DType dt, const Napi::Float32Array& a) {
  void* f32 = b.copy_in(a);
  if (dt == DType::F32) return f32;
  void* d = b.alloc(a.ElementLength() * dtype_size(dt));
  convert(DType::F32, dt, f32, d, a.ElementLength(), nullptr);
  return d;
}

inline int num(const Napi::Object& o, const char* k) { return o.Get(k).As<Napi::Number>().Int32Value(); }

}  // namespace er::op_test
