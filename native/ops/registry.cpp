#include "ops/registry.h"

#include <cmath>
#include <mutex>

namespace sotr {

namespace {
struct Registry {
  std::mutex mu;
  std::map<std::string, OpDef> ops;
  std::map<std::string, RunFn> pendingCuda;  // CUDA impls registered before their op
};
Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}
std::string where(const std::string& op, const std::string& k) { return op + ": option '" + k + "'"; }
}  // namespace

void registerOp(OpDef def) {
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  auto it = r.pendingCuda.find(def.name);
  if (it != r.pendingCuda.end()) {
    def.cuda = it->second;
    r.pendingCuda.erase(it);
  }
  r.ops[def.name] = std::move(def);
}

void registerCudaImpl(const std::string& name, RunFn fn) {
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  auto it = r.ops.find(name);
  if (it != r.ops.end()) it->second.cuda = std::move(fn);
  else r.pendingCuda[name] = std::move(fn);
}

const OpDef* findOp(const std::string& name) {
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  auto it = r.ops.find(name);
  return it == r.ops.end() ? nullptr : &it->second;
}

std::vector<std::string> opNames() {
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  std::vector<std::string> names;
  for (auto& kv : r.ops) names.push_back(kv.first);
  return names;
}

std::vector<TensorSpec> checkCall(const OpDef& def, const OpCall& call) {
  const int n = static_cast<int>(call.inputs.size());
  if (n < def.minInputs || n > def.maxInputs)
    fail(ErrorKind::InvalidArgument, def.name + ": expected " + std::to_string(def.minInputs) +
                                         (def.maxInputs != def.minInputs ? ".." + std::to_string(def.maxInputs) : "") +
                                         " inputs, received " + std::to_string(n));
  for (int i = 0; i < n; ++i) {
    const auto& t = call.inputs[i];
    if (i < 32 && (def.hostInputs >> i & 1u)) {
      if (t.defined() && t.device().type != DeviceType::CPU)
        fail(ErrorKind::DeviceMismatch, def.name + ": input " + std::to_string(i) + " is on " + t.device().str() +
                                            " but must be on the cpu (a host input on every device; move it with "
                                            "tensor.to('cpu'))");
      continue;
    }
    if (t.defined() && t.device() != call.device)
      fail(ErrorKind::DeviceMismatch, def.name + ": input " + std::to_string(i) + " is on " + t.device().str() +
                                          " but the op runs on " + call.device.str() +
                                          " (move it with tensor.to(device))");
  }
  if (call.device.type == DeviceType::CUDA && !def.cuda)
    fail(ErrorKind::NoKernel, def.name + ": no CUDA kernel in this build");
  return def.infer(call);
}

void Attrs::setNumber(const std::string& k, double v) {
  AttrValue a;
  a.kind = AttrValue::Kind::Number;
  a.number = v;
  values_[k] = a;
}
void Attrs::setNumbers(const std::string& k, std::vector<double> v) {
  AttrValue a;
  a.kind = AttrValue::Kind::Numbers;
  a.numbers = std::move(v);
  values_[k] = a;
}
void Attrs::setString(const std::string& k, std::string v) {
  AttrValue a;
  a.kind = AttrValue::Kind::String;
  a.string = std::move(v);
  values_[k] = a;
}
void Attrs::setBool(const std::string& k, bool v) {
  AttrValue a;
  a.kind = AttrValue::Kind::Bool;
  a.boolean = v;
  values_[k] = a;
}

double Attrs::number(const std::string& op, const std::string& k, double def) const {
  auto it = values_.find(k);
  if (it == values_.end()) return def;
  if (it->second.kind == AttrValue::Kind::Bool) return it->second.boolean ? 1 : 0;
  if (it->second.kind != AttrValue::Kind::Number) fail(ErrorKind::InvalidArgument, where(op, k) + " must be a number");
  if (!std::isfinite(it->second.number)) fail(ErrorKind::Range, where(op, k) + " must be finite");
  return it->second.number;
}

int64_t Attrs::integer(const std::string& op, const std::string& k, int64_t def) const {
  if (!has(k)) return def;
  double v = number(op, k, 0);
  if (v != std::floor(v) || std::fabs(v) > 9e15)
    fail(ErrorKind::Range, where(op, k) + " must be an integer, received " + std::to_string(v));
  return static_cast<int64_t>(v);
}

std::vector<double> Attrs::numbers(const std::string& op, const std::string& k, std::vector<double> def) const {
  auto it = values_.find(k);
  if (it == values_.end()) return def;
  if (it->second.kind == AttrValue::Kind::Number) return {it->second.number};
  if (it->second.kind != AttrValue::Kind::Numbers)
    fail(ErrorKind::InvalidArgument, where(op, k) + " must be a number or an array of numbers");
  for (double v : it->second.numbers)
    if (!std::isfinite(v)) fail(ErrorKind::Range, where(op, k) + " must hold finite numbers");
  return it->second.numbers;
}

std::vector<int64_t> Attrs::integers(const std::string& op, const std::string& k, std::vector<int64_t> def) const {
  if (!has(k)) return def;
  std::vector<int64_t> out;
  for (double v : numbers(op, k, {})) {
    if (v != std::floor(v)) fail(ErrorKind::Range, where(op, k) + " must hold integers");
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}

std::string Attrs::string(const std::string& op, const std::string& k, const std::string& def) const {
  auto it = values_.find(k);
  if (it == values_.end()) return def;
  if (it->second.kind != AttrValue::Kind::String) fail(ErrorKind::InvalidArgument, where(op, k) + " must be a string");
  return it->second.string;
}

bool Attrs::flag(const std::string& op, const std::string& k, bool def) const {
  auto it = values_.find(k);
  if (it == values_.end()) return def;
  if (it->second.kind != AttrValue::Kind::Bool) fail(ErrorKind::InvalidArgument, where(op, k) + " must be a boolean");
  return it->second.boolean;
}

void expectDefined(const std::string& op, const std::string& arg, const Tensor& t) {
  if (!t.defined()) fail(ErrorKind::InvalidArgument, op + ": " + arg + " is required");
}

void pairAttr(const std::string& op, const Attrs& attrs, const char* key, std::vector<int64_t> def, int64_t minValue,
              int64_t* h, int64_t* w) {
  std::vector<int64_t> v = attrs.integers(op, key, std::move(def));
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2)
    fail(ErrorKind::Range, op + ": " + key + " must be a number or [h, w], received " + std::to_string(v.size()) +
                               " numbers");
  for (int64_t x : v)
    if (x < minValue)
      fail(ErrorKind::Range, op + ": " + key + " must be >= " + std::to_string(minValue) + ", received " +
                                 std::to_string(x));
  *h = v[0];
  *w = v[1];
}

void expectDType(const std::string& op, const std::string& arg, const Tensor& t, DType want) {
  expectDefined(op, arg, t);
  if (t.dtype != want)
    fail(ErrorKind::DType, op + ": " + arg + " must be " + dtypeName(want) + ", received " + dtypeName(t.dtype));
}

void expectRank(const std::string& op, const std::string& arg, const Tensor& t, int64_t rank) {
  expectDefined(op, arg, t);
  if (t.dim() != rank)
    fail(ErrorKind::Shape, op + ": " + arg + " must have " + std::to_string(rank) + " dimensions, received shape " +
                               shapeStr(t.shape));
}

void expectShape(const std::string& op, const std::string& arg, const Tensor& t, const Shape& want) {
  expectDefined(op, arg, t);
  if (t.shape != want)
    fail(ErrorKind::Shape, op + ": " + arg + " must have shape " + shapeStr(want) + ", received " + shapeStr(t.shape));
}

}  // namespace sotr
