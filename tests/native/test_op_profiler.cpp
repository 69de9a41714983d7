// The op profiler's device-timestamp path without a GPU: a fake DeviceTimer
// whose clock the test sets stands in for CUDA events, so resolution order,
// gaps, the lazy resolve when many are pending, pool exhaustion and the
// release of every timestamp are checked here. Prints "N checks, M failures";
// exits 1 on a failure. Run by tests/foundation/op-profile-native.test.mjs.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "runtime/op_profiler.h"

#include "check.h"

using namespace sotr;

// Timestamps are the test's clock at mark() time.
class FakeTimer final : public DeviceTimer {
 public:
  explicit FakeTimer(size_t capacity) : t_(capacity), used_(capacity, false) {}
  double now = 0;
  int outstanding = 0, maxOutstanding = 0, resolves = 0, badRelease = 0;
  int mark() override {
    for (size_t i = 0; i < used_.size(); ++i)
      if (!used_[i]) {
        used_[i] = true;
        t_[i] = now;
        outstanding++;
        if (outstanding > maxOutstanding) maxOutstanding = outstanding;
        return static_cast<int>(i);
      }
    return -1;
  }
  double elapsedMs(int a, int b) override {
    resolves++;
    if (a < 0 || b < 0 || !used_[a] || !used_[b]) return -1;
    return t_[b] - t_[a];
  }
  void release(int m) override {
    if (m < 0 || !used_[m]) {
      badRelease++;
      return;
    }
    used_[m] = false;
    outstanding--;
  }

 private:
  std::vector<double> t_;
  std::vector<bool> used_;
};

static const Device kCuda{DeviceType::CUDA, 0};
static const Device kCpu{DeviceType::CPU, 0};

// One device-timed op: starts at `start` (device clock), takes `ms`.
static bool runOp(FakeTimer& t, const char* op, double start, double ms, uint32_t env = 1, bool commit = true) {
  OpProfiler::Run r;
  r.op = op;
  r.device = kCuda;
  r.env = env;
  t.now = start;
  r.begin(&t);
  t.now = start + ms;
  r.end();
  if (commit) r.commit();
  return true;
}

static const OpStat* find(const OpProfileResult& p, const std::string& op) {
  for (auto& s : p.ops)
    if (s.op == op) return &s;
  return nullptr;
}

static bool near(double a, double b) { return std::fabs(a - b) < 1e-9; }

int main() {
  auto& prof = OpProfiler::get();
  CHECK(!OpProfiler::on(), "off at start");

  {  // Device times, gaps between consecutive ops, every timestamp released.
    FakeTimer t(64);
    OpSessionOptions o;
    const uint32_t id = prof.start(o);
    CHECK(OpProfiler::on(), "on with a session");
    runOp(t, "conv2d", 10.0, 1.0);   // ends 11
    runOp(t, "relu", 11.5, 2.0);     // gap 0.5, ends 13.5
    runOp(t, "conv2d", 13.75, 3.0);  // gap 0.25
    runOp(t, "relu", 20.0, 0.5, 1, /*commit=*/false);  // failed op: not recorded, marks released
    const OpProfileResult p = prof.stop(id);
    CHECK(!OpProfiler::on(), "off after the last stop");
    CHECK(p.ops.size() == 2, "%zu rows", p.ops.size());
    const OpStat* c = find(p, "conv2d");
    const OpStat* r = find(p, "relu");
    CHECK(c && r, "rows");
    if (c && r) {
      CHECK(c->calls == 2 && r->calls == 1, "calls %llu %llu", (unsigned long long)c->calls, (unsigned long long)r->calls);
      CHECK(near(c->totalMs, 4.0) && near(c->maxMs, 3.0), "conv2d %g %g", c->totalMs, c->maxMs);
      CHECK(near(r->totalMs, 2.0), "relu %g", r->totalMs);
      CHECK(c->deviceTimed && r->deviceTimed, "device timed");
      CHECK(near(c->idleBeforeMs, 0.25) && near(r->idleBeforeMs, 0.5), "idle before %g %g", c->idleBeforeMs, r->idleBeforeMs);
      CHECK(p.ops[0].op == "conv2d", "sorted by time");
    }
    CHECK(p.devices.size() == 1 && near(p.devices[0].busyMs, 6.0) && near(p.devices[0].idleMs, 0.75) && p.devices[0].gaps == 2,
          "device totals busy %g idle %g gaps %llu", p.devices[0].busyMs, p.devices[0].idleMs, (unsigned long long)p.devices[0].gaps);
    CHECK(t.outstanding == 0 && t.badRelease == 0, "released: outstanding %d, bad %d", t.outstanding, t.badRelease);
  }

  {  // Many ops: pending timestamps are resolved every 1024 records, so the pool stays small; totals exact.
    FakeTimer t(4096);
    const uint32_t id = prof.start(OpSessionOptions{});
    const int n = 5000;
    double clock = 0;
    for (int i = 0; i < n; ++i) {
      runOp(t, "add", clock + 0.001, 0.01);
      clock += 0.011;
    }
    const int resolvedBeforeStop = t.resolves;
    const OpProfileResult p = prof.stop(id);
    CHECK(resolvedBeforeStop > 0, "resolved lazily before stop (%d)", resolvedBeforeStop);
    CHECK(t.maxOutstanding <= 2 * 1024 + 3, "max outstanding %d", t.maxOutstanding);
    CHECK(p.ops.size() == 1 && p.ops[0].calls == static_cast<uint64_t>(n), "calls");
    CHECK(std::fabs(p.ops[0].totalMs - n * 0.01) < 1e-6, "total %g", p.ops[0].totalMs);
    CHECK(std::fabs(p.devices[0].idleMs - (n - 1) * 0.001) < 1e-6 && p.devices[0].gaps == static_cast<uint64_t>(n - 1), "idle %g gaps %llu",
          p.devices[0].idleMs, (unsigned long long)p.devices[0].gaps);
    CHECK(t.outstanding == 0 && t.badRelease == 0, "released: outstanding %d, bad %d", t.outstanding, t.badRelease);
  }

  {  // Pool exhausted: runs without timestamps fall back to host time; nothing leaks.
    FakeTimer t(5);
    const uint32_t id = prof.start(OpSessionOptions{});
    for (int i = 0; i < 6; ++i) runOp(t, "mm", i * 2.0, 1.0);
    const OpProfileResult p = prof.stop(id);
    CHECK(p.ops.size() == 1 && p.ops[0].calls == 6, "calls");
    CHECK(p.ops[0].deviceTimed, "some device-timed");
    CHECK(t.outstanding == 0 && t.badRelease == 0, "released: outstanding %d, bad %d", t.outstanding, t.badRelease);
  }

  {  // Overlapping sessions, environment and device filters, rows by shape; the CPU's host-clock gaps.
    FakeTimer t(64);
    OpSessionOptions all;
    const uint32_t a = prof.start(all);
    runOp(t, "x", 0, 1, /*env=*/1);
    OpSessionOptions mine;
    mine.envOnly = true;
    mine.env = 2;
    mine.byShape = true;
    const uint32_t b = prof.start(mine);
    runOp(t, "x", 2, 1, 1);
    runOp(t, "x", 4, 1, 2);
    OpSessionOptions cpuOnly;
    cpuOnly.anyDevice = false;
    cpuOnly.device = kCpu;
    const uint32_t c = prof.start(cpuOnly);
    for (int i = 0; i < 3; ++i) {
      OpProfiler::Run r;
      r.op = "cpuop";
      r.device = kCpu;
      r.env = 2;
      r.shape = i < 2 ? "2x3" : "4x5";
      r.begin(nullptr);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      r.end();
      r.commit();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const OpProfileResult pc = prof.stop(c);
    const OpProfileResult pb = prof.stop(b);
    const OpProfileResult pa = prof.stop(a);
    CHECK(pa.ops.size() == 2 && find(pa, "x") && find(pa, "x")->calls == 3 && find(pa, "cpuop")->calls == 3, "session a");
    CHECK(pb.ops.size() == 3 && find(pb, "x")->calls == 1, "session b: env 2 only, rows by shape (%zu)", pb.ops.size());
    CHECK(pc.ops.size() == 1 && pc.ops[0].calls == 3 && !pc.ops[0].deviceTimed, "session c: CPU only");
    CHECK(pc.ops[0].totalMs >= 3.0 && pc.devices[0].gaps == 2 && pc.devices[0].idleMs >= 4.0, "CPU host clock: total %g idle %g",
          pc.ops[0].totalMs, pc.devices[0].idleMs);
    CHECK(t.outstanding == 0 && t.badRelease == 0, "released: outstanding %d, bad %d", t.outstanding, t.badRelease);
    bool threw = false;
    try {
      prof.stop(a);
    } catch (const std::exception&) {
      threw = true;
    }
    CHECK(threw, "stopping a closed session throws");
  }

  {  // Environment teardown closes its sessions.
    OpSessionOptions o;
    o.env = 7;
    prof.start(o);
    prof.start(o);
    CHECK(prof.openSessions() == 2, "two open");
    prof.stopEnv(7);
    CHECK(prof.openSessions() == 0 && !OpProfiler::on(), "closed with the environment");
  }

  {  // Several threads commit at once.
    FakeTimer t0(4096), t1(4096);
    const uint32_t id = prof.start(OpSessionOptions{});
    std::vector<std::thread> th;
    for (int k = 0; k < 4; ++k)
      th.emplace_back([k] {
        for (int i = 0; i < 2000; ++i) {
          OpProfiler::Run r;
          r.op = k % 2 ? "odd" : "even";
          r.device = kCpu;
          r.begin(nullptr);
          r.end();
          r.commit();
        }
      });
    for (auto& x : th) x.join();
    const OpProfileResult p = prof.stop(id);
    CHECK(p.ops.size() == 2 && find(p, "odd")->calls == 4000 && find(p, "even")->calls == 4000, "threads");
  }

  return checksSummary();
}
