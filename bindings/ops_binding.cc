// runOp: converts JS arguments into a plain OpCall, checks it on the JS thread
// (typed errors throw synchronously), allocates outputs, then queues the work
// on the device's FIFO and resolves with the output tensors.
#include <chrono>

#include "addon.h"
#include "ops/registry.h"
#include "runtime/inline_runs.h"
#include "runtime/op_profiler.h"
#include "runtime/runtime.h"
#include "runtime/thread_pool.h"
#include "runtime/pool_trace.h"

namespace sotr_js {

namespace {

sotr::Precision parsePrecision(const std::string& op, const std::string& s) {
  if (s == "fp32") return sotr::Precision::FP32;
  if (s == "tf32") return sotr::Precision::TF32;
  if (s == "bf16") return sotr::Precision::BF16;
  if (s == "fp16") return sotr::Precision::FP16;
  sotr::fail(sotr::ErrorKind::Range, op + ": precision must be 'fp32', 'tf32', 'bf16' or 'fp16', received '" + s + "'");
}

// One attribute; also added to `sig` (the call's signature for inline runs).
void parseAttr(const std::string& op, std::string k, const Napi::Value& x, sotr::Attrs& attrs, sotr::Signature& sig) {
  sig.add(k);
  if (x.IsNumber()) {
    const double d = x.As<Napi::Number>().DoubleValue();
    sig.add(d);
    attrs.setNumber(k, d);
  } else if (x.IsBoolean()) {
    const bool b = x.As<Napi::Boolean>().Value();
    sig.add(static_cast<int64_t>(b));
    attrs.setBool(k, b);
  } else if (x.IsString()) {
    std::string str = x.As<Napi::String>().Utf8Value();
    sig.add(str);
    attrs.setString(k, std::move(str));
  } else if (x.IsArray() || x.IsTypedArray()) {
    std::vector<double> nums;
    auto arr = x.As<Napi::Object>();
    uint32_t n = arr.Get("length").As<Napi::Number>().Uint32Value();
    for (uint32_t j = 0; j < n; ++j) {
      Napi::Value e = arr.Get(j);
      if (!e.IsNumber()) sotr::fail(sotr::ErrorKind::InvalidArgument, op + ": option '" + k + "' must hold numbers");
      nums.push_back(e.As<Napi::Number>().DoubleValue());
      sig.add(nums.back());
    }
    attrs.setNumbers(k, std::move(nums));
  } else {
    sotr::fail(sotr::ErrorKind::InvalidArgument, op + ": option '" + k + "' has an unsupported type");
  }
}

// Attributes as an object, or as a flat [name, value, name, value, ...] array
// (what ts/ops/run.ts passes: enumerating an object's keys here costs ~1-3 us
// a call, the TS wrappers pass every option and most are undefined).
void parseAttrs(Napi::Env env, const std::string& op, const Napi::Value& v, sotr::Attrs& attrs, sotr::Signature& sig) {
  if (v.IsUndefined() || v.IsNull()) return;
  if (v.IsArray()) {
    auto arr = v.As<Napi::Array>();
    const uint32_t n = arr.Length();
    for (uint32_t i = 0; i + 1 < n; i += 2) {
      Napi::Value x = arr.Get(i + 1);
      if (x.IsUndefined()) continue;
      Napi::Value key = arr.Get(i);
      if (!key.IsString()) sotr::fail(sotr::ErrorKind::InvalidArgument, op + ": attribute names must be strings");
      parseAttr(op, key.As<Napi::String>().Utf8Value(), x, attrs, sig);
    }
    return;
  }
  if (!v.IsObject()) sotr::fail(sotr::ErrorKind::InvalidArgument, op + ": options must be an object");
  auto obj = v.As<Napi::Object>();
  auto keys = obj.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const Napi::Value key = keys.Get(i);
    Napi::Value x = obj.Get(key);
    if (x.IsUndefined()) continue;
    parseAttr(op, key.ToString().Utf8Value(), x, attrs, sig);
  }
}

// Runs an op on its device's queue thread (or inline on the JS thread): the
// kernel, the op profiler's record and the inline-run timing. Throws sotr::Error.
void executeOp(sotr::DeviceContext* c, const sotr::OpDef* def, const sotr::OpCall& call, std::vector<sotr::Tensor>& outs,
               bool cpu, uint64_t signature, uint32_t envId) {
  c->checkAlive();
  sotr::pooltrace::OpScope trace(call.op, sotr::pooltrace::on() ? sotr::shapeSignature(call.inputs) : std::string());  // SOTR_POOL_TRACE only
  sotr::ExecContext ec;
  ec.backend = c->backend.get();
  ec.pool = &sotr::cpuPool();
  ec.stream = c->backend->stream();
  // The op profiler (runtime/op_profiler.h): one relaxed load when off.
  sotr::OpProfiler::Run prof;
  const bool profiling = sotr::OpProfiler::on();
  if (profiling) {
    prof.op = call.op;
    prof.device = c->device;
    prof.env = envId;
    prof.shape = sotr::shapeSignature(call.inputs);
  }
  try {
    if (!cpu) {
      // The queue thread of cuda:N is not otherwise made current for N.
      c->backend->makeCurrent();
      if (profiling) prof.begin(c->backend->timer());
      def->cuda(call, outs, ec);
      if (profiling) prof.end();
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      if (profiling) prof.begin(nullptr);
      def->cpu(call, outs, ec);
      if (profiling) prof.end();
      sotr::InlineRuns::get().record(
          signature, std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    }
    if (profiling) prof.commit();
  } catch (const sotr::Error& e) {
    // Host memory ran out: hand back the kernels' workspaces, sized for this call, so that what runs next (a
    // smaller image, the rest of the process) has that memory (runtime/scratch.h).
    if (cpu && e.kind == sotr::ErrorKind::OutOfMemory) sotr::releaseIdleWorkspaces();
    throw;
  } catch (const std::bad_alloc&) {
    if (cpu) sotr::releaseIdleWorkspaces();
    throw sotr::hostOutOfMemory(call.op);
  } catch (const std::invalid_argument& e) {
    sotr::fail(sotr::ErrorKind::InvalidArgument, call.op + ": " + e.what());
  } catch (const std::exception& e) {
    // A CUDA failure may be sticky: synchronize marks the device lost if so.
    if (c->device.type == sotr::DeviceType::CUDA) c->backend->synchronize();
    throw;
  }
}

// runOp(name, inputs: (NativeTensor|null)[], attrs (object or [name, value, ...]), device, precision, jobId)
// The checked call: op, inputs, attributes, device, precision (arguments 0-4
// of runOp and submitOp), its signature (runtime/inline_runs.h) and its outputs,
// allocated here on the caller's thread. Throws sotr::Error for bad calls.
struct PreparedCall {
  std::shared_ptr<sotr::OpCall> call;
  const sotr::OpDef* def = nullptr;
  sotr::DeviceContext* ctx = nullptr;
  std::vector<sotr::Tensor> outputs;
  uint64_t signature = 0;
};

PreparedCall prepareCall(Napi::Env env, const Napi::CallbackInfo& info) {
  sotr::OpCall call;
  call.op = info[0].As<Napi::String>().Utf8Value();
  const sotr::OpDef* def = sotr::findOp(call.op);
  if (!def) sotr::fail(sotr::ErrorKind::InvalidArgument, "unknown op '" + call.op + "'");
  auto arr = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (v.IsNull() || v.IsUndefined()) call.inputs.emplace_back();
    else call.inputs.push_back(unwrapTensor(env, v, call.op + ": input " + std::to_string(i)));
  }
  // The call's signature: op, input dtypes and shapes, attributes, precision.
  sotr::Signature sig;
  sig.add(call.op);
  for (const auto& t : call.inputs) {
    sig.add(t.defined() ? static_cast<int64_t>(t.dtype) : int64_t(-1));
    sig.add(static_cast<int64_t>(t.shape.size()));
    for (int64_t d : t.shape) sig.add(d);
  }
  parseAttrs(env, call.op, info[2], call.attrs, sig);
  call.device = deviceArg(info, 3);
  call.precision = parsePrecision(call.op, info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "fp32");
  sig.add(static_cast<int64_t>(call.precision));

  PreparedCall p;
  p.ctx = &sotr::Runtime::get().context(call.device);
  p.ctx->checkAlive();
  std::vector<sotr::TensorSpec> specs = sotr::checkCall(*def, call);
  for (auto& s : specs) p.outputs.push_back(sotr::allocTensor(*p.ctx->backend, s.dtype, s.shape));
  p.def = def;
  p.signature = sig.h;
  p.call = std::make_shared<sotr::OpCall>(std::move(call));
  return p;
}

Napi::Value RunOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  if (info.Length() < 6 || !info[0].IsString() || !info[1].IsArray())
    sotr::fail(sotr::ErrorKind::InvalidArgument, "runOp(name, inputs, attrs, device, precision, jobId)");
  PreparedCall p = prepareCall(env, info);
  const uint32_t jobId = info[5].As<Napi::Number>().Uint32Value();
  auto& ctx = *p.ctx;
  const sotr::OpDef* def = p.def;
  const std::vector<sotr::Tensor> outputs = p.outputs;
  const auto shared = p.call;

  auto cancelled = jobId ? cancelFlag(jobId) : nullptr;
  sotr::DeviceContext* c = &ctx;
  // CPU calls whose last run with this signature was within the inline
  // budget run on this thread when the device is idle (runtime/inline_runs.h).
  const bool cpu = ctx.device.type == sotr::DeviceType::CPU;
  const bool mayInline = cpu && sotr::InlineRuns::get().eligible(p.signature);
  const uint64_t signature = p.signature;
  const uint32_t envId = data(env).envId;
  return queueJob(env, ctx, [c, def, shared, outputs, cancelled, jobId, cpu, signature, envId]() -> ToJs {
    // Forget the cancel flag however this ends.
    struct Forget {
      uint32_t id;
      ~Forget() {
        if (id) forgetCancelFlag(id);
      }
    } forget{jobId};
    if (cancelled && cancelled->load()) sotr::fail(sotr::ErrorKind::Aborted, shared->op + " was aborted");
    std::vector<sotr::Tensor> outs = outputs;
    executeOp(c, def, *shared, outs, cpu, signature, envId);
    return [outs](Napi::Env e) -> Napi::Value {
      auto arr = Napi::Array::New(e, outs.size());
      for (size_t i = 0; i < outs.size(); ++i) arr.Set(static_cast<uint32_t>(i), wrapTensor(e, outs[i]));
      return arr;
    };
  }, mayInline);
  SOTR_JS_CATCH(env)
}

// submitOp(name, inputs, attrs, device, precision, scope) -> outputs (experimental,
// SOTR_DEFERRED_OPS): checks the call and allocates its outputs here, queues
// the work and returns the output tensors at once, with no completion sent
// back to JavaScript (no event-loop round trip per op). A failure is kept on
// the device for the scope (DeviceContext::recordDeferredError), the scope's
// later ops are skipped, and the scope's next host read from the device or
// takeDeferredError() reports it.
Napi::Value SubmitOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  if (info.Length() < 6 || !info[0].IsString() || !info[1].IsArray() || !info[5].IsNumber())
    sotr::fail(sotr::ErrorKind::InvalidArgument, "submitOp(name, inputs, attrs, device, precision, scope)");
  const uint32_t scope = info[5].As<Napi::Number>().Uint32Value();
  if (!scope) sotr::fail(sotr::ErrorKind::InvalidArgument, "submitOp: scope must be a nonzero id");
  PreparedCall p = prepareCall(env, info);
  sotr::DeviceContext* c = p.ctx;
  const bool cpu = c->device.type == sotr::DeviceType::CPU;
  const uint32_t envId = data(env).envId;
  c->queue->submit([c, def = p.def, call = p.call, outputs = p.outputs, cpu, signature = p.signature, envId, scope]() {
    if (c->hasDeferredError(scope)) return;  // an earlier op of the scope failed: its outputs are garbage, skip
    std::vector<sotr::Tensor> outs = outputs;
    try {
      executeOp(c, def, *call, outs, cpu, signature, envId);
    } catch (const sotr::Error& e) {
      c->recordDeferredError(scope, e);
    } catch (const std::exception& e) {
      c->recordDeferredError(scope, sotr::Error(sotr::ErrorKind::Internal, call->op + ": " + e.what()));
    }
  });
  auto arr = Napi::Array::New(env, p.outputs.size());
  for (size_t i = 0; i < p.outputs.size(); ++i) arr.Set(static_cast<uint32_t>(i), wrapTensor(env, p.outputs[i]));
  return arr;
  SOTR_JS_CATCH(env)
}

// queueFence(device) -> Promise<void>: settles once the device's queue has run
// every job submitted before it. No device synchronisation: a GPU may still be
// running the kernels those jobs launched. Deferred scopes await fences to bound
// how far JavaScript runs ahead of the queue (ts/ops/run.ts): each submitted op's
// outputs are allocated at once and held by its job until the job has run.
Napi::Value QueueFence(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  auto& ctx = contextArg(info, 0);
  return queueJob(env, ctx, []() -> ToJs { return nullptr; });
  SOTR_JS_CATCH(env)
}

// queueProgress(device) -> [submitted, completed]: the device queue's counts of
// jobs submitted and run (runtime/device_queue.h). A deferred scope compares a
// fence's position with `completed` before waiting for the fence's promise, so
// a queue that keeps up costs no event-loop turn.
Napi::Value QueueProgress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  auto& q = *contextArg(info, 0).queue;
  auto arr = Napi::Array::New(env, 2);
  arr.Set(0u, Napi::Number::New(env, static_cast<double>(q.submitted())));
  arr.Set(1u, Napi::Number::New(env, static_cast<double>(q.completed())));
  return arr;
  SOTR_JS_CATCH(env)
}

// takeDeferredError(device, scope): throws the scope's first failure of ops
// submitted with submitOp on that device (and clears it); undefined when none.
Napi::Value TakeDeferredError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    sotr::fail(sotr::ErrorKind::InvalidArgument, "takeDeferredError(device, scope)");
  contextArg(info, 0).takeDeferredError(info[1].As<Napi::Number>().Uint32Value());
  return env.Undefined();
  SOTR_JS_CATCH(env)
}

Napi::Value CancelJob(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  cancelFlag(id)->store(true);
  return info.Env().Undefined();
}

Napi::Value ForgetJob(const Napi::CallbackInfo& info) {
  forgetCancelFlag(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

Napi::Value ListOps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto names = sotr::opNames();
  auto out = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    auto o = Napi::Object::New(env);
    o.Set("name", names[i]);
    o.Set("cuda", Napi::Boolean::New(env, static_cast<bool>(sotr::findOp(names[i])->cuda)));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

}  // namespace

void initOps(Napi::Env env, Napi::Object exports) {
  exports.Set("runOp", Napi::Function::New(env, RunOp));
  exports.Set("submitOp", Napi::Function::New(env, SubmitOp));
  exports.Set("takeDeferredError", Napi::Function::New(env, TakeDeferredError));
  exports.Set("queueFence", Napi::Function::New(env, QueueFence));
  exports.Set("queueProgress", Napi::Function::New(env, QueueProgress));
  exports.Set("cancelJob", Napi::Function::New(env, CancelJob));
  exports.Set("forgetJob", Napi::Function::New(env, ForgetJob));
  exports.Set("listOps", Napi::Function::New(env, ListOps));
}

}  // namespace sotr_js
