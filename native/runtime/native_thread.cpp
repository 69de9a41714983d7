#include "runtime/native_thread.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <exception>
#include <memory>
#include <system_error>

namespace sotr {

namespace {
void* threadMain(void* arg) {
  std::unique_ptr<std::function<void()>> fn(static_cast<std::function<void()>*>(arg));
  try {
    (*fn)();
  } catch (...) {
    std::terminate();  // what std::thread does; an exception must not unwind through the C library's frames
  }
  return nullptr;
}

size_t pageSize() {
  const long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<size_t>(p) : 4096;
}
}  // namespace

size_t NativeThread::stackSizeFor(size_t stackBytes) {
  size_t bytes = stackBytes;
  if (bytes == 0) {
    pthread_attr_t attr;
    size_t def = 0;
    if (pthread_attr_init(&attr) == 0) {
      pthread_attr_getstacksize(&attr, &def);  // glibc: RLIMIT_STACK at start-up; musl: 128 KiB; macOS: 512 KiB
      pthread_attr_destroy(&attr);
    }
    bytes = std::max(def, kMinThreadStackBytes);
  }
  bytes = std::max(bytes, static_cast<size_t>(PTHREAD_STACK_MIN));  // a call on glibc >= 2.34, hence no constexpr
  const size_t page = pageSize();
  return (bytes + page - 1) / page * page;  // macOS refuses a size that is not a multiple of the page
}

NativeThread::NativeThread(std::function<void()> fn, size_t stackBytes) {
  auto arg = std::make_unique<std::function<void()>>(std::move(fn));
  const size_t stack = stackSizeFor(stackBytes);
  pthread_attr_t attr;
  int err = pthread_attr_init(&attr);
  if (err) throw std::system_error(err, std::generic_category(), "pthread_attr_init");
  err = pthread_attr_setstacksize(&attr, stack);
  if (!err) err = pthread_create(&id_, &attr, threadMain, arg.get());
  pthread_attr_destroy(&attr);
  if (err) throw std::system_error(err, std::generic_category(), "pthread_create");
  arg.release();  // the thread owns it now
  joinable_ = true;
}

NativeThread& NativeThread::operator=(NativeThread&& o) noexcept {
  if (joinable_) std::terminate();
  id_ = o.id_;
  joinable_ = o.joinable_;
  o.joinable_ = false;
  return *this;
}

NativeThread::~NativeThread() {
  if (joinable_) std::terminate();
}

void NativeThread::join() {
  if (!joinable_) throw std::system_error(std::make_error_code(std::errc::invalid_argument), "join");
  const int err = pthread_join(id_, nullptr);
  if (err) throw std::system_error(err, std::generic_category(), "pthread_join");
  joinable_ = false;
}

}  // namespace sotr
