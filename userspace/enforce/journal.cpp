#include "enforce/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cgroup/tasks.h"
#include "common/fs.h"

namespace sw {
namespace {

using nlohmann::json;

const std::array<uint32_t, 256>& CrcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

ChangeKind KindFromName(const std::string& s, bool* ok) {
  *ok = true;
  if (s == "write_file") return ChangeKind::kWriteFile;
  if (s == "move_task") return ChangeKind::kMoveTask;
  if (s == "mkdir") return ChangeKind::kMakeDir;
  if (s == "sched_attr") return ChangeKind::kSchedAttr;
  if (s == "affinity") return ChangeKind::kAffinity;
  *ok = false;
  return ChangeKind::kWriteFile;
}

json AttrJson(const SchedAttr& a) {
  return json{{"policy", a.policy}, {"nice", a.nice}, {"prio", a.rt_priority}, {"flags", a.flags}};
}

SchedAttr AttrFrom(const json& j) {
  SchedAttr a;
  a.policy = j.at("policy").get<int>();
  a.nice = j.at("nice").get<int>();
  a.rt_priority = j.at("prio").get<int>();
  a.flags = j.at("flags").get<uint64_t>();
  return a;
}

json EntryJson(const JournalEntry& e) {
  json j{{"seq", e.seq}, {"group", e.group}, {"kind", ChangeKindName(e.kind)}};
  if (e.cgroup_id != 0) j["cg_id"] = e.cgroup_id;
  if (e.cgroup_from_id != 0) j["from_cg_id"] = e.cgroup_from_id;
  switch (e.kind) {
    case ChangeKind::kWriteFile:
      j["path"] = e.path;
      j["original"] = e.original;
      j["value"] = e.value;
      if (!e.restore_if.empty()) j["restore_if"] = e.restore_if;
      break;
    case ChangeKind::kMoveTask:
      j["tid"] = e.tid;
      j["start"] = e.start_time;
      j["to_file"] = e.path;
      j["from_file"] = e.original;
      j["controller"] = e.controller;
      j["from"] = e.cgroup_from;
      j["to"] = e.cgroup_to;
      break;
    case ChangeKind::kMakeDir:
      j["path"] = e.path;
      j["evacuate_to"] = e.evacuate_to;
      break;
    case ChangeKind::kSchedAttr:
      j["tid"] = e.tid;
      j["start"] = e.start_time;
      j["original_attr"] = AttrJson(e.original_attr);
      j["new_attr"] = AttrJson(e.new_attr);
      j["cgroup"] = e.cgroup_to;  // the workload's cgroup: restore looks there for inherited idle
      break;
    case ChangeKind::kAffinity:
      j["tid"] = e.tid;
      j["start"] = e.start_time;
      j["original"] = e.original;
      j["value"] = e.value;
      j["cpuset_root"] = e.path;
      j["controller"] = e.controller;
      break;
  }
  return j;
}

JournalEntry EntryFrom(const json& j) {  // throws json exceptions on missing/mistyped fields
  JournalEntry e;
  bool ok = false;
  e.seq = j.at("seq").get<uint64_t>();
  e.group = j.at("group").get<std::string>();
  e.kind = KindFromName(j.at("kind").get<std::string>(), &ok);
  if (!ok) throw std::runtime_error("unknown kind '" + j.at("kind").get<std::string>() + "'");
  e.cgroup_id = j.value("cg_id", uint64_t{0});
  e.cgroup_from_id = j.value("from_cg_id", uint64_t{0});
  switch (e.kind) {
    case ChangeKind::kWriteFile:
      e.path = j.at("path").get<std::string>();
      e.original = j.at("original").get<std::string>();
      e.value = j.at("value").get<std::string>();
      if (j.contains("restore_if"))
        e.restore_if = j.at("restore_if").get<std::vector<std::string>>();
      break;
    case ChangeKind::kMoveTask:
      e.tid = j.at("tid").get<pid_t>();
      e.start_time = j.at("start").get<uint64_t>();
      e.path = j.at("to_file").get<std::string>();
      e.original = j.at("from_file").get<std::string>();
      e.controller = j.at("controller").get<std::string>();
      e.cgroup_from = j.at("from").get<std::string>();
      e.cgroup_to = j.at("to").get<std::string>();
      break;
    case ChangeKind::kMakeDir:
      e.path = j.at("path").get<std::string>();
      e.evacuate_to = j.at("evacuate_to").get<std::string>();
      break;
    case ChangeKind::kSchedAttr:
      e.tid = j.at("tid").get<pid_t>();
      e.start_time = j.at("start").get<uint64_t>();
      e.original_attr = AttrFrom(j.at("original_attr"));
      e.new_attr = AttrFrom(j.at("new_attr"));
      e.cgroup_to = j.value("cgroup", "");
      break;
    case ChangeKind::kAffinity:
      e.tid = j.at("tid").get<pid_t>();
      e.start_time = j.at("start").get<uint64_t>();
      e.original = j.at("original").get<std::string>();
      e.value = j.at("value").get<std::string>();
      e.path = j.at("cpuset_root").get<std::string>();
      e.controller = j.at("controller").get<std::string>();
      break;
  }
  return e;
}

Result<UniqueFd> LockStateDir(const std::string& state_dir) {
  std::string p = JoinPath(state_dir, "journal.lock");
  UniqueFd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Error::FromErrno(errno, "open " + p);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    return Error::FromErrno(errno, "lock journal " + JoinPath(state_dir, "journal") +
                                       " (is another schedwarden agent or restore running?)");
  return fd;
}

// The cgroups a change touches, as they are now (before the change is made).
void FillCgroupIds(JournalEntry& e) {
  if (e.kind == ChangeKind::kWriteFile && e.cgroup_id == 0)
    e.cgroup_id = CgroupDirId(DirOf(e.path));
  if (e.kind == ChangeKind::kMoveTask) {
    if (e.cgroup_id == 0) e.cgroup_id = CgroupDirId(DirOf(e.path));
    if (e.cgroup_from_id == 0) e.cgroup_from_id = CgroupDirId(DirOf(e.original));
  }
}

json MarkJson(const char* mark, const JournalEntry* e, uint64_t seq) {
  json j{{"mark", mark}, {"seq", seq}};
  // A directory we made: its id exists only once it is made.
  if (e && e->kind == ChangeKind::kMakeDir && e->cgroup_id != 0 && std::string(mark) == "applied")
    j["cg_id"] = e->cgroup_id;
  return j;
}

Result<void> FsyncDir(const std::string& dir) {
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.valid()) return Error::FromErrno(errno, "open " + dir);
  if (::fsync(d.get()) != 0) return Error::FromErrno(errno, "fsync " + dir);
  return Ok();
}

}  // namespace

uint64_t CgroupDirId(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

std::string DirOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

const char* ChangeKindName(ChangeKind k) {
  switch (k) {
    case ChangeKind::kWriteFile:
      return "write_file";
    case ChangeKind::kMoveTask:
      return "move_task";
    case ChangeKind::kMakeDir:
      return "mkdir";
    case ChangeKind::kSchedAttr:
      return "sched_attr";
    case ChangeKind::kAffinity:
      return "affinity";
  }
  return "?";
}

uint32_t Crc32(const std::string& data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = CrcTable()[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string EncodeJournalLine(const std::string& json_text) {
  char crc[9];
  std::snprintf(crc, sizeof(crc), "%08x", Crc32(json_text));
  return std::string(crc) + " " + json_text;
}

Result<std::string> DecodeJournalLine(const std::string& line) {
  if (line.size() < 10 || line[8] != ' ')
    return Error{EINVAL, "not a journal record (expected '<crc32> <json>')"};
  uint32_t want = 0;
  for (int i = 0; i < 8; i++) {
    char c = line[i];
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) return Error{EINVAL, "bad checksum field '" + line.substr(0, 8) + "'"};
    want = (want << 4) | static_cast<uint32_t>(v);
  }
  std::string body = line.substr(9);
  uint32_t got = Crc32(body);
  if (got != want) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "checksum mismatch (stored %08x, computed %08x)", want, got);
    return Error{EBADMSG, buf};
  }
  return body;
}

// A last line without its newline whose checksum holds (alone, or without its last byte: a
// flipped newline) is a whole record, possibly acted on: kept, not cut as a torn write. Returns
// where it ends (npos: torn).
static size_t WholeLastRecord(const std::string& s, size_t pos, const std::string& path, int lineno,
                              JournalReadReport* rep) {
  for (size_t end : {s.size(), s.size() - 1}) {
    if (end <= pos || !DecodeJournalLine(s.substr(pos, end - pos))) continue;
    rep->missing_newline = true;
    rep->warnings.push_back(path + " line " + std::to_string(lineno) + " (bytes " +
                            std::to_string(pos) + "-" + std::to_string(end) +
                            "): the last record's newline is missing or damaged; the record is "
                            "intact and kept");
    return end;
  }
  return std::string::npos;
}

Result<JournalReadReport> ReadJournalFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) {
    if (text.error().code == ENOENT) return JournalReadReport{};
    return text.error();
  }
  return ParseJournalText(*text, path);
}

JournalReadReport ParseJournalText(const std::string& s, const std::string& path) {
  JournalReadReport rep;
  std::map<uint64_t, size_t> by_seq;
  size_t pos = 0;
  int lineno = 0;
  while (pos < s.size()) {
    lineno++;
    size_t nl = s.find('\n', pos);
    if (nl == std::string::npos) nl = WholeLastRecord(s, pos, path, lineno, &rep);
    if (nl == std::string::npos) {
      rep.warnings.push_back(path + " line " + std::to_string(lineno) + ": torn record of " +
                             std::to_string(s.size() - pos) +
                             " bytes at the end (a write interrupted by a crash; its change was "
                             "never started because intents are fsynced first)");
      break;
    }
    std::string line = s.substr(pos, nl - pos);
    const size_t at = pos;
    pos = nl + 1;
    rep.valid_bytes = nl < s.size() && s[nl] == '\n' ? pos : nl;
    rep.lines++;
    if (line.empty()) continue;
    std::string where = path + " line " + std::to_string(lineno) + " (bytes " + std::to_string(at) +
                        "-" + std::to_string(nl) + "): ";
    auto body = DecodeJournalLine(line);
    if (!body) {
      rep.corrupt.push_back(where + body.error().message + ": '" + line.substr(0, 120) + "'");
      continue;
    }
    try {
      json j = json::parse(*body);
      if (!j.contains("note")) rep.handover.clear();  // written after the marker: void
      if (j.contains("mark")) {
        uint64_t seq = j.at("seq").get<uint64_t>();
        std::string mark = j.at("mark").get<std::string>();
        auto it = by_seq.find(seq);
        if (it == by_seq.end()) {
          // Follows from a corrupt intent (reported there) or a compaction race: nothing to undo.
          rep.warnings.push_back(where + "'" + mark + "' mark for unknown record " +
                                 std::to_string(seq));
        } else if (mark == "applied") {
          rep.entries[it->second].applied = true;
          if (j.contains("cg_id"))
            rep.entries[it->second].cgroup_id = j.at("cg_id").get<uint64_t>();
        } else if (mark == "undone") {
          rep.entries[it->second].undone = true;
        } else {
          rep.corrupt.push_back(where + "unknown mark '" + mark + "'");
        }
      } else if (j.contains("note")) {
        rep.warnings.push_back(where + j.at("note").get<std::string>());
        rep.handover = j.contains("handover") ? j.at("handover").dump() : "";
        continue;
      } else {
        JournalEntry e = EntryFrom(j);
        e.line = lineno;
        by_seq[e.seq] = rep.entries.size();
        rep.entries.push_back(std::move(e));
      }
    } catch (const std::exception& ex) {
      rep.corrupt.push_back(where + "checksum ok but record unreadable: " + ex.what());
    }
  }
  return rep;
}

Result<Journal> Journal::Open(const std::string& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec)
    return Error{ec.value(), "cannot create state dir " + state_dir + ": " + ec.message() +
                                 " (use --state-dir to pick another)"};
  Journal j;
  j.state_dir_ = state_dir;
  j.path_ = JoinPath(state_dir, kFileName);
  // The lock lives on a separate file so Compact() can replace the journal by rename.
  auto lock = LockStateDir(state_dir);
  if (!lock) return lock.error();
  j.lock_fd_ = std::move(*lock);
  bool existed = PathExists(j.path_);
  j.fd_.reset(::open(j.path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!j.fd_.valid()) return Error::FromErrno(errno, "open journal " + j.path_);
  if (!existed) {
    if (auto r = FsyncDir(state_dir); !r) return r.error();
  }
  auto rep = ReadJournalFile(j.path_);
  if (!rep) return rep.error();
  j.loaded_ = std::move(*rep);
  // Cut a torn tail so the next record starts on its own line; leave a note so it is not silent.
  struct stat st;
  size_t torn = 0;
  if (::fstat(j.fd_.get(), &st) == 0 && static_cast<size_t>(st.st_size) > j.loaded_.valid_bytes) {
    torn = static_cast<size_t>(st.st_size) - j.loaded_.valid_bytes;
    if (::ftruncate(j.fd_.get(), static_cast<off_t>(j.loaded_.valid_bytes)) != 0)
      return Error::FromErrno(errno, "truncate torn tail of " + j.path_);
  }
  if (j.loaded_.missing_newline && ::write(j.fd_.get(), "\n", 1) != 1)
    return Error::FromErrno(errno, "append to journal " + j.path_);
  if (torn > 0) {
    json note{
        {"note", j.loaded_.missing_newline
                     ? "removed " + std::to_string(torn) + " damaged byte(s) after the last record"
                     : "removed a torn record of " + std::to_string(torn) +
                           " bytes left by a crash (never applied)"}};
    if (auto r = j.Append({note.dump()}); !r) return r.error();
  }
  j.lines_ = j.loaded_.lines;
  j.entries_ = j.loaded_.entries;
  j.handover_ = j.loaded_.handover;
  for (const JournalEntry& e : j.entries_) j.next_seq_ = std::max(j.next_seq_, e.seq + 1);
  return j;
}

Result<void> Journal::Append(const std::vector<std::string>& json_texts) {
  if (json_texts.empty()) return Ok();
  std::string line;
  for (const std::string& t : json_texts) line += EncodeJournalLine(t) + "\n";
  // One write(2) per batch with O_APPEND: a crash leaves at most one torn line at the end.
  ssize_t n = ::write(fd_.get(), line.data(), line.size());
  if (n < 0) return Error::FromErrno(errno, "append to journal " + path_);
  if (static_cast<size_t>(n) != line.size()) return Error{EIO, "short append to journal " + path_};
  if (::fdatasync(fd_.get()) != 0) return Error::FromErrno(errno, "fsync journal " + path_);
  lines_ += json_texts.size();
  handover_.clear();  // whatever follows a handover marker voids it
  return Ok();
}

Result<void> Journal::WriteHandover(const std::string& state_json) {
  json state = json::parse(state_json, nullptr, false);
  if (state.is_discarded()) return Error{EINVAL, "handover state is not JSON"};
  json marker{{"note", "handover by pid " + std::to_string(::getpid()) +
                           ": changes left in place for the next start to adopt"},
              {"handover", state}};
  if (auto r = Append({marker.dump()}); !r) return r;
  handover_ = state.dump();
  return Ok();
}

Result<void> Journal::ConsumeHandover(const std::string& note) {
  return Append({json{{"note", note}}.dump()});
}

Result<uint64_t> Journal::Begin(JournalEntry entry) {
  auto seqs = BeginAll({std::move(entry)});
  if (!seqs) return seqs.error();
  return seqs->front();
}

Result<std::vector<uint64_t>> Journal::BeginAll(std::vector<JournalEntry> entries) {
  std::vector<std::string> texts;
  std::vector<uint64_t> seqs;
  uint64_t seq = next_seq_;
  for (JournalEntry& e : entries) {
    FillCgroupIds(e);
    e.seq = seq++;
    e.applied = false;
    e.undone = false;
    texts.push_back(EntryJson(e).dump());
    seqs.push_back(e.seq);
  }
  if (auto r = Append(texts); !r) return r.error();
  next_seq_ = seq;
  for (JournalEntry& e : entries) entries_.push_back(std::move(e));
  return seqs;
}

Result<void> Journal::Mark(const char* mark, const std::vector<uint64_t>& in) {
  // An "undone" mark only for records still outstanding: one given up to drift (drift.h) may be
  // marked again by its actuator, after a compaction dropped it too (an unknown-record mark).
  std::vector<uint64_t> seqs = in;
  if (std::string(mark) == "undone") {
    std::set<uint64_t> open;
    for (const JournalEntry& e : entries_)
      if (!e.undone) open.insert(e.seq);
    std::erase_if(seqs, [&](uint64_t s) { return !open.count(s); });
  }
  if (seqs.empty()) return Ok();
  const bool applied = std::string(mark) == "applied";
  const std::set<uint64_t> wanted(seqs.begin(), seqs.end());
  std::map<uint64_t, JournalEntry*> hit;
  for (JournalEntry& e : entries_)
    if (wanted.count(e.seq)) hit[e.seq] = &e;
  std::vector<std::string> texts;
  for (uint64_t s : seqs) {
    auto it = hit.find(s);
    JournalEntry* e = it == hit.end() ? nullptr : it->second;
    if (e && applied && e->kind == ChangeKind::kMakeDir) e->cgroup_id = CgroupDirId(e->path);
    texts.push_back(MarkJson(mark, e, s).dump());
  }
  if (auto r = Append(texts); !r) return r;
  for (auto& [_, e] : hit) (applied ? e->applied : e->undone) = true;
  return Ok();
}

Result<void> Journal::MarkApplied(uint64_t seq) { return Mark("applied", {seq}); }
Result<void> Journal::MarkUndone(uint64_t seq) { return Mark("undone", {seq}); }
Result<void> Journal::MarkAllApplied(const std::vector<uint64_t>& seqs) {
  return Mark("applied", seqs);
}
Result<void> Journal::MarkAllUndone(const std::vector<uint64_t>& seqs) {
  return Mark("undone", seqs);
}

std::vector<JournalEntry> Journal::Outstanding(const std::string& group) const {
  std::vector<JournalEntry> out;
  for (const JournalEntry& e : entries_)
    if (!e.undone && (group.empty() || e.group == group)) out.push_back(e);
  return out;
}

std::vector<JournalEntry> Journal::All(const std::string& group) const {
  std::vector<JournalEntry> out;
  for (const JournalEntry& e : entries_)
    if (group.empty() || e.group == group) out.push_back(e);
  return out;
}

Result<void> Journal::CompactIfClean() {
  if (!Outstanding().empty() || !loaded_.corrupt.empty()) return Ok();
  if (::ftruncate(fd_.get(), 0) != 0) return Error::FromErrno(errno, "truncate journal " + path_);
  if (::fdatasync(fd_.get()) != 0) return Error::FromErrno(errno, "fsync journal " + path_);
  entries_.clear();
  loaded_.warnings.clear();
  lines_ = 0;
  return Ok();
}

Result<void> Journal::Compact(const std::string& proc_root) {
  if (!loaded_.corrupt.empty()) return Ok();
  std::vector<JournalEntry> keep;
  for (const JournalEntry& e : entries_) {
    if (e.undone) continue;
    bool task = e.kind == ChangeKind::kMoveTask || e.kind == ChangeKind::kSchedAttr ||
                e.kind == ChangeKind::kAffinity;
    if (task) {
      auto st = ReadTaskStat(proc_root, e.tid);
      if (!st || st->start_time != e.start_time) continue;  // exited: nothing left to restore
    }
    keep.push_back(e);
  }
  std::string text;
  size_t lines = 0;
  for (const JournalEntry& e : keep) {
    text += EncodeJournalLine(EntryJson(e).dump()) + "\n";
    lines++;
    if (e.applied) {
      text += EncodeJournalLine(MarkJson("applied", &e, e.seq).dump()) + "\n";
      lines++;
    }
  }
  const std::string tmp = path_ + ".tmp";
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out.valid()) return Error::FromErrno(errno, "open " + tmp);
  if (::write(out.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return Error::FromErrno(errno ? errno : EIO, "write " + tmp);
  if (::fsync(out.get()) != 0) return Error::FromErrno(errno, "fsync " + tmp);
  if (::rename(tmp.c_str(), path_.c_str()) != 0)
    return Error::FromErrno(errno, "rename " + tmp + " to " + path_);
  if (auto r = FsyncDir(state_dir_); !r) return r;
  fd_.reset(::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
  if (!fd_.valid()) return Error::FromErrno(errno, "reopen journal " + path_);
  entries_ = std::move(keep);
  lines_ = lines;
  loaded_.warnings.clear();
  return Ok();
}

Result<void> Journal::MaybeCompact(const std::string& proc_root, size_t max_lines) {
  if (lines_ <= max_lines) return Ok();
  return Compact(proc_root);
}

Result<std::string> SetJournalAside(const std::string& state_dir) {
  auto lock = LockStateDir(state_dir);
  if (!lock) return lock.error();
  std::string from = JoinPath(state_dir, Journal::kFileName);
  std::string to = from + ".aside-" + std::to_string(::time(nullptr));
  if (::rename(from.c_str(), to.c_str()) != 0)
    return Error::FromErrno(errno, "rename " + from + " to " + to);
  if (auto r = FsyncDir(state_dir); !r) return r.error();
  return to;
}

}  // namespace sw
