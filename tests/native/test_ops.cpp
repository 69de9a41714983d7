// Usage: sotr_test_ops [--op NAME] [--backend cpu|cuda] [--json FILE] [--no-time] [--skip-timed] [--seed N]
//                      [--stack-kib N]
// --stack-kib N: the cases run on a thread with an N KiB stack, their parallel regions on a pool whose workers have
// N KiB stacks too (128: musl's default thread stack; tests/foundation/thread-stack-native.test.mjs). A kernel that
// needs more stack than that crashes (SIGSEGV) instead of failing a case.
// Exit: 0 all passed, 1 a case failed, 2 usage error.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "op_test.h"
#include "runtime/backend.h"
#include "runtime/native_thread.h"
#include "runtime/runtime.h"
#include "runtime/thread_pool.h"

namespace sotr_test {

namespace {
std::vector<OpCase>& cases() {
  static std::vector<OpCase>* c = new std::vector<OpCase>();
  return *c;
}
sotr::Backend& cpuBackend() { return *sotr::Runtime::get().context(sotr::Device{}).backend; }
}  // namespace

void registerCase(OpCase c) { cases().push_back(std::move(c)); }

sotr::Tensor cpuTensor(sotr::DType dt, const sotr::Shape& shape) { return sotr::allocTensor(cpuBackend(), dt, shape); }

sotr::Tensor randomTensor(Rng& rng, const sotr::Shape& shape, float lo, float hi) {
  sotr::Tensor t = cpuTensor(sotr::DType::F32, shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(lo, hi);
  return t;
}

double nmse(const float* out, const float* ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(out[i]) || std::isnan(ref[i])) return INFINITY;
    double d = static_cast<double>(out[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return den == 0 ? (num == 0 ? 0 : INFINITY) : num / den;
}

}  // namespace sotr_test

using namespace sotr;
using namespace sotr_test;

namespace {

ThreadPool* g_pool = nullptr;  // the pool the ops run on: cpuPool(), or one with small stacks (--stack-kib)

const char* precName(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::TF32: return "tf32";
    case Precision::BF16: return "bf16";
    case Precision::FP16: return "fp16";
  }
  return "?";
}

Tensor toDevice(DeviceContext& ctx, const Tensor& t) {
  if (!t.defined()) return t;
  Tensor d = allocTensor(*ctx.backend, t.dtype, t.shape);
  if (t.bytes()) ctx.backend->copyFromHost(d.raw(), t.raw(), t.bytes());
  return d;
}

Tensor toHost(DeviceContext& ctx, const Tensor& t) {
  Tensor h = cpuTensor(t.dtype, t.shape);
  if (t.bytes()) ctx.backend->copyToHost(h.raw(), t.raw(), t.bytes());
  return h;
}

// Runs one call on a device with poisoned outputs; returns host copies.
std::vector<Tensor> runOn(DeviceContext& ctx, const OpDef& def, const OpCall& hostCall, Precision prec,
                          double* ms, int reps) {
  OpCall call = hostCall;
  call.device = ctx.device;
  call.precision = prec;
  for (size_t i = 0; i < call.inputs.size(); ++i)
    if (!(i < 32 && (def.hostInputs >> i & 1u))) call.inputs[i] = toDevice(ctx, call.inputs[i]);  // host inputs stay
  auto specs = checkCall(def, call);
  std::vector<Tensor> outs;
  for (auto& s : specs) {
    Tensor t = allocTensor(*ctx.backend, s.dtype, s.shape);
    if (t.bytes()) ctx.backend->fillBytes(t.raw(), 0xFF, t.bytes());  // NaN for floats
    outs.push_back(t);
  }
  ExecContext ec;
  ec.backend = ctx.backend.get();
  ec.pool = g_pool;
  ec.stream = ctx.backend->stream();
  const RunFn& fn = ctx.device.type == DeviceType::CUDA ? def.cuda : def.cpu;
  fn(call, outs, ec);
  ctx.backend->synchronize();
  std::vector<Tensor> host;
  for (auto& t : outs) host.push_back(toHost(ctx, t));
  if (ms && reps > 0) {
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      fn(call, outs, ec);
      ctx.backend->synchronize();
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    *ms = times[times.size() / 2];
  }
  return host;
}

double compare(const std::vector<Tensor>& out, const std::vector<Tensor>& ref, bool exact, std::string* why) {
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const Tensor& a = out[i];
    const Tensor& b = ref[i];
    if (a.shape != b.shape || a.dtype != b.dtype) {
      *why = "output " + std::to_string(i) + " shape/dtype differs";
      return INFINITY;
    }
    if (a.dtype == DType::F32 && !exact) {
      worst = std::max(worst, nmse(a.data<float>(), b.data<float>(), a.numel()));
    } else if (a.bytes() && std::memcmp(a.raw(), b.raw(), a.bytes()) != 0) {
      *why = "output " + std::to_string(i) + " differs (exact comparison)";
      return INFINITY;
    }
  }
  return worst;
}

bool allWritten(const std::vector<Tensor>& outs) {
  for (auto& t : outs)
    if (t.dtype == DType::F32)
      for (int64_t i = 0; i < t.numel(); ++i)
        if (std::isnan(t.data<float>()[i])) return false;
  return true;
}

}  // namespace

static int testMain(int argc, char** argv, size_t stackKib) {
  std::string onlyOp, onlyBackend, jsonPath;
  bool timing = true;
  bool skipTimed = false;  // the benchmark-shape cases: minutes under an emulator (scripts/arm64-check.sh)
  uint64_t seed = 1234;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--op") onlyOp = next();
    else if (a == "--backend") onlyBackend = next();
    else if (a == "--json") jsonPath = next();
    else if (a == "--no-time") timing = false;
    else if (a == "--skip-timed") skipTimed = true;
    else if (a == "--seed") seed = std::stoull(next());
    else if (a == "--stack-kib") next();  // read by main() (stackKib)
    else if (a == "--list") {
      for (auto& c : cases()) std::printf("%s\n", c.name.c_str());
      return 0;
    } else {
      std::fprintf(stderr, "usage: %s [--op NAME] [--backend cpu|cuda] [--json FILE] [--no-time] [--skip-timed] [--seed N] [--stack-kib N] [--list]\n", argv[0]);
      return 2;
    }
  }

  CudaInfo ci = cudaInfo();
  std::unique_ptr<ThreadPool> smallStacks;
  if (stackKib) smallStacks = std::make_unique<ThreadPool>(cpuPool().size(), stackKib << 10);
  g_pool = smallStacks ? smallStacks.get() : &cpuPool();
  std::printf("sotr native op test: %zu cases, %zu ops registered, CPU threads %d\n", cases().size(), opNames().size(),
              g_pool->size());
  if (stackKib) std::printf("thread stacks: %zu KiB (the caller's and the pool's)\n", stackKib);
  std::printf("CUDA: %s%s\n", ci.available ? "available" : "not available: ",
              ci.available ? (" (" + ci.devices[0].name + ")").c_str() : ci.reason.c_str());
  const bool useCuda = ci.available && onlyBackend != "cpu";
  DeviceContext& cpu = Runtime::get().context(Device{});
  DeviceContext* gpu = useCuda ? &Runtime::get().context(Device{DeviceType::CUDA, 0}) : nullptr;

  int passed = 0, failed = 0, skipped = 0;
  std::string json = "[\n";
  bool firstJson = true;
  auto record = [&](const std::string& name, const std::string& backend, const char* prec, bool ok, double err,
                    double ms, const std::string& note) {
    std::printf("  %-4s %-44s %-5s %-5s nmse=%-10.3g %s%s\n", ok ? "ok" : "FAIL", name.c_str(), backend.c_str(), prec,
                err, ms > 0 ? (std::to_string(ms) + " ms").c_str() : "", note.empty() ? "" : ("  " + note).c_str());
    (ok ? passed : failed)++;
    char buf[1024];
    std::snprintf(buf, sizeof buf,
                  "%s  {\"case\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\", \"ok\": %s, \"nmse\": %.6g, "
                  "\"ms\": %.6g}",
                  firstJson ? "" : ",\n", name.c_str(), backend.c_str(), prec, ok ? "true" : "false",
                  std::isfinite(err) ? err : -1.0, ms);
    json += buf;
    firstJson = false;
  };

  for (size_t ci_ = 0; ci_ < cases().size(); ++ci_) {
    const OpCase& c = cases()[ci_];
    if (skipTimed && c.timed) {
      skipped++;
      continue;
    }
    Rng rng(seed + ci_ * 7919);
    OpCall call;
    try {
      call = c.make(rng);
    } catch (const std::exception& e) {
      record(c.name, "cpu", "fp32", false, INFINITY, 0, std::string("make failed: ") + e.what());
      continue;
    }
    if (!onlyOp.empty() && call.op != onlyOp) {
      skipped++;
      continue;
    }
    const OpDef* def = findOp(call.op);
    if (!def) {
      record(c.name, "cpu", "fp32", false, INFINITY, 0, "op not registered: " + call.op);
      continue;
    }
    std::vector<Tensor> ref;
    double cpuMs = 0;
    if (onlyBackend != "cuda" || gpu) {
      try {
        ref = runOn(cpu, *def, call, Precision::FP32, &cpuMs, timing && c.timed ? 3 : 0);
        double err = 0;
        std::string why;
        bool ok = allWritten(ref) || c.exact;
        if (!ok) why = "CPU output has unwritten (NaN) elements";
        if (ok && c.cpuReference) {
          err = c.cpuReference(call, ref);
          ok = err <= c.cpuBound;
          if (!ok) why = "CPU result differs from the reference";
        }
        if (onlyBackend != "cuda") record(c.name, "cpu", "fp32", ok, err, cpuMs, why);
      } catch (const std::exception& e) {
        record(c.name, "cpu", "fp32", false, INFINITY, 0, std::string("threw: ") + e.what());
        continue;
      }
      // The CPU's bfloat16 GEMM path (AVX512-BF16; elsewhere it is float32 and
      // matches exactly) against its own float32 result, under the bf16 bound.
      if (onlyBackend != "cuda" && c.reducedPrecision && !c.exact) {
        double ms = 0;
        try {
          auto out = runOn(cpu, *def, call, Precision::BF16, &ms, timing && c.timed ? 3 : 0);
          std::string why;
          const double err = compare(out, ref, false, &why);
          const bool ok = err <= c.bounds.bf16;
          if (!ok && why.empty()) why = "nmse above bound " + std::to_string(c.bounds.bf16);
          record(c.name, "cpu", "bf16", ok, err, ms, why);
        } catch (const std::exception& e) {
          record(c.name, "cpu", "bf16", false, INFINITY, 0, std::string("threw: ") + e.what());
        }
      }
    }
    if (!gpu || c.cpuOnly) continue;
    if (!def->cuda) {
      record(c.name, "cuda", "fp32", false, INFINITY, 0, "no CUDA kernel registered");
      continue;
    }
    std::vector<Precision> precs{Precision::FP32};
    if (c.reducedPrecision) precs.insert(precs.end(), {Precision::TF32, Precision::BF16, Precision::FP16});
    for (Precision p : precs) {
      double ms = 0;
      try {
        auto out = runOn(*gpu, *def, call, p, &ms, timing && c.timed ? 5 : 0);
        std::string why;
        double err = compare(out, ref, c.exact, &why);
        double bound = p == Precision::FP32 ? c.bounds.fp32
                       : p == Precision::TF32 ? c.bounds.tf32
                       : p == Precision::BF16 ? c.bounds.bf16
                                              : c.bounds.fp16;
        bool ok = err <= bound;
        if (!ok && why.empty()) why = "nmse above bound " + std::to_string(bound);
        record(c.name, "cuda", precName(p), ok, err, ms, why);
      } catch (const std::exception& e) {
        record(c.name, "cuda", precName(p), false, INFINITY, 0, std::string("threw: ") + e.what());
      }
    }
  }
  json += "\n]\n";
  if (!jsonPath.empty()) std::ofstream(jsonPath) << json;
  std::printf("%d passed, %d failed\n", passed, failed);
  (void)skipped;
  return failed ? 1 : 0;
}

// With --stack-kib, everything above runs on a thread with that stack (the main thread's is the system's).
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--stack-kib") {
      char* end = nullptr;
      const unsigned long long kib = i + 1 < argc ? std::strtoull(argv[i + 1], &end, 10) : 0;
      if (!kib || *end) {
        std::fprintf(stderr, "--stack-kib needs a number of KiB\n");
        return 2;
      }
      int rc = 2;
      NativeThread([&] { rc = testMain(argc, argv, static_cast<size_t>(kib)); }, static_cast<size_t>(kib) << 10).join();
      return rc;
    }
  return testMain(argc, argv, 0);  // 0: the process's own threads and pool
}
