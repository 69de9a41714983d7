// Shared helpers of the CUDA kernels: error checking and small index helpers.
//
// Host code (.cpp) may include this header as long as the CUDA runtime
// headers are on the include path; device-only helpers are guarded by
// __CUDACC__.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace sotr {
namespace cuda {

// Thrown by SOTR_CUDA_CHECK / SOTR_CUDA_CHECK_LAUNCH and by the CUDA entry
// points of this library. what() names the failed call, where it was made and
// the CUDA error string; code() gives the raw cudaError_t.
class CudaError : public std::runtime_error {
 public:
  CudaError(cudaError_t code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  cudaError_t code() const noexcept { return code_; }

 private:
  cudaError_t code_;
};

namespace detail {
[[noreturn]] inline void throwCudaError(cudaError_t code, const char* what, const char* file,
                                        int line) {
  std::ostringstream os;
  os << "CUDA error " << static_cast<int>(code) << " (" << cudaGetErrorName(code)
     << ": " << cudaGetErrorString(code) << ") in `" << what << "` at " << file << ":" << line;
  throw CudaError(code, os.str());
}
}  // namespace detail

// Integer helpers usable on host and device.
template <typename T>
__host__ __device__ constexpr T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}
template <typename T>
__host__ __device__ constexpr T round_up(T a, T b) {
  return ceil_div(a, b) * b;
}
template <typename T>
__host__ __device__ constexpr T min_of(T a, T b) {
  return a < b ? a : b;
}
template <typename T>
__host__ __device__ constexpr T max_of(T a, T b) {
  return a > b ? a : b;
}
// True when p is aligned to `bytes` (a power of two).
__host__ __device__ inline bool is_aligned(const void* p, std::uintptr_t bytes) {
  return (reinterpret_cast<std::uintptr_t>(p) & (bytes - 1)) == 0;
}

}  // namespace cuda
}  // namespace sotr

// Checks the cudaError_t of a runtime call; throws sotr::cuda::CudaError.
#define SOTR_CUDA_CHECK(call)                                                     \
  do {                                                                            \
    const cudaError_t sotr_cuda_err_ = (call);                                    \
    if (sotr_cuda_err_ != cudaSuccess)                                            \
      ::sotr::cuda::detail::throwCudaError(sotr_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

// Checks (and clears) the error state after a kernel launch (launch
// configuration errors, and earlier asynchronous errors that surfaced).
#define SOTR_CUDA_CHECK_LAUNCH()                                                  \
  do {                                                                            \
    const cudaError_t sotr_cuda_err_ = cudaGetLastError();                        \
    if (sotr_cuda_err_ != cudaSuccess)                                            \
      ::sotr::cuda::detail::throwCudaError(sotr_cuda_err_, "kernel launch", __FILE__, \
                                           __LINE__);                             \
  } while (0)
