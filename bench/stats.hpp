// What the benchmark programs measure alike: medians and percentiles of samples, per-round
// series compared round by round, this process's CPU time and its open descriptors; and
// how they read a number from their command line.
#pragma once

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <vector>

namespace bench {

// The decimal number in `text`, or `fallback` where there is no text (an absent argument
// or environment variable). Text that is not a number gives 0, which every benchmark's
// usage check rejects.
inline long number_or(const char* text, long fallback) {
  return text ? std::strtol(text, nullptr, 10) : fallback;
}

// The decimal number argv[i], or `fallback` where argc <= i (see number_or).
inline long number_arg(int argc, char** argv, int i, long fallback) {
  return number_or(argc > i ? argv[i] : nullptr, fallback);
}

// The middle sample (the upper one of an even count); 0 for no samples.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The sample at rank p * (n - 1) of the sorted samples, p in [0, 1]; 0 for no samples.
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// One figure of one implementation, a value per round.
struct series {
  std::vector<double> v;
  double med() const { return median(v); }
};

// a / b for each round both have.
inline std::vector<double> ratios(const series& a, const series& b) {
  std::vector<double> r;
  for (std::size_t i = 0; i < a.v.size() && i < b.v.size(); ++i) r.push_back(a.v[i] / b.v[i]);
  return r;
}

// The median of the per-round ratios a / b: implementations compared in the same round,
// which cancels much of the machine's drift between rounds.
inline double paired(const series& a, const series& b) { return median(ratios(a, b)); }

// User + system CPU seconds of this process (RUSAGE_SELF) or of its reaped children
// (RUSAGE_CHILDREN).
inline double cpu_seconds(int who = RUSAGE_SELF) {
  rusage ru{};
  ::getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Descriptors open in this process, from /proc/self/fd; 0 if it cannot be read.
inline long open_fd_count() {
  long n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    --n;  // the directory stream's own descriptor
  }
  return n;
}

}  // namespace bench
