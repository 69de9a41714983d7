// backendInfo (never throws), memory statistics, threads, synchronization.
#include "addon.h"
#include "gemm/gemm_cpu.h"
#include "runtime/cpu_features.h"
#include "runtime/host_heap.h"
#include "runtime/runtime.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"
#include "runtime/inline_runs.h"
#include "runtime/op_profiler.h"
#include "runtime/weight_cache.h"

#include <cstdlib>

#include "sotr_build_info.h"  // SOTR_VERSION, SOTR_COMMIT (written at build time: scripts/build_info.cmake)
#ifndef SOTR_VERSION
#define SOTR_VERSION "0.0.0"
#endif
#ifndef SOTR_COMMIT
#define SOTR_COMMIT "unknown"
#endif
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif

namespace sotr_js {

namespace {

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  auto build = Napi::Object::New(env);
  build.Set("version", SOTR_VERSION);
  build.Set("commit", SOTR_COMMIT);
  build.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  auto variants = sotr::compiledSimdVariants();
  auto simd = Napi::Array::New(env, variants.size());
  for (size_t i = 0; i < variants.size(); ++i) simd.Set(static_cast<uint32_t>(i), sotr::simdLevelName(variants[i]));
  build.Set("simdVariants", simd);
  out.Set("build", build);

  auto cpu = Napi::Object::New(env);
  try {
    cpu.Set("threads", Napi::Number::New(env, sotr::cpuPool().size()));
    // Where the default count comes from: a container's CPU quota caps it below the cores it may run on.
    const sotr::ThreadDefault def = sotr::defaultThreads();
    cpu.Set("cores", Napi::Number::New(env, def.cores));
    if (def.quota.cpus > 0) {
      auto quota = Napi::Object::New(env);
      quota.Set("cpus", Napi::Number::New(env, def.quota.cpus));
      quota.Set("source", def.quota.source);
      cpu.Set("quota", quota);
    } else {
      cpu.Set("quota", env.Null());
    }
    cpu.Set("defaultThreads", Napi::Number::New(env, def.threads));
    cpu.Set("defaultThreadsFrom", def.fromEnv ? "SOTR_NUM_THREADS" : def.fromQuota ? "cpu quota" : "cores");
    // A container's memory limit, which the derived-weight cache's default budget follows.
    const sotr::MemoryLimit mem = sotr::readMemoryLimit();
    if (mem.bytes > 0) {
      auto m = Napi::Object::New(env);
      m.Set("bytes", Napi::Number::New(env, static_cast<double>(mem.bytes)));
      m.Set("source", mem.source);
      cpu.Set("memoryLimit", m);
    } else {
      cpu.Set("memoryLimit", env.Null());
    }
    auto budget = Napi::Object::New(env);
    budget.Set("bytes", Napi::Number::New(env, static_cast<double>(sotr::weightCache().limitBytes())));
    budget.Set("from", sotr::weightCache().limitFrom());
    cpu.Set("weightCacheBudget", budget);
    cpu.Set("simd", sotr::simdLevelName(sotr::activeSimdLevel()));
    cpu.Set("maxSimd", sotr::simdLevelName(sotr::maxSimdLevel()));
    // What precision 'bf16' computes in on the CPU: bfloat16 products where
    // the GEMM's AVX512-BF16 kernels can run, float32 otherwise.
    cpu.Set("bf16", sotr::cpuGemmPrecision(sotr::Precision::BF16) == sotr::Precision::BF16 ? "bfloat16" : "float32");
    const auto& f = sotr::cpuFeatures();
    auto feats = Napi::Array::New(env);
    uint32_t k = 0;
    auto add = [&](bool on, const char* name) {
      if (on) feats.Set(k++, name);
    };
    add(f.avx2, "avx2");
    add(f.fma, "fma");
    add(f.avx512f, "avx512f");
    add(f.avx512bw, "avx512bw");
    add(f.avx512vl, "avx512vl");
    add(f.avx512dq, "avx512dq");
    add(f.avx512vnni, "avx512vnni");
    add(f.avx512vpopcntdq, "avx512vpopcntdq");
    add(f.avx512bf16, "avx512bf16");
    add(f.neon, "neon");
    cpu.Set("features", feats);
  } catch (const std::exception& e) {
    cpu.Set("error", e.what());
  }
  out.Set("cpu", cpu);

  auto cuda = Napi::Object::New(env);
  try {
    sotr::CudaInfo ci = sotr::cudaInfo();
    cuda.Set("compiled", Napi::Boolean::New(env, ci.compiled));
    cuda.Set("available", Napi::Boolean::New(env, ci.available));
    if (!ci.available) cuda.Set("reason", ci.reason);
    cuda.Set("driverVersion", Napi::Number::New(env, ci.driverVersion));
    cuda.Set("runtimeVersion", Napi::Number::New(env, ci.runtimeVersion));
    auto archs = Napi::Array::New(env, ci.archs.size());
    for (size_t i = 0; i < ci.archs.size(); ++i) archs.Set(static_cast<uint32_t>(i), ci.archs[i]);
    cuda.Set("archs", archs);
    auto devs = Napi::Array::New(env, ci.devices.size());
    for (size_t i = 0; i < ci.devices.size(); ++i) {
      const auto& d = ci.devices[i];
      auto o = Napi::Object::New(env);
      o.Set("index", Napi::Number::New(env, d.index));
      o.Set("name", d.name);
      o.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
      o.Set("totalMemory", Napi::Number::New(env, static_cast<double>(d.totalMemory)));
      o.Set("multiprocessors", Napi::Number::New(env, d.multiprocessors));
      devs.Set(static_cast<uint32_t>(i), o);
    }
    cuda.Set("devices", devs);
  } catch (const std::exception& e) {
    cuda.Set("compiled", Napi::Boolean::New(env, false));
    cuda.Set("available", Napi::Boolean::New(env, false));
    cuda.Set("reason", std::string("CUDA probe failed: ") + e.what());
  }
  out.Set("cuda", cuda);
  return out;
}

Napi::Value MemoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  auto& ctx = contextArg(info, 0);
  auto s = ctx.backend->memoryStats();
  auto o = Napi::Object::New(env);
  o.Set("device", ctx.device.str());
  o.Set("liveBytes", Napi::Number::New(env, static_cast<double>(s.liveBytes)));
  o.Set("peakBytes", Napi::Number::New(env, static_cast<double>(s.peakBytes)));
  o.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(s.cachedBytes)));
  o.Set("allocCalls", Napi::Number::New(env, static_cast<double>(s.allocCalls)));
  // The CPU kernels' thread-local workspaces (runtime/scratch.h): outside the allocator, so not in liveBytes.
  const bool cpu = ctx.device.type == sotr::DeviceType::CPU;
  o.Set("workspaceBytes", Napi::Number::New(env, cpu ? static_cast<double>(sotr::workspaceTotals().bytes) : 0.0));
  return o;
  SOTR_JS_CATCH(env)
}

// resetPeakMemory(device): the allocator's peak becomes its live bytes now.
Napi::Value ResetPeakMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  auto& ctx = contextArg(info, 0);
  ctx.backend->resetPeak();
  return env.Undefined();
  SOTR_JS_CATCH(env)
}

// releaseCached(device) -> Promise<void>, ordered after queued work. The C heap's free pages go back to the system
// too (runtime/host_heap.h): whatever the device, decoded images and read-backs live there.
Napi::Value ReleaseCached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  auto& ctx = contextArg(info, 0);
  sotr::DeviceContext* c = &ctx;
  return queueJob(env, ctx, [c]() -> ToJs {
    c->backend->synchronize();
    c->backend->releaseCached();
    // The CPU kernels' workspaces too (pool workers' and this queue thread's; runtime/scratch.h).
    if (c->device.type == sotr::DeviceType::CPU) sotr::releaseIdleWorkspaces();
    sotr::trimHostHeap();
    return nullptr;
  });
  SOTR_JS_CATCH(env)
}

// trimHostHeap() -> Promise<{ supported, rssBefore, rssAfter, ms }>: glibc's malloc_trim, on the CPU's queue (off the
// JavaScript thread; after the CPU work queued so far, which would only refill the heap).
Napi::Value TrimHostHeap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  auto& ctx = sotr::Runtime::get().context(sotr::Device{sotr::DeviceType::CPU, 0});
  return queueJob(env, ctx, []() -> ToJs {
    const sotr::HostHeapTrim r = sotr::trimHostHeap();
    return [r](Napi::Env e) -> Napi::Value {
      auto o = Napi::Object::New(e);
      o.Set("supported", Napi::Boolean::New(e, r.supported));
      o.Set("rssBefore", Napi::Number::New(e, static_cast<double>(r.rssBefore)));
      o.Set("rssAfter", Napi::Number::New(e, static_cast<double>(r.rssAfter)));
      o.Set("ms", Napi::Number::New(e, r.ms));
      return o;
    };
  });
  SOTR_JS_CATCH(env)
}

// synchronize(device) -> Promise<void>: resolves when all queued work is done.
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  auto& ctx = contextArg(info, 0);
  sotr::DeviceContext* c = &ctx;
  return queueJob(env, ctx, [c]() -> ToJs {
    c->checkAlive();
    c->backend->synchronize();
    return nullptr;
  });
  SOTR_JS_CATCH(env)
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 0 || n > 1024) sotr::fail(sotr::ErrorKind::Range, "setNumThreads: n must be 0..1024");
  // Wait for CPU work in flight so no op is using the pool being replaced.
  sotr::Runtime::get().context(sotr::Device{}).queue->drain();
  sotr::setCpuThreads(n);
  return Napi::Number::New(env, sotr::cpuPool().size());
  SOTR_JS_CATCH(env)
}

Napi::Value SetSimdLevel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  std::string s = info[0].As<Napi::String>().Utf8Value();
  sotr::SimdLevel lvl;
  if (s == "auto") {
    sotr::resetActiveSimdLevel();
  } else {
    if (!sotr::parseSimdLevel(s.c_str(), &lvl))
      sotr::fail(sotr::ErrorKind::Range, "setSimdLevel: expected 'auto', 'scalar', 'avx2' or 'avx512'");
    sotr::Runtime::get().context(sotr::Device{}).queue->drain();
    sotr::setActiveSimdLevel(lvl);
  }
  return Napi::String::New(env, sotr::simdLevelName(sotr::activeSimdLevel()));
  SOTR_JS_CATCH(env)
}

// Entries, host bytes, hits and misses of the derived-weight cache.
Napi::Value WeightCacheInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  const sotr::WeightCacheStats st = sotr::weightCache().stats();
  auto o = Napi::Object::New(env);
  o.Set("entries", Napi::Number::New(env, static_cast<double>(st.entries)));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(st.bytes)));
  o.Set("limitBytes", Napi::Number::New(env, static_cast<double>(sotr::weightCache().limitBytes())));
  o.Set("limitFrom", sotr::weightCache().limitFrom());
  o.Set("hits", Napi::Number::New(env, static_cast<double>(st.hits)));
  o.Set("misses", Napi::Number::New(env, static_cast<double>(st.misses)));
  o.Set("evictions", Napi::Number::New(env, static_cast<double>(st.evictions)));
  o.Set("notKept", Napi::Number::New(env, static_cast<double>(st.notKept)));
  return o;
  SOTR_JS_CATCH(env)
}

Napi::Value ClearWeightCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  sotr::weightCache().clear();  // calls in flight keep their payloads (shared)
  return env.Undefined();
  SOTR_JS_CATCH(env)
}

// Inline runs of small CPU calls (runtime/inline_runs.h): the budget in
// microseconds and how many calls ran inline. Not public API: diagnostics and
// tests (which also set the budget; a negative value keeps it).
Napi::Value InlineRunInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  auto& r = sotr::InlineRuns::get();
  if (info.Length() > 0 && info[0].IsNumber()) {
    const double us = info[0].As<Napi::Number>().DoubleValue();
    if (us >= 0) r.setBudgetNs(static_cast<int64_t>(us * 1000));
  }
  auto o = Napi::Object::New(env);
  o.Set("budgetUs", Napi::Number::New(env, static_cast<double>(r.budgetNs()) / 1000));
  o.Set("inlineRuns", Napi::Number::New(env, static_cast<double>(r.inlineRuns())));
  return o;
  SOTR_JS_CATCH(env)
}

// opProfileStart(device: string | null, envOnly: boolean, byShape: boolean) -> session id.
Napi::Value OpProfileStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  sotr::OpSessionOptions o;
  if (info.Length() > 0 && info[0].IsString()) {
    o.anyDevice = false;
    o.device = deviceArg(info, 0);
  }
  o.envOnly = info.Length() > 1 && info[1].ToBoolean().Value();
  o.byShape = info.Length() > 2 && info[2].ToBoolean().Value();
  o.env = data(env).envId;
  return Napi::Number::New(env, sotr::OpProfiler::get().start(o));
  SOTR_JS_CATCH(env)
}

// opProfileStop(id) -> { wallMs, dropped, ops: [...], devices: [...] }. Waits for the
// device work of the recorded ops (CUDA timestamps) to finish.
Napi::Value OpProfileStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  if (info.Length() < 1 || !info[0].IsNumber()) sotr::fail(sotr::ErrorKind::InvalidArgument, "opProfileStop(id)");
  sotr::OpProfileResult r = sotr::OpProfiler::get().stop(info[0].As<Napi::Number>().Uint32Value());
  auto num = [&](double v) { return Napi::Number::New(env, v); };
  auto o = Napi::Object::New(env);
  o.Set("wallMs", num(r.wallMs));
  o.Set("dropped", num(static_cast<double>(r.dropped)));
  auto ops = Napi::Array::New(env, r.ops.size());
  for (size_t i = 0; i < r.ops.size(); ++i) {
    const auto& s = r.ops[i];
    auto x = Napi::Object::New(env);
    x.Set("op", s.op);
    x.Set("device", s.device.str());
    if (!s.shape.empty()) x.Set("shape", s.shape);
    x.Set("calls", num(static_cast<double>(s.calls)));
    x.Set("inlineCalls", num(static_cast<double>(s.inlineCalls)));
    x.Set("totalMs", num(s.totalMs));
    x.Set("maxMs", num(s.maxMs));
    x.Set("hostMs", num(s.hostMs));
    x.Set("hostMaxMs", num(s.hostMaxMs));
    x.Set("idleBeforeMs", num(s.idleBeforeMs));
    x.Set("gaps", num(static_cast<double>(s.gaps)));
    x.Set("deviceTimed", Napi::Boolean::New(env, s.deviceTimed));
    ops.Set(static_cast<uint32_t>(i), x);
  }
  o.Set("ops", ops);
  auto devs = Napi::Array::New(env, r.devices.size());
  for (size_t i = 0; i < r.devices.size(); ++i) {
    const auto& d = r.devices[i];
    auto x = Napi::Object::New(env);
    x.Set("device", d.device.str());
    x.Set("calls", num(static_cast<double>(d.calls)));
    x.Set("busyMs", num(d.busyMs));
    x.Set("hostMs", num(d.hostMs));
    x.Set("idleMs", num(d.idleMs));
    x.Set("gaps", num(static_cast<double>(d.gaps)));
    x.Set("deviceTimed", Napi::Boolean::New(env, d.deviceTimed));
    devs.Set(static_cast<uint32_t>(i), x);
  }
  o.Set("devices", devs);
  return o;
  SOTR_JS_CATCH(env)
}

// Sessions open in the process (diagnostics and tests).
Napi::Value OpProfileOpen(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), sotr::OpProfiler::get().openSessions());
}

// Ends the process now with `code` (std::_Exit: no atexit handlers, no joins). For the CLI, stopped by a signal
// mid-work: process.exit joins V8's worker threads, and one of them may be waiting for a garbage collection that the
// exiting main thread never runs, so the exit can hang for good (nodejs/node#54918). Everything the CLI has to keep
// is written and synced before it calls this.
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  std::_Exit(code);
}

}  // namespace

void initInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo));
  exports.Set("memoryInfo", Napi::Function::New(env, MemoryInfo));
  exports.Set("resetPeakMemory", Napi::Function::New(env, ResetPeakMemory));
  exports.Set("releaseCached", Napi::Function::New(env, ReleaseCached));
  exports.Set("trimHostHeap", Napi::Function::New(env, TrimHostHeap));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("setSimdLevel", Napi::Function::New(env, SetSimdLevel));
  exports.Set("weightCacheInfo", Napi::Function::New(env, WeightCacheInfo));
  exports.Set("clearWeightCache", Napi::Function::New(env, ClearWeightCache));
  exports.Set("_inlineRunInfo", Napi::Function::New(env, InlineRunInfo));
  exports.Set("opProfileStart", Napi::Function::New(env, OpProfileStart));
  exports.Set("opProfileStop", Napi::Function::New(env, OpProfileStop));
  exports.Set("_opProfileOpen", Napi::Function::New(env, OpProfileOpen));
  exports.Set("_exitNow", Napi::Function::New(env, ExitNow));
}

}  // namespace sotr_js
