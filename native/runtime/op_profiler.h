// The per-op profiler: while a session is open, every op job (queued or run
// inline on the JS thread) records its op, device, input shapes and times.
//
// - CPU: the kernel call's wall time (steady clock), and the gap since the
//   previous recorded op on the CPU ended (the device sat idle meanwhile).
// - CUDA: a pair of timestamps (events from a small pool, DeviceTimer below)
//   recorded on the op's stream around its launches gives the device time; the
//   elapsed time from the previous op's end timestamp to this op's start one is
//   the gap the GPU sat idle. Timestamps are resolved lazily (when a session
//   stops, or when many are pending), never by synchronizing per op. The host
//   time spent in the job (launch overhead) is recorded too.
//
// Off (no session open), the cost is one relaxed atomic load per job
// (`OpProfiler::on()`). Thread-safe: sessions and records of every
// worker_thread go through one mutex; a session may see only its own
// environment's ops (envOnly) or the whole process's.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sotr {

// Device-side timestamps on a device's stream (CUDA events; cuda/cuda_backend.cu).
class DeviceTimer {
 public:
  virtual ~DeviceTimer() = default;
  // Records a timestamp after the work launched so far on the stream; never
  // blocks. -1 when no timestamp is free (the pool is exhausted).
  virtual int mark() = 0;
  // Milliseconds from timestamp `from` to `to`; waits for `to` to complete.
  // Negative when it cannot be measured.
  virtual double elapsedMs(int from, int to) = 0;
  virtual void release(int mark) = 0;
};

struct OpStat {
  std::string op;
  Device device;
  std::string shape;  // when grouped by shape
  uint64_t calls = 0, inlineCalls = 0;
  double totalMs = 0, maxMs = 0;  // time on the device (CPU: kernel wall time; CUDA: event time)
  double hostMs = 0, hostMaxMs = 0;  // time in the job on the host (CUDA: launch overhead)
  double idleBeforeMs = 0;  // device idle time just before this op (sum of measured gaps)
  uint64_t gaps = 0;        // calls with a measured gap
  bool deviceTimed = false;  // totalMs comes from device timestamps
};

struct DeviceTotals {
  Device device;
  uint64_t calls = 0;
  double busyMs = 0;  // sum of op times on the device
  double hostMs = 0;  // sum of host times in the jobs
  double idleMs = 0;  // sum of gaps between consecutive recorded ops
  uint64_t gaps = 0;
  bool deviceTimed = false;
};

struct OpProfileResult {
  double wallMs = 0;
  std::vector<OpStat> ops;  // by totalMs, descending
  std::vector<DeviceTotals> devices;
  uint64_t dropped = 0;  // records not kept (the record limit was reached)
};

struct OpSessionOptions {
  bool anyDevice = true;
  Device device;
  bool envOnly = false;  // only ops of the environment that opened the session
  uint32_t env = 0;
  bool byShape = false;  // one row per (op, device, input shapes)
};

class OpProfiler {
 public:
  static OpProfiler& get();
  // The one check on the hot path.
  static bool on() { return get().open_.load(std::memory_order_relaxed) > 0; }

  uint32_t start(const OpSessionOptions& o);
  // Closes a session and returns what it saw; throws Error(InvalidArgument)
  // for an unknown id.
  OpProfileResult stop(uint32_t id);
  // Closes every session an environment opened (its teardown).
  void stopEnv(uint32_t env);
  int openSessions() const { return open_.load(std::memory_order_relaxed); }

  // One op run. Fill op/device/env/shape, call begin() just before the kernel
  // launches or call, end() right after, then commit() (on success).
  struct Run {
    std::string op;
    Device device;
    uint32_t env = 0;
    bool inlineRun = false;
    std::string shape;
    DeviceTimer* timer = nullptr;
    int startMark = -1, endMark = -1;
    int64_t startNs = 0, endNs = 0;
    bool active = false;
    void begin(DeviceTimer* t);
    void end();
    void commit();
    ~Run();  // releases marks of a run not committed
  };

 private:
  struct Record {
    uint64_t seq;
    std::string op, shape;
    Device device;
    uint32_t env;
    bool inlineRun;
    int64_t startNs, endNs;
    DeviceTimer* timer;
    int startMark, endMark;
    bool resolved;
    double deviceMs, gapMs;  // < 0: unknown
  };
  struct Session {
    OpSessionOptions o;
    uint64_t startSeq;
    int64_t startNs;
    uint32_t creatorEnv;
  };
  struct DevState {
    int64_t lastEndNs = -1;  // host clock (devices without a timer)
    DeviceTimer* timer = nullptr;
    int lastEndMark = -1;
  };

  OpProfiler() = default;
  void commit(Run& r);
  void resolveLocked();   // resolves every pending device timestamp, in order
  void resetLocked();     // no session left: drop records and per-device state
  static int devKey(const Device& d) { return d.type == DeviceType::CPU ? -1 : d.index; }

  std::atomic<int> open_{0};
  std::mutex mu_;
  std::map<uint32_t, Session> sessions_;
  uint32_t nextId_ = 1;
  std::deque<Record> recs_;
  uint64_t nextSeq_ = 0;
  size_t firstPending_ = 0;  // index into recs_ of the first unresolved record
  size_t pending_ = 0;       // unresolved records
  uint64_t dropped_ = 0;
  std::map<int, DevState> devs_;
};

// Set while a job runs inline on the JS thread (bindings/addon.cc).
extern thread_local bool tlsInlineRun;

// Input shapes as a short signature: "1x3x64x64,64x3x3x3" ("-" for a missing input).
std::string shapeSignature(const std::vector<Tensor>& inputs);

}  // namespace sotr
