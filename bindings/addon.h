// Node-API glue shared by the binding files. Nothing outside bindings/
// includes Node headers.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <map>
#include <new>
#include <memory>
#include <mutex>
#include <string>

#include "core/error.h"
#include "core/tensor.h"
#include "runtime/runtime.h"

namespace sotr_js {

// The interface between this addon and the JavaScript (ts/native.ts, NATIVE_INTERFACE): bump both when an op's
// inputs, outputs or attributes, or a binding function, change. The JavaScript refuses an addon built for another
// interface (a stale build/ or prebuild) with NativeLoadError instead of misreading its results.
// 2: selectCandidates returns the distinct cells (counts [2], rows, distinctCells).
// 3: rankCandidates' masks input is optional (the JavaScript leaves it absent).
// 4: maskRle (COCO RLE strings of bit-packed masks; predict's rle: true, the CLI, masksToRLE).
// 5: maskContours (OpenCV's findContours of bit-packed masks; masksToContours, the CLI's --contours).
// 6: fromHostParts (a CPU tensor from several buffers, copied off the JavaScript thread; masksToRLE/-Contours).
// 7: cropMasks / placeMasks (masks that keep their window), maskContours' windows attribute.
// 8: selectCandidates' classes attribute (predict's classes option; an older addon would ignore it).
// 9: queueFence, queueProgress (deferred scopes bound how far JavaScript runs ahead of the device's queue).
// 10: _exitNow (the CLI's exit on a signal, past Node's process.exit, which can hang: nodejs/node#54918).
// 11: trimHostHeap (glibc malloc_trim off the JavaScript thread; trimHostMemory and the idle trim).
constexpr int kInterfaceVersion = 11;

// Per-environment (main thread or worker_thread) state.
struct AddonData {
  Napi::FunctionReference tensorCtor;
  // Resolves promises from device threads. Typed, so that a completion still queued when the environment is torn
  // down (a worker terminated mid-op) reaches completeJs with a null env (Node empties the queue that way) and its
  // job, holding the op's outputs, is deleted there; the untyped form drops such items and leaked the outputs.
  static void completeJs(Napi::Env env, Napi::Function, void*, struct Job* job);
  Napi::TypedThreadSafeFunction<void, struct Job, &AddonData::completeJs> completions;
  int pending = 0;                       // jobs in flight (keeps the loop alive)
  bool closing = false;
  // Guards `completions` against use after the environment is torn down (a
  // worker's exit): device threads call it only while `alive`, under `mu`.
  std::mutex mu;
  bool alive = true;
  // Names this environment in op profiles (runtime/op_profiler.h).
  uint32_t envId = 0;
};

AddonData& data(Napi::Env env);
// Shared handle that device threads keep, so a worker's exit cannot free it under them.
std::shared_ptr<AddonData> addonPtr(Napi::Env env);

// Work done on a device thread, then converted to JS on the JS thread.
struct Job {
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  std::function<Napi::Value(Napi::Env)> resolve;  // set by the device thread on success
  bool failed = false;
  std::string errMessage;
  sotr::ErrorKind errKind = sotr::ErrorKind::Internal;
  uint64_t requestedBytes = 0, freeBytes = 0;
  std::string errDevice;
};

// Records an exception (sotr::Error or other) into a job.
void captureError(Job& job);
// Hands a finished job back to the JS thread (called from any thread).
void complete(const std::shared_ptr<AddonData>& addon, Job* job);
// Registers a job as in flight (JS thread). Returns its promise.
Napi::Promise startJob(Napi::Env env, Job* job);

// The JavaScript error of a native one (OutOfMemory: with requestedBytes, freeBytes and device).
Napi::Error jsErrorOf(Napi::Env env, const sotr::Error& e);
// Throws the JS error matching a sotr::Error (TypeError/RangeError/Error + code).
[[noreturn]] void throwJs(Napi::Env env, const sotr::Error& e);
Napi::Error makeJsError(Napi::Env env, sotr::ErrorKind kind, const std::string& msg);

// Runs `work` on the device's FIFO thread and settles a promise with what it
// returns (a converter run on the JS thread; empty resolves undefined) or
// with the error it throws. `work` (and everything it captured: inputs,
// outputs) is destroyed before JS hears of completion, so memory accounting
// is exact when the promise settles. A DeviceLost error marks the device lost.
// `mayInline` (the caller knows the work is a few microseconds): when no job
// of this environment is in flight and the device queue is idle, `work` runs
// right here on the JS thread, with the device claimed, and the promise is
// returned already settled; order, errors and memory behave as queued.
using ToJs = std::function<Napi::Value(Napi::Env)>;
Napi::Promise queueJob(Napi::Env env, sotr::DeviceContext& ctx, std::function<ToJs()> work, bool mayInline = false);

// Cancellation flags by job id (AbortSignal support).
std::shared_ptr<std::atomic<bool>> cancelFlag(uint32_t id);
void forgetCancelFlag(uint32_t id);

// Tensor wrapper.
// The device named by the string argument info[i] ('cpu', 'cuda:N'), parsed.
inline sotr::Device deviceArg(const Napi::CallbackInfo& info, size_t i) {
  return sotr::Runtime::parseDevice(info[i].As<Napi::String>().Utf8Value());
}
// Its context (created on first use).
inline sotr::DeviceContext& contextArg(const Napi::CallbackInfo& info, size_t i) {
  return sotr::Runtime::get().context(deviceArg(info, i));
}

Napi::Object wrapTensor(Napi::Env env, sotr::Tensor t);
// Returns the tensor held by a NativeTensor object; throws Disposed if released.
sotr::Tensor unwrapTensor(Napi::Env env, const Napi::Value& v, const std::string& what);
bool isTensor(Napi::Env env, const Napi::Value& v);

void initTensor(Napi::Env env, Napi::Object exports);
void initOps(Napi::Env env, Napi::Object exports);
void initInfo(Napi::Env env, Napi::Object exports);

}  // namespace sotr_js

// Wraps a binding body: converts C++ exceptions into JS exceptions.
#define SOTR_JS_TRY try {
#define SOTR_JS_CATCH(env)                                                      \
  }                                                                             \
  catch (const Napi::Error& e) {                                                \
    throw;                                                                      \
  }                                                                             \
  catch (const sotr::Error& e) {                                                \
    sotr_js::throwJs(env, e);                                                   \
  }                                                                             \
  catch (const std::bad_alloc&) {                                               \
    sotr_js::throwJs(env, sotr::hostOutOfMemory(""));                           \
  }                                                                             \
  catch (const std::exception& e) {                                             \
    throw sotr_js::makeJsError(env, sotr::ErrorKind::Internal, e.what());      \
  }
