// Tensors: a dtype, a shape and a reference-counted storage on one device.
// Storage is freed (returned to its device's pool) when the last reference
// goes, so a queued op holding its inputs keeps them alive after dispose().
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace sotr {

enum class DeviceType : int { CPU = 0, CUDA = 1 };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const {
    return type == DeviceType::CPU ? std::string("cpu") : "cuda:" + std::to_string(index);
  }
};

class Backend;

// One allocation on one device. The owning backend frees it.
struct Storage {
  Storage(Backend* backend, Device device, void* ptr, size_t bytes)
      : backend(backend), device(device), ptr(ptr), bytes(bytes) {}
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  Backend* backend;
  Device device;
  void* ptr;
  size_t bytes;
  // Set (never cleared) by the weight cache when an entry is keyed by this
  // storage: the destructor then drops those entries, on whatever thread the
  // last reference goes (runtime/weight_cache.h). Other storages pay one load.
  std::atomic<bool> keysWeightCache{false};
};

using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::string shapeStr(const Shape& s);

// The bytes a tensor of this shape holds, checked: a typed error for a negative dimension, or for more than 2^63
// bytes (a shape from bad attributes must fail, not wrap to a small size that is then written past).
int64_t checkedBytes(DType dtype, const Shape& s);

// Contiguous (row-major) tensor view of a storage.
struct Tensor {
  DType dtype = DType::F32;
  Shape shape;
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes

  bool defined() const { return storage != nullptr; }
  Device device() const { return storage ? storage->device : Device{}; }
  int64_t numel() const { return sotr::numel(shape); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtypeSize(dtype); }
  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  int64_t size(int64_t i) const { return shape[i < 0 ? i + dim() : i]; }
  void* raw() const { return static_cast<char*>(storage->ptr) + offset; }
  template <typename T>
  T* data() const { return static_cast<T*>(raw()); }
};

}  // namespace sotr
