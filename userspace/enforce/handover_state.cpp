// The actuators' in-memory state for a handover stop (written into the journal's marker) and
// taking it back at the next start. Kept apart from the actuators' logic: it only copies fields.
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/text.h"
#include "enforce/best_effort_actuator.h"
#include "enforce/exclusive_actuator.h"

namespace sw {
namespace {

using nlohmann::json;

Result<CpuSet> CpusFrom(const json& j, const char* key) {
  auto c = ParseCpuList(j.at(key).get<std::string>());
  if (!c) return c.error();
  return *c;
}

CpuSet Without(const CpuSet& a, const CpuSet& b) {
  CpuSet out;
  for (int c : a)
    if (!b.count(c)) out.insert(c);
  return out;
}

// v1: our cpuset lists the CPUs. v2: the partition's effective CPUs are them (6.7+ leaves
// cpuset.cpus empty and claims cpuset.cpus.exclusive, which the journal records check).
Result<void> ExpectCpus(const std::string& dir, const CpuSet& want, const char* file) {
  const std::string f = JoinPath(dir, file);
  auto text = ReadLine(f);
  if (!text) return Error{EIO, "read " + f + ": " + text.error().message};
  auto cur = ParseCpuList(Trim(*text));
  if (!cur || *cur != want)
    return Error{EIO, f + " reads '" + Trim(*text) + "', not '" + FormatCpuList(want) + "'"};
  return Ok();
}

}  // namespace

std::string ExclusiveCoreActuator::ExportState() const {
  json held = json::object(), touched = json::object();
  for (const auto& [w, h] : held_)
    held[w] = {{"cpus", FormatCpuList(h.cpus)},
               {"source_dir", h.source_dir},
               {"cpuset_dir", h.cpuset_dir},
               {"own_cpuset", h.own_cpuset}};
  for (const auto& [dir, t] : touched_)
    touched[dir] = {
        {"base", FormatCpuList(t.base)}, {"last", FormatCpuList(t.last)}, {"seqs", t.seqs}};
  return json{{"shield_up", shield_up_}, {"held", held}, {"touched", touched}}.dump();
}

Result<void> ExclusiveCoreActuator::ImportState(const std::string& text) {
  try {
    json j = json::parse(text);
    std::map<std::string, Held> held;
    std::map<std::string, Touched> touched;
    for (const auto& [w, h] : j.at("held").items()) {
      auto cpus = CpusFrom(h, "cpus");
      if (!cpus) return cpus.error().WithContext("handover state of '" + w + "'");
      held[w] = Held{*cpus, h.at("source_dir").get<std::string>(),
                     h.at("cpuset_dir").get<std::string>(), h.at("own_cpuset").get<bool>()};
    }
    for (const auto& [dir, t] : j.at("touched").items()) {
      auto base = CpusFrom(t, "base"), last = CpusFrom(t, "last");
      if (!base || !last) return Error{EINVAL, "handover state of " + dir + ": bad cpu list"};
      touched[dir] = Touched{*base, *last, t.at("seqs").get<std::vector<uint64_t>>()};
    }
    const bool shield_up = j.at("shield_up").get<bool>();
    // Our own cpusets are not journaled file by file (removing them undoes them): they must
    // read what the previous agent left.
    CpuSet exclusive;
    for (const auto& [w, h] : held) exclusive.insert(h.cpus.begin(), h.cpus.end());
    if (shield_up)
      if (auto r = ExpectCpus(shared_dir_, Without(all_cpus_, exclusive), "cpuset.cpus"); !r)
        return r;
    const char* file = cfg_.version == CgroupVersion::kV1 ? "cpuset.cpus" : "cpuset.cpus.effective";
    for (const auto& [w, h] : held)
      if (!h.own_cpuset)
        if (auto r = ExpectCpus(h.cpuset_dir, h.cpus, file); !r) return r;
    shield_up_ = shield_up;
    held_ = std::move(held);
    touched_ = std::move(touched);
  } catch (const std::exception& e) {
    return Error{EINVAL, std::string("handover state unreadable: ") + e.what()};
  }
  return Ok();
}

std::string BestEffortActuator::ExportState() const { return json(demoted_).dump(); }

Result<void> BestEffortActuator::ImportState(const std::string& text) {
  try {
    demoted_ = json::parse(text).get<std::map<std::string, std::string>>();
  } catch (const std::exception& e) {
    return Error{EINVAL, std::string("handover state unreadable: ") + e.what()};
  }
  return Ok();
}

}  // namespace sw
