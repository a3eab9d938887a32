// Opens (never loads: no root needed) the compiled BPF object and checks it against the tables
// userspace relies on: program names and sections, map key/value sizes from the shared ABI.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>

#include "bpf/map_decode.h"
#include "bpf/sched_observer_bpf.h"

namespace sw {
namespace {

struct ObjectCloser {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};
using ObjectPtr = std::unique_ptr<bpf_object, ObjectCloser>;

ObjectPtr OpenObject() {
  bpf_object* o = bpf_object__open(SW_BPF_OBJECT_PATH);
  return ObjectPtr(o);  // libbpf 1.x returns NULL on error
}

TEST(BpfObject, EveryProgramTwinExistsOnItsTracepoint) {
  ObjectPtr obj = OpenObject();
  ASSERT_TRUE(obj) << "cannot open " << SW_BPF_OBJECT_PATH;
  int n = 0;
  bpf_program* p;
  bpf_object__for_each_program(p, obj.get()) n++;
  EXPECT_EQ(n, 2 * static_cast<int>(std::size(kPrograms))) << "a program without a table entry";
  for (const ProgramSpec& spec : kPrograms) {
    std::string btf(spec.btf_name), raw(spec.raw_name), tp(spec.tracepoint);
    bpf_program* b = bpf_object__find_program_by_name(obj.get(), btf.c_str());
    bpf_program* r = bpf_object__find_program_by_name(obj.get(), raw.c_str());
    ASSERT_TRUE(b) << btf;
    ASSERT_TRUE(r) << raw;
    EXPECT_EQ(std::string(bpf_program__section_name(b)), "tp_btf/" + tp);
    EXPECT_EQ(std::string(bpf_program__section_name(r)), "raw_tp/" + tp);
  }
}

TEST(BpfObject, MapLayoutsComeFromTheSharedAbi) {
  ObjectPtr obj = OpenObject();
  ASSERT_TRUE(obj);
  bpf_map* w = bpf_object__find_map_by_name(obj.get(), "workloads");
  bpf_map* pre = bpf_object__find_map_by_name(obj.get(), "preemptions");
  bpf_map* d = bpf_object__find_map_by_name(obj.get(), "drops");
  bpf_map* ts = bpf_object__find_map_by_name(obj.get(), "task_stamps");
  bpf_map* ps = bpf_object__find_map_by_name(obj.get(), "raw_stamps");
  ASSERT_TRUE(w && pre && d && ts && ps);
  EXPECT_EQ(bpf_map__key_size(w), sizeof(__u64));
  EXPECT_EQ(bpf_map__value_size(w), sizeof(sw_workload_stats));
  EXPECT_EQ(bpf_map__key_size(pre), sizeof(sw_preempt_key));
  EXPECT_EQ(bpf_map__value_size(pre), sizeof(__u64));
  EXPECT_EQ(bpf_map__max_entries(d), static_cast<__u32>(SW_NR_DROPS));
  EXPECT_EQ(bpf_map__value_size(ts), sizeof(sw_task_state));
  EXPECT_EQ(bpf_map__value_size(ps), sizeof(sw_task_stamp));
  EXPECT_EQ(bpf_map__key_size(ps), sizeof(__u64));  // task address
  EXPECT_EQ(bpf_map__type(w), BPF_MAP_TYPE_HASH);   // shared by default; percpu is opt-in
}

TEST(Lifecycle, StepsOutOfOrderAreErrorsNotCrashes) {
  SchedObserverBpf bpf;  // constructing does nothing that can fail
  EXPECT_FALSE(bpf.loaded());
  Result<void> r = bpf.Load();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("after Configure"), std::string::npos);
  r = bpf.Attach();
  ASSERT_FALSE(r.ok());
  r = bpf.Configure(BpfOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("after Open"), std::string::npos);
  EXPECT_EQ(bpf.workload_map_fd(), -1);
  EXPECT_TRUE(bpf.programs().empty());
  SchedObserverBpf moved = std::move(bpf);
  EXPECT_FALSE(moved.attached());
}

TEST(Lifecycle, ZeroSizedMapsAreRejectedBeforeTouchingTheKernel) {
  SchedObserverBpf bpf;  // not even opened: options are validated first
  BpfOptions o;
  o.workload_map_entries = 0;
  Result<void> r = bpf.Configure(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("positive"), std::string::npos);
}

// libbpf's own messages end up in the agent's log, at the matching level, one line each.
TEST(LibbpfLog, GoesToSpdlogAtItsLevel) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_pattern("%l|%v");
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("libbpf-test", sink);
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);

  RouteLibbpfLogToSpdlog();
  // A warning: the file does not exist.
  EXPECT_EQ(bpf_object__open("/nonexistent/sw-test.bpf.o"), nullptr);
  // Debug messages: parsing a real object.
  ObjectPtr obj = OpenObject();
  spdlog::set_default_logger(previous);

  const std::string log = out.str();
  EXPECT_NE(log.find("warning|libbpf: elf: failed to open /nonexistent/sw-test.bpf.o"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("debug|libbpf: "), std::string::npos) << log;
  EXPECT_EQ(log.find("\n\n"), std::string::npos) << "trailing newlines are stripped: " << log;
}

}  // namespace
}  // namespace sw
