// Used when the addon is built without CUDA: same interface, clear reason.
#ifndef SOTR_WITH_CUDA
#include "core/error.h"
#include "runtime/backend.h"

namespace sotr {

CudaInfo cudaInfo() {
  CudaInfo info;
  info.compiled = false;
  info.available = false;
  info.reason = "this build of sotr-node was compiled without CUDA (nvcc was not found or SOTR_CUDA=off)";
  return info;
}

std::unique_ptr<Backend> createCudaBackend(int) {
  fail(ErrorKind::DeviceUnavailable, cudaInfo().reason);
}

}  // namespace sotr
#endif
