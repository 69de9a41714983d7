// NativeTensor: the JS handle of a native tensor, plus host<->device copies.
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "addon.h"
#include "runtime/op_profiler.h"
#include "runtime/inline_runs.h"
#include "runtime/runtime.h"
#include "runtime/thread_pool.h"

namespace sotr_js {

namespace {

// Host reads up to this size may run inline (see queueJob): ~2-5 us of copying.
constexpr size_t kInlineReadBytes = 64 << 10;

class NativeTensor : public Napi::ObjectWrap<NativeTensor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeTensor",
                       {
                           InstanceAccessor<&NativeTensor::DType>("dtype"),
                           InstanceAccessor<&NativeTensor::ShapeGetter>("shape"),
                           InstanceAccessor<&NativeTensor::DeviceGetter>("device"),
                           InstanceAccessor<&NativeTensor::Released>("released"),
                           InstanceAccessor<&NativeTensor::Bytes>("byteLength"),
                           InstanceMethod<&NativeTensor::Release>("release"),
                       });
  }

  explicit NativeTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTensor>(info) {}

  sotr::Tensor tensor;
  bool released = false;

 private:
  Napi::Value DType(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), sotr::dtypeName(tensor.dtype));
  }
  Napi::Value ShapeGetter(const Napi::CallbackInfo& info) {
    auto arr = Napi::Array::New(info.Env(), tensor.shape.size());
    for (size_t i = 0; i < tensor.shape.size(); ++i)
      arr.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(tensor.shape[i])));
    return arr;
  }
  Napi::Value DeviceGetter(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), tensor.device().str());
  }
  Napi::Value Released(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), released); }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(tensor.bytes()));
  }
  // Drops this handle's reference; queued work that reads the storage keeps it.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    tensor = sotr::Tensor{};
    released = true;
    return info.Env().Undefined();
  }
};

sotr::Shape parseShape(Napi::Env env, const Napi::Value& v) {
  if (!v.IsArray()) throw makeJsError(env, sotr::ErrorKind::InvalidArgument, "shape must be an array of integers");
  auto arr = v.As<Napi::Array>();
  sotr::Shape s;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value d = arr.Get(i);
    if (!d.IsNumber()) throw makeJsError(env, sotr::ErrorKind::InvalidArgument, "shape must be an array of integers");
    double x = d.As<Napi::Number>().DoubleValue();
    if (!(x >= 0) || x != static_cast<double>(static_cast<int64_t>(x)) || x > 9e15)
      throw makeJsError(env, sotr::ErrorKind::Range, "shape entries must be non-negative integers");
    s.push_back(static_cast<int64_t>(x));
  }
  return s;
}

sotr::DType parseDTypeArg(Napi::Env env, const Napi::Value& v) {
  sotr::DType t;
  if (!v.IsString() || !sotr::parseDType(v.As<Napi::String>().Utf8Value(), &t))
    throw makeJsError(env, sotr::ErrorKind::DType, "unknown dtype");
  return t;
}

// A typed array's bytes (its view of the ArrayBuffer).
std::pair<const uint8_t*, size_t> typedArrayBytes(const Napi::TypedArray& ta) {
  return {static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength()};
}

// fromHost(bytes: Uint8Array, dtype, shape, device) -> NativeTensor.
// CPU: copied now. CUDA: the bytes are copied to a staging buffer now (the
// caller may reuse its array) and uploaded in queue order.
Napi::Value FromHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  if (info.Length() < 4 || !info[0].IsTypedArray())
    throw makeJsError(env, sotr::ErrorKind::InvalidArgument, "fromHost(bytes, dtype, shape, device)");
  const auto [src, nbytes] = typedArrayBytes(info[0].As<Napi::TypedArray>());
  sotr::DType dtype = parseDTypeArg(env, info[1]);
  sotr::Shape shape = parseShape(env, info[2]);
  sotr::Device dev = deviceArg(info, 3);
  if (static_cast<size_t>(sotr::checkedBytes(dtype, shape)) != nbytes)
    sotr::fail(sotr::ErrorKind::Shape, "Tensor.from: " + std::to_string(nbytes / sotr::dtypeSize(dtype)) +
                                           " elements do not fill shape " + sotr::shapeStr(shape));
  auto& ctx = sotr::Runtime::get().context(dev);
  ctx.checkAlive();
  sotr::Tensor t = sotr::allocTensor(*ctx.backend, dtype, shape);
  if (dev.type == sotr::DeviceType::CPU) {
    if (nbytes) std::memcpy(t.raw(), src, nbytes);
  } else {
    auto staging = std::make_shared<std::vector<uint8_t>>(src, src + nbytes);
    sotr::Tensor dst = t;
    sotr::DeviceContext* c = &ctx;
    ctx.queue->submit([c, dst, staging] {
      try {
        if (!staging->empty()) c->backend->copyFromHost(dst.raw(), staging->data(), staging->size());
      } catch (const std::exception& e) {
        c->markLost(e.what());
      }
    });
  }
  return wrapTensor(env, std::move(t));
  SOTR_JS_CATCH(env)
}

// fromHostParts' hold on its parts (JavaScript memory read by a device thread) from the call until the copy has
// ended: strong references, so the garbage collector leaves them, and a cleanup hook of the call's own, so the
// environment's teardown (a worker terminated) waits for a copy under way and stops one not yet begun. The hook is
// added at the call, after whatever made the parts: sharp, whose environment teardown frees the pixel buffers it
// returned, registered its hook earlier, and hooks run last-added first. A hook added once at this addon's load ran
// after sharp's: the copy then read freed pixels (a segfault in memcpy about once in 25 runs of the worker-teardown
// test).
struct PartsBorrow {
  std::mutex mu;
  std::condition_variable idle;
  bool tornDown = false, copying = false;
  std::vector<napi_ref> refs;
  std::shared_ptr<PartsBorrow>* hookArg = nullptr;  // owned by the hook until end() or the hook removes it
  std::shared_ptr<AddonData> addon;

  static std::shared_ptr<PartsBorrow> start(Napi::Env env, Napi::Array parts) {
    auto b = std::make_shared<PartsBorrow>();
    b->addon = addonPtr(env);
    for (uint32_t i = 0; i < parts.Length(); ++i) {
      napi_ref r = nullptr;
      NAPI_THROW_IF_FAILED(env, napi_create_reference(env, parts.Get(i), 1, &r), b);
      b->refs.push_back(r);
    }
    b->hookArg = new std::shared_ptr<PartsBorrow>(b);
    if (napi_add_env_cleanup_hook(env, &PartsBorrow::teardown, b->hookArg) != napi_ok) {
      delete b->hookArg;
      b->hookArg = nullptr;
    }
    return b;
  }
  // The environment is being torn down (JavaScript thread): no copy starts now; one under way finishes first. The
  // references go with the environment. The environment stops taking completions first, as the addon's own hook
  // (run later) would: the copy's completion is then deleted with its tensor instead of queued to a closing
  // environment, where it could stay.
  static void teardown(void* arg) {
    auto* self = static_cast<std::shared_ptr<PartsBorrow>*>(arg);
    {
      PartsBorrow& b = **self;
      {
        std::lock_guard<std::mutex> lk(b.addon->mu);
        b.addon->alive = false;
      }
      std::unique_lock<std::mutex> lk(b.mu);
      b.tornDown = true;
      b.idle.wait(lk, [&b] { return !b.copying; });
      b.hookArg = nullptr;  // deleted here: end() cannot run after the teardown
    }
    delete self;
  }
  // The copy is settled (JavaScript thread, environment alive): the hook and the references go (once: a second call
  // finds neither).
  void end(Napi::Env env) {
    if (hookArg) {
      napi_remove_env_cleanup_hook(env, &PartsBorrow::teardown, hookArg);
      delete hookArg;  // the caller holds another owner
      hookArg = nullptr;
    }
    for (napi_ref r : refs) napi_delete_reference(env, r);
    refs.clear();
  }
  // Marks the copy under way for its scope (device thread).
  struct Copying {
    PartsBorrow& b;
    explicit Copying(PartsBorrow& borrow) : b(borrow) {
      std::lock_guard<std::mutex> lk(b.mu);
      if (b.tornDown) sotr::fail(sotr::ErrorKind::Aborted, "fromHostParts: the environment is being torn down");
      b.copying = true;
    }
    ~Copying() {
      std::lock_guard<std::mutex> lk(b.mu);
      b.copying = false;
      b.idle.notify_all();
    }
  };
};

// fromHostParts(parts: TypedArray[], dtype, shape) -> Promise<NativeTensor> (CPU): a new tensor holding the parts'
// bytes one after another, copied on the CPU device's thread in queue order. The JavaScript thread copies nothing
// (100 masks of a 12-megapixel image are 150 MB: fromHost of their concatenation cost a JS buffer, its zeroing and two
// copies there). The parts must stay unchanged until the promise settles (ts/ops/mask_groups.ts); PartsBorrow keeps
// them alive.
Napi::Value FromHostParts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  if (info.Length() < 3 || !info[0].IsArray())
    throw makeJsError(env, sotr::ErrorKind::InvalidArgument, "fromHostParts(parts, dtype, shape)");
  auto arr = info[0].As<Napi::Array>();
  std::vector<std::pair<const uint8_t*, size_t>> parts;
  parts.reserve(arr.Length());
  size_t total = 0;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsTypedArray())
      throw makeJsError(env, sotr::ErrorKind::InvalidArgument, "fromHostParts: parts[" + std::to_string(i) + "] is not a typed array");
    parts.push_back(typedArrayBytes(v.As<Napi::TypedArray>()));
    total += parts.back().second;
  }
  sotr::DType dtype = parseDTypeArg(env, info[1]);
  sotr::Shape shape = parseShape(env, info[2]);
  const size_t want = static_cast<size_t>(sotr::checkedBytes(dtype, shape));
  if (want != total)
    sotr::fail(sotr::ErrorKind::Shape, "fromHostParts: the parts hold " + std::to_string(total) + " bytes, shape " +
                                           sotr::shapeStr(shape) + " needs " + std::to_string(want));
  auto& ctx = sotr::Runtime::get().context(sotr::Device{});
  ctx.checkAlive();
  sotr::Tensor t = sotr::allocTensor(*ctx.backend, dtype, shape);
  sotr::DeviceContext* c = &ctx;
  // copyNow (a worker_thread's call): the copy is made here, before returning, on the worker's own thread (it is
  // not the main thread's event loop that waits). Under Node 26 a worker's teardown could free the parts (sharp's pixels) before the borrow's hook
  // ran, whatever the hooks' order: a segfault in the device thread's memcpy in ~1 of 4 runs of the worker-teardown
  // test (0 of 8 under Node 24). A worker's environment cannot be torn down while its thread is in this call.
  if (info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value()) {
    auto* dst = static_cast<uint8_t*>(t.raw());
    for (const auto& [src, n] : parts) {
      if (n) std::memcpy(dst, src, n);
      dst += n;
    }
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Resolve(wrapTensor(env, t));
    return deferred.Promise();
  }
  auto borrow = PartsBorrow::start(env, arr);
  try {
    return queueJob(env, ctx, [c, t, parts = std::move(parts), borrow]() -> ToJs {
      try {
        c->checkAlive();
        PartsBorrow::Copying copying(*borrow);  // throws Aborted once the environment's teardown has begun
        // Pieces of at most 2 MiB on the CPU pool's threads (36 MB of pixels: ~4 ms on one thread).
        constexpr size_t kPiece = 2 << 20;
        struct Piece {
          uint8_t* dst;
          const uint8_t* src;
          size_t n;
        };
        std::vector<Piece> pieces;
        auto* dst = static_cast<uint8_t*>(t.raw());
        for (const auto& [src, n] : parts) {
          for (size_t o = 0; o < n; o += kPiece) pieces.push_back({dst + o, src + o, std::min(kPiece, n - o)});
          dst += n;
        }
        auto copy = [&](int64_t i) { std::memcpy(pieces[i].dst, pieces[i].src, pieces[i].n); };
        if (pieces.size() > 1) sotr::cpuPool().parallelTasks(static_cast<int64_t>(pieces.size()), copy);
        else if (pieces.size() == 1) copy(0);
      } catch (const sotr::Error& e) {
        // Settled on the JavaScript thread, where the borrow can end.
        return [borrow, kind = e.kind, msg = std::string(e.what())](Napi::Env e) -> Napi::Value {
          borrow->end(e);
          throw sotr::Error(kind, msg);
        };
      }
      return [t, borrow](Napi::Env e) -> Napi::Value {
        borrow->end(e);
        return wrapTensor(e, t);
      };
    });
  } catch (...) {
    borrow->end(env);
    throw;
  }
  SOTR_JS_CATCH(env)
}

// releaseHostBuffers(arrayBuffers): detaches each detachable ArrayBuffer, which
// frees its memory now instead of at some later garbage collection. For the
// checkpoint reader's own buffers once their contents are in tensors (an R50
// file is 240 MB the process would otherwise keep until V8 next collects).
// Returns the bytes released.
Napi::Value ReleaseHostBuffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  if (info.Length() < 1 || !info[0].IsArray())
    throw makeJsError(env, sotr::ErrorKind::InvalidArgument, "releaseHostBuffers(arrayBuffers)");
  auto arr = info[0].As<Napi::Array>();
  double released = 0;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsArrayBuffer()) continue;
    auto ab = v.As<Napi::ArrayBuffer>();
    bool detached = false;
    if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok || detached) continue;
    const size_t n = ab.ByteLength();
    if (napi_detach_arraybuffer(env, ab) == napi_ok) released += static_cast<double>(n);
    else {
      // Not detachable (e.g. a pooled or external buffer): leave it to the GC. Clear the pending exception, if any.
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);
      }
    }
  }
  return Napi::Number::New(env, released);
  SOTR_JS_CATCH(env)
}

// toHost(tensor) -> Promise<ArrayBuffer> (after all earlier work on its device).
Napi::Value ToHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  sotr::Tensor t = unwrapTensor(env, info[0], "tensor");
  auto& ctx = sotr::Runtime::get().context(t.device());
  ctx.checkAlive();
  sotr::DeviceContext* c = &ctx;
  // A small host read is a memcpy of a few microseconds: inline when idle.
  const bool mayInline = t.device().type == sotr::DeviceType::CPU && t.bytes() <= kInlineReadBytes &&
                         sotr::InlineRuns::get().budgetNs() > 0;
  const uint32_t envId = data(env).envId;
  // The caller's deferred scope (submitOp), if any: a failure of its ops before this read is reported here.
  const uint32_t scope = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  return queueJob(env, ctx, [c, t, envId, scope]() -> ToJs {
    c->checkAlive();
    c->takeDeferredError(scope);
    const size_t n = t.bytes();
    std::unique_ptr<uint8_t, decltype(&std::free)> buf(static_cast<uint8_t*>(std::malloc(n ? n : 1)), &std::free);
    if (!buf) throw sotr::hostOutOfMemory("reading a tensor", n);
    sotr::OpProfiler::Run prof;
    const bool profiling = sotr::OpProfiler::on();
    if (profiling) {
      prof.op = "tensor.data";
      prof.device = c->device;
      prof.env = envId;
      prof.shape = sotr::shapeSignature({t});
      prof.begin(c->backend->timer());
    }
    if (n) c->backend->copyToHost(buf.get(), t.raw(), n);
    if (profiling) {
      prof.end();
      prof.commit();
    }
    auto shared = std::make_shared<std::unique_ptr<uint8_t, decltype(&std::free)>>(std::move(buf));
    return [shared, n](Napi::Env e) -> Napi::Value {
      uint8_t* data = shared->get();
      napi_value ab;
      // Hand the buffer to JS without a copy where allowed (else copy), and
      // tell V8 about it so the GC runs often enough to free it.
      napi_status st = napi_create_external_arraybuffer(
          e, data, n,
          [](napi_env fenv, void* d, void* hint) {
            std::free(d);
            int64_t ignored;
            napi_adjust_external_memory(fenv, -static_cast<int64_t>(reinterpret_cast<uintptr_t>(hint)), &ignored);
          },
          reinterpret_cast<void*>(static_cast<uintptr_t>(n)), &ab);
      if (st == napi_ok) {
        shared->release();
        int64_t ignored;
        napi_adjust_external_memory(e, static_cast<int64_t>(n), &ignored);
        return Napi::Value(e, ab);
      }
      auto copy = Napi::ArrayBuffer::New(e, n);
      if (n) std::memcpy(copy.Data(), data, n);
      return copy;
    };
  }, mayInline);
  SOTR_JS_CATCH(env)
}

// copyTo(tensor, device) -> Promise<NativeTensor>
Napi::Value CopyTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  sotr::Tensor src = unwrapTensor(env, info[0], "tensor");
  sotr::Device dev = deviceArg(info, 1);
  auto& sctx = sotr::Runtime::get().context(src.device());
  auto& dctx = sotr::Runtime::get().context(dev);
  sctx.checkAlive();
  dctx.checkAlive();
  sotr::Tensor dst = sotr::allocTensor(*dctx.backend, src.dtype, src.shape);
  sotr::DeviceContext* s = &sctx;
  sotr::DeviceContext* d = &dctx;
  const uint32_t envId = data(env).envId;
  // The caller's deferred scope (submitOp), if any: a failure of its ops before this copy is reported here.
  const uint32_t scope = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
  return queueJob(env, sctx, [s, d, src, dst, envId, scope]() -> ToJs {
    s->takeDeferredError(scope);
    const size_t n = src.bytes();
    // Profiled on the CUDA side when there is one (its stream does the copy).
    sotr::OpProfiler::Run prof;
    const bool profiling = sotr::OpProfiler::on();
    if (profiling) {
      sotr::DeviceContext* timed = s->device.type == sotr::DeviceType::CPU ? d : s;
      prof.op = "tensor.to";
      prof.device = timed->device;
      prof.env = envId;
      prof.shape = sotr::shapeSignature({src}) + "->" + d->device.str();
      prof.begin(timed->backend->timer());
    }
    if (n) {
      if (s == d) {
        s->backend->copyWithin(dst.raw(), src.raw(), n);
      } else if (s->device.type == sotr::DeviceType::CPU) {
        d->backend->copyFromHost(dst.raw(), src.raw(), n);
      } else if (d->device.type == sotr::DeviceType::CPU) {
        s->backend->copyToHost(dst.raw(), src.raw(), n);
      } else {
        std::vector<uint8_t> staging(n);
        s->backend->copyToHost(staging.data(), src.raw(), n);
        d->backend->copyFromHost(dst.raw(), staging.data(), n);
      }
    }
    if (profiling) {
      prof.end();
      prof.commit();
    }
    return [dst](Napi::Env e) -> Napi::Value { return wrapTensor(e, dst); };
  });
  SOTR_JS_CATCH(env)
}

// view(tensor, shape, elementOffset) -> NativeTensor sharing the storage (reshape / narrow).
Napi::Value View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SOTR_JS_TRY
  sotr::Tensor t = unwrapTensor(env, info[0], "tensor");
  sotr::Shape shape = parseShape(env, info[1]);
  double off = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
  if (off < 0 || off != static_cast<double>(static_cast<int64_t>(off)))
    sotr::fail(sotr::ErrorKind::Range, "view: offset must be a non-negative integer");
  const int64_t n = sotr::numel(shape);
  if (static_cast<int64_t>(off) + n > t.numel())
    sotr::fail(sotr::ErrorKind::Shape, "view: " + std::to_string(static_cast<int64_t>(off)) + " + " + std::to_string(n) +
                                           " elements exceed the tensor's " + std::to_string(t.numel()) + " (shape " +
                                           sotr::shapeStr(t.shape) + ")");
  sotr::Tensor v = t;
  v.shape = shape;
  v.offset = t.offset + static_cast<size_t>(off) * sotr::dtypeSize(t.dtype);
  return wrapTensor(env, std::move(v));
  SOTR_JS_CATCH(env)
}

}  // namespace

Napi::Object wrapTensor(Napi::Env env, sotr::Tensor t) {
  Napi::Object obj = data(env).tensorCtor.New({});
  NativeTensor::Unwrap(obj)->tensor = std::move(t);
  return obj;
}

bool isTensor(Napi::Env env, const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(data(env).tensorCtor.Value());
}

sotr::Tensor unwrapTensor(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!isTensor(env, v)) sotr::fail(sotr::ErrorKind::InvalidArgument, what + " must be a Tensor");
  auto* nt = NativeTensor::Unwrap(v.As<Napi::Object>());
  if (nt->released) sotr::fail(sotr::ErrorKind::Disposed, what + " was used after dispose()");
  return nt->tensor;
}

void initTensor(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = NativeTensor::Define(env);
  data(env).tensorCtor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
  exports.Set("fromHost", Napi::Function::New(env, FromHost));
  exports.Set("fromHostParts", Napi::Function::New(env, FromHostParts));
  exports.Set("releaseHostBuffers", Napi::Function::New(env, ReleaseHostBuffers));
  exports.Set("toHost", Napi::Function::New(env, ToHost));
  exports.Set("copyTo", Napi::Function::New(env, CopyTo));
  exports.Set("view", Napi::Function::New(env, View));
}

}  // namespace sotr_js
