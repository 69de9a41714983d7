#include "runtime/cgroup_limits.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace sotr {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  for (const auto& x : list)
    if (x == item) return true;
  return false;
}

// mountinfo writes a space, tab, newline and backslash in a path as octal escapes (\040 ...).
std::string unescapeMountPath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' &&
        s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool readFirstLine(const std::string& path, std::string& line) {
  std::ifstream f(path);
  return f && std::getline(f, line);
}

// A strictly positive integer, the whole text (a trailing newline or blank allowed).
bool parsePositive(const std::string& s, double& v) {
  char* end = nullptr;
  const long long x = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str() || x <= 0) return false;
  while (*end == ' ' || *end == '\n' || *end == '\t') ++end;
  if (*end) return false;
  v = static_cast<double>(x);
  return true;
}

struct Mount {
  std::string root, point;  // the cgroup path the mount shows, and where it is mounted
  bool v2 = false;
  std::vector<std::string> controllers;  // v1: the super options (cpu, cpuacct, ...)
};

std::vector<Mount> cgroupMounts(const std::string& root) {
  std::vector<Mount> mounts;
  std::ifstream f(root + "/proc/self/mountinfo");
  std::string line;
  while (f && std::getline(f, line)) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
    std::string id, parent, dev, mroot, point, fstype, source, superOpts;
    if (!(head >> id >> parent >> dev >> mroot >> point) || !(tail >> fstype >> source)) continue;
    tail >> superOpts;
    Mount m;
    m.root = unescapeMountPath(mroot);
    m.point = unescapeMountPath(point);
    if (fstype == "cgroup2") {
      m.v2 = true;
    } else if (fstype == "cgroup") {
      m.controllers = split(superOpts, ',');
    } else {
      continue;
    }
    mounts.push_back(std::move(m));
  }
  return mounts;
}

// The directory of `cgroupPath` under a mount that shows it (its root a prefix of the path); empty if none does.
std::string cgroupDir(const Mount& m, const std::string& cgroupPath) {
  if (m.root == "/") return m.point + (cgroupPath == "/" ? "" : cgroupPath);
  if (cgroupPath == m.root) return m.point;
  if (cgroupPath.compare(0, m.root.size(), m.root) == 0 && cgroupPath.size() > m.root.size() &&
      cgroupPath[m.root.size()] == '/')
    return m.point + cgroupPath.substr(m.root.size());
  return "";
}

// Every level from `dir` up to the mount point, the process's own cgroup first: a parent's limit binds too.
template <class F>
void eachLevel(const std::string& mountPoint, std::string dir, F&& f) {
  for (;;) {
    f(dir);
    if (dir.size() <= mountPoint.size()) return;
    const auto slash = dir.rfind('/');
    if (slash == std::string::npos || slash < mountPoint.size()) return;
    dir = slash == mountPoint.size() ? mountPoint : dir.substr(0, slash);
  }
}

// Calls f(dir, v2) for every level of the calling process's cgroup that holds the files of `v1Controller` (v1) or
// of the unified hierarchy (v2), the process's own cgroup first. Linux only.
template <class F>
void eachCgroupLevel(const std::string& root, const char* v1Controller, F&& f) {
#if defined(__linux__)
  std::string v2Path, v1Path;
  bool haveV2 = false, haveV1 = false;
  {
    std::ifstream in(root + "/proc/self/cgroup");
    std::string line;
    while (in && std::getline(in, line)) {
      // hierarchy-id:controllers:path (the path may itself hold ':')
      const auto a = line.find(':');
      const auto b = a == std::string::npos ? a : line.find(':', a + 1);
      if (b == std::string::npos) continue;
      const std::string hier = line.substr(0, a), ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (hier == "0" && ctrls.empty()) {
        v2Path = path;
        haveV2 = true;
      } else if (contains(split(ctrls, ','), v1Controller)) {
        v1Path = path;
        haveV1 = true;
      }
    }
  }
  if (!haveV1 && !haveV2) return;
  for (const auto& m : cgroupMounts(root)) {
    if (m.v2 && haveV2) {
      const std::string dir = cgroupDir(m, v2Path);
      if (dir.empty()) continue;
      eachLevel(m.point, dir, [&](const std::string& d) { f(d, true); });
      haveV2 = false;  // one mount of the hierarchy is enough
    } else if (!m.v2 && haveV1 && contains(m.controllers, v1Controller)) {
      const std::string dir = cgroupDir(m, v1Path);
      if (dir.empty()) continue;
      eachLevel(m.point, dir, [&](const std::string& d) { f(d, false); });
      haveV1 = false;
    }
  }
#else
  (void)root;
  (void)v1Controller;
  (void)f;
#endif
}

}  // namespace

CpuQuota readCpuQuota(const std::string& root) {
  CpuQuota q;
  auto consider = [&](double cpus, const std::string& source) {
    if (cpus > 0 && (q.cpus == 0 || cpus < q.cpus)) {
      q.cpus = cpus;
      q.source = source;
    }
  };
  eachCgroupLevel(root, "cpu", [&](const std::string& d, bool v2) {
    if (v2) {
      std::string line;
      if (!readFirstLine(root + d + "/cpu.max", line)) return;
      const auto parts = split(line, ' ');  // "max 100000" or "<quota> <period>"
      double quota = 0, period = 0;
      if (parts.size() >= 2 && parsePositive(parts[0], quota) && parsePositive(parts[1], period))
        consider(quota / period, d + "/cpu.max");
    } else {
      std::string quotaText, periodText;
      double quota = 0, period = 0;  // a quota of -1: none at this level
      if (readFirstLine(root + d + "/cpu.cfs_quota_us", quotaText) &&
          readFirstLine(root + d + "/cpu.cfs_period_us", periodText) && parsePositive(quotaText, quota) &&
          parsePositive(periodText, period))
        consider(quota / period, d + "/cpu.cfs_quota_us");
    }
  });
  return q;
}

int quotaThreads(const CpuQuota& q) {
  if (!(q.cpus > 0)) return 0;
  const double c = std::ceil(q.cpus);  // 1.5 CPUs: 2 threads, each busy three quarters of the time
  return c < 1 ? 1 : (c > 1024 ? 1024 : static_cast<int>(c));
}

MemoryLimit readMemoryLimit(const std::string& root) {
  MemoryLimit m;
  eachCgroupLevel(root, "memory", [&](const std::string& d, bool v2) {
    // v2 memory.max: "max" or bytes; v1 memory.limit_in_bytes: bytes, a huge value (2^63 rounded down to a
    // page) when unlimited.
    const std::string file = d + (v2 ? "/memory.max" : "/memory.limit_in_bytes");
    std::string text;
    double bytes = 0;
    if (!readFirstLine(root + file, text) || !parsePositive(text, bytes) || bytes >= 0x1p60) return;
    if (m.bytes == 0 || bytes < static_cast<double>(m.bytes)) {
      m.bytes = static_cast<int64_t>(bytes);
      m.source = file;
    }
  });
  return m;
}

}  // namespace sotr
