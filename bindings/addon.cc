// Module entry: per-environment data, the completion channel, error mapping.
#include "addon.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#if defined(__GLIBC__) || defined(__APPLE__)
#include <execinfo.h>  // backtrace(): glibc and macOS, not musl (Alpine)
#define SOTR_HAVE_BACKTRACE 1
#endif

#include "runtime/inline_runs.h"
#include "runtime/op_profiler.h"

namespace sotr_js {

struct InstanceHandle {
  std::shared_ptr<AddonData> addon;
};

AddonData& data(Napi::Env env) { return *env.GetInstanceData<InstanceHandle>()->addon; }
std::shared_ptr<AddonData> addonPtr(Napi::Env env) { return env.GetInstanceData<InstanceHandle>()->addon; }

Napi::Error makeJsError(Napi::Env env, sotr::ErrorKind kind, const std::string& msg) {
  using K = sotr::ErrorKind;
  Napi::Error err;
  switch (kind) {
    case K::InvalidArgument:
    case K::DType:
    case K::DeviceMismatch: err = Napi::TypeError::New(env, msg); break;
    case K::Range:
    case K::Shape: err = Napi::RangeError::New(env, msg); break;
    default: err = Napi::Error::New(env, msg); break;
  }
  err.Set("code", Napi::String::New(env, sotr::errorCode(kind)));
  return err;
}

Napi::Error jsErrorOf(Napi::Env env, const sotr::Error& e) {
  Napi::Error err = makeJsError(env, e.kind, e.what());
  if (e.kind == sotr::ErrorKind::OutOfMemory) {
    err.Set("requestedBytes", Napi::Number::New(env, static_cast<double>(e.requestedBytes)));
    err.Set("freeBytes", Napi::Number::New(env, static_cast<double>(e.freeBytes)));
    err.Set("device", Napi::String::New(env, e.device));
  }
  return err;
}

void throwJs(Napi::Env env, const sotr::Error& e) { throw jsErrorOf(env, e); }

void captureError(Job& job) {
  job.failed = true;
  try {
    throw;
  } catch (const sotr::Error& e) {
    job.errKind = e.kind;
    job.errMessage = e.what();
    job.requestedBytes = e.requestedBytes;
    job.freeBytes = e.freeBytes;
    job.errDevice = e.device;
  } catch (const std::bad_alloc&) {
    const sotr::Error e = sotr::hostOutOfMemory("");
    job.errKind = e.kind;
    job.errMessage = e.what();
    job.requestedBytes = 0;
    job.freeBytes = 0;
    job.errDevice = e.device;
  } catch (const std::exception& e) {
    job.errKind = sotr::ErrorKind::Internal;
    job.errMessage = e.what();
  } catch (...) {
    job.errKind = sotr::ErrorKind::Internal;
    job.errMessage = "unknown native error";
  }
}

// Settles a finished job's promise (JS thread).
static void settle(Napi::Env env, Job& job) {
  if (job.failed) {
    Napi::Error err = makeJsError(env, job.errKind, job.errMessage);
    if (job.errKind == sotr::ErrorKind::OutOfMemory) {
      err.Set("requestedBytes", Napi::Number::New(env, static_cast<double>(job.requestedBytes)));
      err.Set("freeBytes", Napi::Number::New(env, static_cast<double>(job.freeBytes)));
      err.Set("device", Napi::String::New(env, job.errDevice));
    }
    job.deferred.Reject(err.Value());
    return;
  }
  try {
    job.deferred.Resolve(job.resolve ? job.resolve(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    job.deferred.Reject(e.Value());
  } catch (const sotr::Error& e) {
    job.deferred.Reject(jsErrorOf(env, e).Value());
  } catch (const std::bad_alloc&) {
    job.deferred.Reject(jsErrorOf(env, sotr::hostOutOfMemory("")).Value());
  } catch (const std::exception& e) {
    job.deferred.Reject(makeJsError(env, sotr::ErrorKind::Internal, e.what()).Value());
  }
}

static void onComplete(Napi::Env env, Job* job) {
  std::unique_ptr<Job> owned(job);
  auto& addon = data(env);
  if (--addon.pending == 0 && !addon.closing) addon.completions.Unref(env);
  settle(env, *job);
}

// Runs a job's work (device thread, or the JS thread for an inline run), then
// destroys it and what it captured.
static void runWork(sotr::DeviceContext* c, Job& job, std::function<ToJs()>& work) {
  try {
    job.resolve = work();
  } catch (const sotr::Error& e) {
    if (e.kind == sotr::ErrorKind::DeviceLost) c->markLost(e.what());
    captureError(job);
  } catch (...) {
    captureError(job);
  }
  work = nullptr;  // release captured tensors first
}

void complete(const std::shared_ptr<AddonData>& addon, Job* job) {
  std::lock_guard<std::mutex> lk(addon->mu);
  if (!addon->alive) {
    delete job;  // environment is gone: nobody is waiting
    return;
  }
  napi_status st = addon->completions.BlockingCall(job);
  if (st != napi_ok) delete job;  // environment is gone: nobody is waiting
}

void AddonData::completeJs(Napi::Env env, Napi::Function, void*, Job* j) {
  if (env == nullptr) {  // the environment was torn down with this completion queued: nobody is waiting
    delete j;            // (no N-API call: the job's deferred is a plain handle; its outputs are freed)
    return;
  }
  // Nothing may escape into the TSFN trampoline (it would terminate).
  try {
    onComplete(env, j);
  } catch (const Napi::Error& e) {
    if (getenv("SOTR_DEBUG")) fprintf(stderr, "sotr: completion failed: %s\n", e.Message().c_str());
  } catch (...) {
  }
}

Napi::Promise startJob(Napi::Env env, Job* job) {
  auto& addon = data(env);
  if (addon.pending++ == 0) addon.completions.Ref(env);
  return job->deferred.Promise();
}

Napi::Promise queueJob(Napi::Env env, sotr::DeviceContext& ctx, std::function<ToJs()> work, bool mayInline) {
  // The job (its promise) before any claim: making a promise throws in an
  // environment being torn down (a worker terminated mid-call), and a claim
  // taken before it was never released: the device's queue then waited on it
  // for good, every later call of every thread with it.
  std::unique_ptr<Job> job(new Job(env));
  // Inline: nothing of this environment is in flight (so no promise of an
  // earlier job can settle after this one) and the device is idle (claimed:
  // jobs other threads submit meanwhile wait, in order).
  if (mayInline && data(env).pending == 0 && ctx.queue->tryClaim()) {
    {
      struct Release {
        sotr::DeviceQueue* q;
        ~Release() {
          sotr::tlsInlineRun = false;
          q->release();
        }
      } release{ctx.queue.get()};  // on every way out, a throw included
      sotr::InlineRuns::get().countInline();
      sotr::tlsInlineRun = true;  // tells the op profiler this run is inline
      runWork(&ctx, *job, work);
    }
    settle(env, *job);
    return job->deferred.Promise();
  }
  auto promise = startJob(env, job.get());
  auto addon = addonPtr(env);
  sotr::DeviceContext* c = &ctx;
  auto fn = std::make_shared<std::function<ToJs()>>(std::move(work));
  // Owned by the queue's completion from here (complete() hands it on or deletes it).
  Job* j = job.release();
  // Completion is posted once the device is marked idle, so the next call
  // JS makes after this promise settles can find the queue claimable.
  ctx.queue->submit([c, j, fn] { runWork(c, *j, *fn); }, [addon, j] { complete(addon, j); });
  return promise;
}

namespace {
std::mutex g_cancel_mu;
std::map<uint32_t, std::shared_ptr<std::atomic<bool>>> g_cancel;
}  // namespace

std::shared_ptr<std::atomic<bool>> cancelFlag(uint32_t id) {
  std::lock_guard<std::mutex> lk(g_cancel_mu);
  auto& f = g_cancel[id];
  if (!f) f = std::make_shared<std::atomic<bool>>(false);
  return f;
}

void forgetCancelFlag(uint32_t id) {
  std::lock_guard<std::mutex> lk(g_cancel_mu);
  g_cancel.erase(id);
}

}  // namespace sotr_js

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (getenv("SOTR_DEBUG_TERMINATE"))
    std::set_terminate([] {
#ifdef SOTR_HAVE_BACKTRACE
      void* b[64];
      int n = backtrace(b, 64);
      backtrace_symbols_fd(b, n, 2);
#endif
      abort();
    });
  auto* handle = new sotr_js::InstanceHandle{std::make_shared<sotr_js::AddonData>()};
  env.SetInstanceData<sotr_js::InstanceHandle>(handle);  // deleted with the environment
  sotr_js::AddonData* addon = handle->addon.get();
  static std::atomic<uint32_t> nextEnvId{1};
  addon->envId = nextEnvId.fetch_add(1);
  addon->completions = decltype(addon->completions)::New(env, "sotr-completions", 0, 1);
  addon->completions.Unref(env);
  // On environment teardown (worker exit), stop accepting completions.
  napi_add_env_cleanup_hook(
      env,
      [](void* arg) {
        auto* a = static_cast<sotr_js::AddonData*>(arg);
        sotr::OpProfiler::get().stopEnv(a->envId);  // profiling stops with the environment that started it
        std::lock_guard<std::mutex> lk(a->mu);
        a->closing = true;
        a->alive = false;
        a->completions.Abort();
      },
      addon);
  sotr_js::initTensor(env, exports);
  sotr_js::initOps(env, exports);
  sotr_js::initInfo(env, exports);
  exports.Set("interfaceVersion", Napi::Number::New(env, sotr_js::kInterfaceVersion));
  return exports;
}

}  // namespace

NODE_API_MODULE(sotr, Init)
