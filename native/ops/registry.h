// The op registry. Each op registers, from its own .cpp file, a shape/argument
// check (run on the caller's thread before anything is queued, so bad input
// fails fast with a typed error), a CPU implementation, and optionally a CUDA
// implementation (registered from cuda/<op>.cu). Bindings and the native op
// test both go through this table, so adding an op touches no glue code.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "gemm/gemm_args.h"

namespace sotr {

class Backend;
class ThreadPool;

// Attribute values converted from JS before queueing (numbers, number lists,
// strings, booleans).
struct AttrValue {
  enum class Kind { Number, Numbers, String, Bool } kind = Kind::Number;
  double number = 0;
  std::vector<double> numbers;
  std::string string;
  bool boolean = false;
};

class Attrs {
 public:
  void setNumber(const std::string& k, double v);
  void setNumbers(const std::string& k, std::vector<double> v);
  void setString(const std::string& k, std::string v);
  void setBool(const std::string& k, bool v);
  bool has(const std::string& k) const { return values_.count(k) > 0; }
  double number(const std::string& op, const std::string& k, double def) const;
  int64_t integer(const std::string& op, const std::string& k, int64_t def) const;
  std::vector<int64_t> integers(const std::string& op, const std::string& k, std::vector<int64_t> def) const;
  std::vector<double> numbers(const std::string& op, const std::string& k, std::vector<double> def) const;
  std::string string(const std::string& op, const std::string& k, const std::string& def) const;
  bool flag(const std::string& op, const std::string& k, bool def) const;

 private:
  std::map<std::string, AttrValue> values_;
};

struct OpCall {
  std::string op;
  std::vector<Tensor> inputs;  // undefined tensors for absent optional inputs
  Attrs attrs;
  Precision precision = Precision::FP32;
  Device device;
};

struct TensorSpec {
  DType dtype = DType::F32;
  Shape shape;
};

struct ExecContext {
  Backend* backend = nullptr;
  ThreadPool* pool = nullptr;  // CPU pool
  void* stream = nullptr;      // cudaStream_t on CUDA
};

using InferFn = std::function<std::vector<TensorSpec>(const OpCall&)>;
using RunFn = std::function<void(const OpCall&, std::vector<Tensor>& outputs, ExecContext&)>;

struct OpDef {
  std::string name;
  int minInputs = 0, maxInputs = 0;
  InferFn infer;
  RunFn cpu;
  RunFn cuda;  // empty when there is no CUDA kernel (or CUDA is not compiled)
  // Bit i set: input i is a host (CPU) tensor on every device, e.g. a small
  // index the op validates on the host before a launch (gatherRows). Every
  // other input must be on the op's device.
  uint32_t hostInputs = 0;
};

void registerOp(OpDef def);
void registerCudaImpl(const std::string& name, RunFn fn);
const OpDef* findOp(const std::string& name);
std::vector<std::string> opNames();

// Checks the call against the op's contract (input count, one device, the
// op's host inputs on the CPU) then runs infer(). Throws Error with a message
// naming the op.
std::vector<TensorSpec> checkCall(const OpDef& def, const OpCall& call);

// Validation helpers that name the op, the argument, expected and received.
void expectDType(const std::string& op, const std::string& arg, const Tensor& t, DType want);
void expectRank(const std::string& op, const std::string& arg, const Tensor& t, int64_t rank);
void expectShape(const std::string& op, const std::string& arg, const Tensor& t, const Shape& want);
void expectDefined(const std::string& op, const std::string& arg, const Tensor& t);
// A number or [h, w] attribute (stride, padding, kernel size...), each >= minValue.
void pairAttr(const std::string& op, const Attrs& attrs, const char* key, std::vector<int64_t> def, int64_t minValue,
              int64_t* h, int64_t* w);

// Static registration helpers: `static sotr::OpRegistrar reg({...});`
struct OpRegistrar {
  explicit OpRegistrar(OpDef def) { registerOp(std::move(def)); }
};
struct CudaRegistrar {
  CudaRegistrar(const std::string& name, RunFn fn) { registerCudaImpl(name, std::move(fn)); }
};

}  // namespace sotr
