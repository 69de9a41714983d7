// A thread whose stack size we set, for the threads that run CPU kernels (the pool's workers, the device queues').
// std::thread takes the C library's default stack: RLIMIT_STACK on glibc (8 MiB on most systems), but 128 KiB on
// musl (Alpine; more only when the executable's PT_GNU_STACK asks, and a dlopen'ed addon cannot ask) and 512 KiB
// for a macOS secondary thread. The kernels need far less than 128 KiB (about 33 KiB measured, under the AVX-512
// GEMM's 18 KiB frame; tests/native/test_ops.cpp --stack-kib 128 runs the op cases on 128 KiB threads), but code we
// do not write runs there too (the C++ runtime's unwinder, the CUDA runtime on a device queue): so no thread of ours
// gets less than 2 MiB, whatever the libc (libuv gives its workers the same on musl, for the same reason).
#pragma once
#include <pthread.h>

#include <cstddef>
#include <functional>

namespace sotr {

// The least stack a thread gets with stackBytes 0: the C library's default when it is larger (glibc's, usually).
constexpr size_t kMinThreadStackBytes = size_t{2} << 20;

class NativeThread {
 public:
  NativeThread() = default;
  // Starts fn on a new thread with a stack of stackBytes (rounded up to a page, at least PTHREAD_STACK_MIN); 0: the
  // C library's default, at least kMinThreadStackBytes. Throws std::system_error when the system refuses the
  // thread, as std::thread does; fn must not throw (std::terminate, as with std::thread).
  explicit NativeThread(std::function<void()> fn, size_t stackBytes = 0);
  NativeThread(NativeThread&& o) noexcept : id_(o.id_), joinable_(o.joinable_) { o.joinable_ = false; }
  NativeThread& operator=(NativeThread&& o) noexcept;
  NativeThread(const NativeThread&) = delete;
  NativeThread& operator=(const NativeThread&) = delete;
  ~NativeThread();  // std::terminate if still joinable, as std::thread

  bool joinable() const { return joinable_; }
  void join();

  // The stack size a thread started with stackBytes gets.
  static size_t stackSizeFor(size_t stackBytes);

 private:
  pthread_t id_{};
  bool joinable_ = false;
};

}  // namespace sotr
