// Errors raised by native code. Each carries a kind that the bindings map to
// the typed JavaScript errors of ts/errors.ts (by stable code).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace sotr {

enum class ErrorKind {
  InvalidArgument,  // TypeError: wrong kind of argument
  Range,            // RangeError: value out of range
  Shape,            // RangeError: wrong shape
  DType,            // TypeError: wrong dtype
  DeviceMismatch,   // TypeError: tensors on different devices
  Disposed,         // use after dispose
  DeviceUnavailable,
  NoKernel,  // the op exists but has no kernel for the tensors' device (a kind of DeviceUnavailable in JS)
  OutOfMemory,
  DeviceLost,
  Aborted,
  Internal,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg) : std::runtime_error(msg), kind(kind) {}
  ErrorKind kind;
  // OutOfMemory only
  uint64_t requestedBytes = 0, freeBytes = 0;
  std::string device;
};

inline const char* errorCode(ErrorKind k) {
  switch (k) {
    case ErrorKind::InvalidArgument: return "SOTR_INVALID_ARGUMENT";
    case ErrorKind::Range: return "SOTR_INVALID_ARGUMENT";
    case ErrorKind::Shape: return "SOTR_SHAPE_MISMATCH";
    case ErrorKind::DType: return "SOTR_DTYPE_MISMATCH";
    case ErrorKind::DeviceMismatch: return "SOTR_DEVICE_MISMATCH";
    case ErrorKind::Disposed: return "SOTR_DISPOSED";
    case ErrorKind::DeviceUnavailable: return "SOTR_DEVICE_UNAVAILABLE";
    case ErrorKind::NoKernel: return "SOTR_NO_KERNEL";
    case ErrorKind::OutOfMemory: return "SOTR_DEVICE_OUT_OF_MEMORY";
    case ErrorKind::DeviceLost: return "SOTR_DEVICE_LOST";
    case ErrorKind::Aborted: return "SOTR_ABORTED";
    case ErrorKind::Internal: return "SOTR_INTERNAL";
  }
  return "SOTR_INTERNAL";
}

[[noreturn]] inline void fail(ErrorKind kind, const std::string& msg) { throw Error(kind, msg); }

// Host memory (malloc, a kernel's workspace, a std::vector) that could not be had: an OutOfMemory error on
// "cpu", the host, whatever the model's device. bytes: the request when known, else 0.
inline Error hostOutOfMemory(const std::string& what, uint64_t bytes = 0) {
  Error e(ErrorKind::OutOfMemory,
          "out of host memory" + (bytes ? ": requested " + std::to_string(bytes) + " bytes" : std::string()) +
              (what.empty() ? std::string() : " (" + what + ")"));
  e.requestedBytes = bytes;
  e.device = "cpu";
  return e;
}

}  // namespace sotr
