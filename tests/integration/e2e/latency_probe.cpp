// A periodic-work probe, the injected "latency-critical service" of the end-to-end test: it wakes
// every --period-us on an absolute timer, burns --work-us of CPU, and records how late each
// wake-up was (scheduling delay seen by the application itself, independent of schedwarden's BPF
// numbers). Every --report-ms it appends "<seconds since start> <samples> <p50_us> <p99_us>" to
// stdout. Runs until killed.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

long long NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long ArgOr(int argc, char** argv, const char* name, long fallback) {
  for (int i = 1; i + 1 < argc; i++)
    if (std::strcmp(argv[i], name) == 0) return std::atol(argv[i + 1]);
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const long long period = ArgOr(argc, argv, "--period-us", 1000) * 1000;
  const long long work = ArgOr(argc, argv, "--work-us", 100) * 1000;
  const long long report = ArgOr(argc, argv, "--report-ms", 500) * 1000000;
  setvbuf(stdout, nullptr, _IOLBF, 0);

  std::vector<long long> late;
  const long long start = NowNs();
  long long next = start + period, next_report = start + report;
  for (;;) {
    timespec ts{static_cast<time_t>(next / 1000000000LL), static_cast<long>(next % 1000000000LL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
    }
    long long woke = NowNs();
    late.push_back(woke - next);
    while (NowNs() - woke < work) {
    }
    next += period;
    if (next < NowNs()) next = NowNs() + period;  // fell behind: do not build a backlog
    if (woke >= next_report) {
      std::sort(late.begin(), late.end());
      auto pct = [&](double q) { return late[static_cast<size_t>(q * (late.size() - 1))] / 1000; };
      std::printf("%.3f %zu %lld %lld\n", (woke - start) / 1e9, late.size(), pct(0.5), pct(0.99));
      late.clear();
      next_report += report;
    }
  }
}
