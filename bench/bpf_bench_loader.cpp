// sw_bpf_bench_loader: loads and attaches schedwarden's BPF programs, waits for SIGINT/SIGTERM,
// then prints one line per program and per map for bench/bpf_cost.sh:
//
//   ready attach=<kind> map=<kind> ids=<id>,<id>,<id>,   (once attached)
//   prog <tracepoint> <name> id=<id> run_time_ns=<n> run_cnt=<n> recursion_misses=<n>
//   map <name> id=<id> memlock=<bytes>     (kernel's own accounting, from /proc/self/fdinfo)
//   drops <d0> <d1> <d2> <d3>
//   workloads <n> preemption_pairs <n>
//
//   every <s> <workloads> <pairs> <drops d0 d1 d2 d3>  (each --every S seconds, when given)
//
// Usage: sw_bpf_bench_loader [--map shared|percpu] [--attach auto|tp_btf|raw_tp] [--entries N]
//                            [--preempt-entries N] [--every S]
//        sw_bpf_bench_loader --read-bench N [--map ...] [--entries N] [--preempt-entries N]
//          loads without attaching, fills both maps from userspace, times N Reads per way of
//          walking the maps:  read <batch|iterate> workloads=<n> pairs=<n> us_per_read=<x>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bpf/bpf_event_source.h"
#include "bpf/sched_observer_bpf.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

unsigned long MemlockOf(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string key;
  unsigned long v = 0;
  while (in >> key) {
    if (key == "memlock:") {
      in >> v;
      return v;
    }
  }
  return 0;
}

unsigned IdOf(int fd, bool prog) {
  if (prog) {
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
  }
  bpf_map_info info{};
  __u32 len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: sw_bpf_bench_loader [--map shared|percpu] [--attach auto|tp_btf|raw_tp] "
               "[--entries N] [--preempt-entries N] [--every S]\n");
  return 2;
}

// Fills the maps to max_entries with synthetic entries, then times Read() both ways.
int ReadBench(const sw::BpfOptions& opts, unsigned reads) {
  sw::SchedObserverBpf bpf;
  sw::Result<void> r = bpf.Open();
  if (r.ok()) r = bpf.Configure(opts);
  if (r.ok()) r = bpf.Load();
  if (!r.ok()) {
    std::fprintf(stderr, "sw_bpf_bench_loader: %s\n", r.error().message.c_str());
    return 1;
  }
  int ncpus = libbpf_num_possible_cpus();
  bool percpu = opts.workload_map == sw::WorkloadMapKind::kPerCpu;
  std::vector<unsigned char> value(sizeof(sw_workload_stats) * (percpu ? ncpus : 1));
  for (__u64 id = 1; id <= opts.workload_map_entries; id++)
    bpf_map_update_elem(bpf.workload_map_fd(), &id, value.data(), BPF_NOEXIST);
  for (__u64 i = 0; i < opts.preempt_map_entries; i++) {
    sw_preempt_key k{i / 64 + 1, i % 64 + 1};
    __u64 n = 1;
    bpf_map_update_elem(bpf.preempt_map_fd(), &k, &n, BPF_NOEXIST);
  }
  sw::BpfEventSource source(std::move(bpf));
  for (sw::MapReadMode m : {sw::MapReadMode::kBatch, sw::MapReadMode::kIterate}) {
    source.set_map_read_mode(m);
    size_t w = 0, p = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < reads; i++) {
      auto e = source.Read();
      if (!e.ok()) {
        std::fprintf(stderr, "sw_bpf_bench_loader: %s\n", e.error().message.c_str());
        return 1;
      }
      w = e->workloads.size();
      p = e->preemptions.size();
    }
    double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        reads;
    std::printf("read %s workloads=%zu pairs=%zu us_per_read=%.0f\n",
                m == sw::MapReadMode::kBatch ? "batch" : "iterate", w, p, us);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sw::BpfOptions opts;
  unsigned every = 0, read_bench = 0;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    std::string v = argv[++i];
    if (a == "--map" && v == "shared") {
      opts.workload_map = sw::WorkloadMapKind::kShared;
    } else if (a == "--map" && v == "percpu") {
      opts.workload_map = sw::WorkloadMapKind::kPerCpu;
    } else if (a == "--attach" && v == "auto") {
      opts.attach = sw::AttachKind::kAuto;
    } else if (a == "--attach" && v == "tp_btf") {
      opts.attach = sw::AttachKind::kTpBtf;
    } else if (a == "--attach" && v == "raw_tp") {
      opts.attach = sw::AttachKind::kRawTp;
    } else if (a == "--entries") {
      opts.workload_map_entries = static_cast<uint32_t>(std::strtoul(v.c_str(), nullptr, 10));
    } else if (a == "--preempt-entries") {
      opts.preempt_map_entries = static_cast<uint32_t>(std::strtoul(v.c_str(), nullptr, 10));
    } else if (a == "--read-bench") {
      read_bench = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 10));
    } else if (a == "--every") {
      every = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 10));
    } else {
      return Usage();
    }
  }

  if (read_bench) return ReadBench(opts, read_bench);
  sw::Result<sw::SchedObserverBpf> bpf = sw::StartSchedObserver(opts);
  if (!bpf.ok()) {
    std::fprintf(stderr, "sw_bpf_bench_loader: %s\n", bpf.error().message.c_str());
    return 1;
  }
  sw::BpfEventSource source(std::move(bpf).value());

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::printf("ready attach=%s map=%s ids=", sw::AttachKindName(source.bpf().attach_kind()),
              sw::WorkloadMapKindName(source.bpf().workload_map_kind()));
  for (const auto& p : source.bpf().programs()) std::printf("%u,", IdOf(p.fd, true));
  std::printf("\n");
  std::fflush(stdout);
  for (unsigned t = 0; !g_stop;) {
    if (!every) {
      pause();
      continue;
    }
    sleep(every);  // returns early on a signal
    t += every;
    auto e = source.Read();
    if (!e.ok()) continue;
    std::printf("every %u %zu %zu drops %llu %llu %llu %llu\n", t, e->workloads.size(),
                e->preemptions.size(), static_cast<unsigned long long>(e->dropped[0]),
                static_cast<unsigned long long>(e->dropped[1]),
                static_cast<unsigned long long>(e->dropped[2]),
                static_cast<unsigned long long>(e->dropped[3]));
    std::fflush(stdout);
  }

  auto events = source.Read();
  if (!events.ok()) {
    std::fprintf(stderr, "sw_bpf_bench_loader: %s\n", events.error().message.c_str());
    return 1;
  }
  auto progs = source.bpf().programs();
  for (size_t i = 0; i < progs.size() && i < events->programs.size(); i++) {
    const auto& s = events->programs[i];
    std::printf("prog %s %s id=%u run_time_ns=%llu run_cnt=%llu recursion_misses=%llu\n",
                progs[i].tracepoint.c_str(), progs[i].name.c_str(), IdOf(progs[i].fd, true),
                static_cast<unsigned long long>(s.run_time_ns),
                static_cast<unsigned long long>(s.run_count),
                static_cast<unsigned long long>(s.recursion_misses));
  }
  for (const auto& [name, fd] : source.bpf().maps())
    std::printf("map %s id=%u memlock=%lu\n", name.c_str(), IdOf(fd, false), MemlockOf(fd));
  std::printf("drops");
  for (uint64_t d : events->dropped) std::printf(" %llu", static_cast<unsigned long long>(d));
  std::printf("\nworkloads %zu preemption_pairs %zu\n", events->workloads.size(),
              events->preemptions.size());
  return 0;
}
