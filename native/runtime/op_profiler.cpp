#include "runtime/op_profiler.h"

#include <algorithm>
#include <chrono>
#include <tuple>

#include "core/error.h"

namespace sotr {

thread_local bool tlsInlineRun = false;

namespace {

constexpr size_t kMaxRecords = size_t(1) << 20;  // ~150 MB at most; later runs are counted as dropped
constexpr size_t kMaxPending = 1024;               // unresolved device timestamps before resolving the oldest

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string shapeSignature(const std::vector<Tensor>& inputs) {
  std::string s;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (i) s += ',';
    const Tensor& t = inputs[i];
    if (!t.defined()) {
      s += '-';
      continue;
    }
    if (t.shape.empty()) s += "scalar";
    for (size_t j = 0; j < t.shape.size(); ++j) {
      if (j) s += 'x';
      s += std::to_string(t.shape[j]);
    }
  }
  return s;
}

OpProfiler& OpProfiler::get() {
  static OpProfiler* p = new OpProfiler();  // never destroyed: device threads may record during exit
  return *p;
}

uint32_t OpProfiler::start(const OpSessionOptions& o) {
  std::lock_guard<std::mutex> lk(mu_);
  const uint32_t id = nextId_++;
  sessions_[id] = Session{o, nextSeq_, nowNs(), o.env};
  open_.store(static_cast<int>(sessions_.size()), std::memory_order_relaxed);
  return id;
}

void OpProfiler::Run::begin(DeviceTimer* t) {
  active = true;
  timer = t;
  inlineRun = tlsInlineRun;
  if (timer) startMark = timer->mark();
  startNs = nowNs();
}

void OpProfiler::Run::end() {
  endNs = nowNs();
  if (timer) endMark = timer->mark();
}

void OpProfiler::Run::commit() {
  if (active) OpProfiler::get().commit(*this);
  active = false;
}

OpProfiler::Run::~Run() {
  if (timer) {
    if (startMark >= 0) timer->release(startMark);
    if (endMark >= 0) timer->release(endMark);
  }
}

void OpProfiler::commit(Run& r) {
  std::lock_guard<std::mutex> lk(mu_);
  if (sessions_.empty() || recs_.size() >= kMaxRecords) {
    if (!sessions_.empty()) dropped_++;
    return;  // ~Run releases the marks
  }
  Record rec;
  rec.seq = nextSeq_++;
  rec.op = std::move(r.op);
  rec.shape = std::move(r.shape);
  rec.device = r.device;
  rec.env = r.env;
  rec.inlineRun = r.inlineRun;
  rec.startNs = r.startNs;
  rec.endNs = r.endNs;
  rec.timer = r.timer;
  rec.startMark = r.startMark;
  rec.endMark = r.endMark;
  rec.deviceMs = -1;
  rec.gapMs = -1;
  r.startMark = r.endMark = -1;  // owned by the record now
  DevState& ds = devs_[devKey(r.device)];
  if (rec.timer) {
    // Device timestamps, resolved later in order. A run that got no timestamps (the pool was empty) keeps its
    // host time and breaks the chain of gaps (resolveLocked), so its duration is not taken for idle time.
    if (rec.startMark < 0 || rec.endMark < 0) {
      if (rec.startMark >= 0) rec.timer->release(rec.startMark);
      if (rec.endMark >= 0) rec.timer->release(rec.endMark);
      rec.startMark = rec.endMark = -1;
    }
    ds.timer = rec.timer;
    rec.resolved = false;
    if (pending_++ == 0) firstPending_ = recs_.size();
  } else {
    // Host clock: the op's time and the gap since the previous op on this device ended.
    rec.deviceMs = static_cast<double>(rec.endNs - rec.startNs) / 1e6;
    if (ds.lastEndNs >= 0) rec.gapMs = std::max(0.0, static_cast<double>(rec.startNs - ds.lastEndNs) / 1e6);
    ds.lastEndNs = rec.endNs;
    rec.resolved = true;
  }
  recs_.push_back(std::move(rec));
  if (pending_ >= kMaxPending) resolveLocked();
}

void OpProfiler::resolveLocked() {
  if (pending_ == 0) return;
  for (size_t i = firstPending_; i < recs_.size() && pending_ > 0; ++i) {
    Record& r = recs_[i];
    if (r.resolved) continue;
    DevState& ds = devs_[devKey(r.device)];
    if (r.startMark < 0) {  // no timestamps: host time, and the next gap is not measurable
      if (ds.lastEndMark >= 0) r.timer->release(ds.lastEndMark);
      ds.lastEndMark = -1;
    } else {
      r.deviceMs = r.timer->elapsedMs(r.startMark, r.endMark);
      if (ds.lastEndMark >= 0) {
        const double g = r.timer->elapsedMs(ds.lastEndMark, r.startMark);
        if (g >= 0) r.gapMs = g;
        r.timer->release(ds.lastEndMark);
      }
      r.timer->release(r.startMark);
      ds.lastEndMark = r.endMark;
    }
    r.startMark = r.endMark = -1;
    r.resolved = true;
    pending_--;
  }
  firstPending_ = recs_.size();
}

void OpProfiler::resetLocked() {
  for (auto& kv : devs_)
    if (kv.second.timer && kv.second.lastEndMark >= 0) kv.second.timer->release(kv.second.lastEndMark);
  devs_.clear();
  recs_.clear();
  firstPending_ = 0;
  pending_ = 0;
  dropped_ = 0;
}

OpProfileResult OpProfiler::stop(uint32_t id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) fail(ErrorKind::InvalidArgument, "op profile session " + std::to_string(id) + " is not open");
  const Session s = it->second;
  sessions_.erase(it);
  open_.store(static_cast<int>(sessions_.size()), std::memory_order_relaxed);
  resolveLocked();

  OpProfileResult res;
  res.wallMs = static_cast<double>(nowNs() - s.startNs) / 1e6;
  res.dropped = dropped_;
  using Key = std::tuple<int, int, std::string, std::string>;
  std::map<Key, size_t> rows;
  std::map<std::pair<int, int>, size_t> devRows;
  for (const Record& r : recs_) {
    if (r.seq < s.startSeq) continue;
    if (!s.o.anyDevice && r.device != s.o.device) continue;
    if (s.o.envOnly && r.env != s.o.env) continue;
    const bool timed = r.deviceMs >= 0 && r.timer;
    const double hostMs = static_cast<double>(r.endNs - r.startNs) / 1e6;
    const double ms = r.deviceMs >= 0 ? r.deviceMs : hostMs;
    Key k{static_cast<int>(r.device.type), r.device.index, r.op, s.o.byShape ? r.shape : std::string()};
    auto [ri, fresh] = rows.emplace(k, res.ops.size());
    if (fresh) {
      OpStat st;
      st.op = r.op;
      st.device = r.device;
      if (s.o.byShape) st.shape = r.shape;
      res.ops.push_back(st);
    }
    OpStat& st = res.ops[ri->second];
    st.calls++;
    if (r.inlineRun) st.inlineCalls++;
    st.totalMs += ms;
    st.maxMs = std::max(st.maxMs, ms);
    st.hostMs += hostMs;
    st.hostMaxMs = std::max(st.hostMaxMs, hostMs);
    if (timed) st.deviceTimed = true;
    auto [di, dfresh] = devRows.emplace(std::make_pair(static_cast<int>(r.device.type), r.device.index), res.devices.size());
    if (dfresh) {
      DeviceTotals dt;
      dt.device = r.device;
      res.devices.push_back(dt);
    }
    DeviceTotals& dt = res.devices[di->second];
    dt.calls++;
    dt.busyMs += ms;
    dt.hostMs += hostMs;
    if (timed) dt.deviceTimed = true;
    // A gap before the session's first op on a device reaches back before the session: not counted.
    if (r.gapMs >= 0 && dt.calls > 1) {
      dt.idleMs += r.gapMs;
      dt.gaps++;
      st.idleBeforeMs += r.gapMs;
      st.gaps++;
    }
  }
  std::stable_sort(res.ops.begin(), res.ops.end(), [](const OpStat& a, const OpStat& b) { return a.totalMs > b.totalMs; });

  if (sessions_.empty()) {
    resetLocked();
  } else {
    uint64_t keep = nextSeq_;
    for (auto& kv : sessions_) keep = std::min(keep, kv.second.startSeq);
    while (!recs_.empty() && recs_.front().seq < keep) {
      recs_.pop_front();
      if (firstPending_ > 0) firstPending_--;
    }
  }
  return res;
}

void OpProfiler::stopEnv(uint32_t env) {
  std::vector<uint32_t> ids;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& kv : sessions_)
      if (kv.second.creatorEnv == env) ids.push_back(kv.first);
  }
  for (uint32_t id : ids) {
    try {
      stop(id);
    } catch (...) {
    }
  }
}

}  // namespace sotr
