// Open-loop load generator for memcached (text protocol over TCP), the latency-critical service
// of bench/experiment/run.sh. Requests are sent at a fixed arrival rate, round-robin over
// several connections; each request's latency is measured from its SCHEDULED send time, so a
// stalled server (or a stalled generator) shows up as queueing instead of being hidden by sending
// less (coordinated omission). One thread, epoll; run it at a real-time priority so it stands in
// for a client on another machine.
//
//   sw_mc_loadgen --port P [--host 127.0.0.1] [--rate 5000] [--connections 8] [--seconds 10]
//                 [--window-ms 250] [--measure-after-s 0] [--value-bytes 100] --out FILE.json
//
// The JSON has the percentiles (µs) over requests scheduled at or after --measure-after-s
// ("measured") and over the whole run ("all"), the achieved rate, how late the generator itself
// sent (a self-check), and per window (by scheduled time): start (Unix s), count, p50, p99.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

long long MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double UnixNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "sw_mc_loadgen: %s\n", what.c_str());
  std::exit(1);
}

struct Options {
  std::string host = "127.0.0.1", out;
  int port = 0, connections = 8, value_bytes = 100;
  double rate = 5000, seconds = 10, window_ms = 250, measure_after_s = 0;
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (i + 1 >= argc) Die("missing value after " + a);
    std::string v = argv[++i];
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    bool num = end && *end == '\0' && !v.empty();
    if (a == "--host")
      o.host = v;
    else if (a == "--out")
      o.out = v;
    else if (!num)
      Die(a + " needs a number, got \"" + v + "\"");
    else if (a == "--port")
      o.port = static_cast<int>(d);
    else if (a == "--connections")
      o.connections = static_cast<int>(d);
    else if (a == "--value-bytes")
      o.value_bytes = static_cast<int>(d);
    else if (a == "--rate")
      o.rate = d;
    else if (a == "--seconds")
      o.seconds = d;
    else if (a == "--window-ms")
      o.window_ms = d;
    else if (a == "--measure-after-s")
      o.measure_after_s = d;
    else
      Die("unknown argument " + a);
  }
  if (o.port <= 0 || o.out.empty()) Die("--port and --out are required");
  if (o.rate <= 0 || o.seconds <= 0 || o.connections < 1 || o.window_ms <= 0)
    Die("--rate, --seconds, --window-ms must be > 0 and --connections >= 1");
  return o;
}

int Connect(const Options& o) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Die(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &a.sin_addr) != 1) Die("bad --host " + o.host);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    Die("connecting to " + o.host + ":" + std::to_string(o.port) + ": " + std::strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Blocking request/response for the set before the run.
void SetKey(int fd, int value_bytes) {
  std::string req = "set sw:k 0 0 " + std::to_string(value_bytes) + "\r\n" +
                    std::string(static_cast<size_t>(value_bytes), 'x') + "\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size()))
    Die("set: short write");
  std::string got;
  char buf[256];
  while (got.find("\r\n") == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) Die("set: no answer from memcached");
    got.append(buf, static_cast<size_t>(n));
  }
  if (got.rfind("STORED", 0) != 0) Die("set: memcached answered " + got);
}

struct Conn {
  int fd = -1;
  std::deque<long long> scheduled;  // send times of requests awaiting their answer
  std::string out, in;
};

struct Sample {
  long long sched, latency;
};

long long Pct(std::vector<long long>& v, double q) {
  if (v.empty()) return -1;
  size_t k = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// {"count":..,"p50_us":..,...} of the latencies (ns) in v.
std::string Summary(std::vector<long long> v) {
  char b[256];
  long long mx = v.empty() ? -1 : *std::max_element(v.begin(), v.end());
  std::snprintf(b, sizeof b,
                "{\"count\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}",
                v.size(), Pct(v, 0.5) / 1e3, Pct(v, 0.99) / 1e3, Pct(v, 0.999) / 1e3, mx / 1e3);
  return b;
}

void Flush(Conn& c) {
  while (!c.out.empty()) {
    ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) Die(std::string("send: ") + std::strerror(errno));
    c.out.erase(0, static_cast<size_t>(n));
  }
}

// Reads what is there; every "END\r\n" answers the oldest outstanding request.
void Drain(Conn& c, std::vector<Sample>& samples) {
  char buf[65536];
  for (;;) {
    ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) Die("memcached closed the connection");
    c.in.append(buf, static_cast<size_t>(n));
  }
  long long now = MonoNs();
  size_t pos;
  while ((pos = c.in.find("END\r\n")) != std::string::npos) {
    c.in.erase(0, pos + 5);
    if (c.scheduled.empty()) Die("an answer nobody asked for");
    samples.push_back({c.scheduled.front(), now - c.scheduled.front()});
    c.scheduled.pop_front();
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  prctl(PR_SET_TIMERSLACK, 1UL);  // wake at the scheduled send time, not up to 50 µs later
  std::vector<Conn> conns(static_cast<size_t>(o.connections));
  int ep = epoll_create1(0);
  for (size_t i = 0; i < conns.size(); i++) {
    conns[i].fd = Connect(o);
    if (i == 0) SetKey(conns[i].fd, o.value_bytes);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  const std::string req = "get sw:k\r\n";
  const long long gap = static_cast<long long>(1e9 / o.rate);
  const long long start = MonoNs() + 1000000;
  const double start_unix = UnixNow() + 0.001;
  const long long stop = start + static_cast<long long>(o.seconds * 1e9);
  std::vector<Sample> samples;
  std::vector<long long> send_late;
  long long next = start, sent = 0;
  epoll_event evs[64];
  while (next < stop) {
    long long now = MonoNs();
    while (next <= now && next < stop) {
      Conn& c = conns[static_cast<size_t>(sent % o.connections)];
      c.scheduled.push_back(next);
      c.out += req;
      Flush(c);
      send_late.push_back(now - next);
      sent++;
      next = start + sent * gap;
    }
    long long wait = std::max(0LL, next - MonoNs());
    timespec ts{static_cast<time_t>(wait / 1000000000LL), static_cast<long>(wait % 1000000000LL)};
    int n = epoll_pwait2(ep, evs, 64, &ts, nullptr);
    for (int i = 0; i < n; i++) Drain(conns[evs[i].data.u64], samples);
    for (auto& c : conns) Flush(c);
  }
  // Answers still due: wait up to 2 s; what never comes counts with the latency it had by then.
  const long long drain_end = MonoNs() + 2000000000LL;
  auto outstanding = [&] {
    size_t k = 0;
    for (auto& c : conns) k += c.scheduled.size();
    return k;
  };
  while (outstanding() > 0 && MonoNs() < drain_end) {
    timespec ts{0, 10000000};
    int n = epoll_pwait2(ep, evs, 64, &ts, nullptr);
    for (int i = 0; i < n; i++) Drain(conns[evs[i].data.u64], samples);
    for (auto& c : conns) Flush(c);
  }
  const size_t unanswered = outstanding();
  const long long end = MonoNs();
  for (auto& c : conns)
    for (long long s : c.scheduled) samples.push_back({s, end - s});

  const long long measure_from = start + static_cast<long long>(o.measure_after_s * 1e9);
  const long long wgap = static_cast<long long>(o.window_ms * 1e6);
  std::vector<long long> all, measured;
  std::vector<std::vector<long long>> windows(static_cast<size_t>((stop - start) / wgap + 1));
  for (const auto& s : samples) {
    all.push_back(s.latency);
    if (s.sched >= measure_from) measured.push_back(s.latency);
    windows[static_cast<size_t>((s.sched - start) / wgap)].push_back(s.latency);
  }
  FILE* f = std::fopen(o.out.c_str(), "w");
  if (!f) Die("cannot write " + o.out + ": " + std::strerror(errno));
  size_t completed = samples.size() - unanswered;
  std::fprintf(f,
               "{\"start_unix\":%.6f,\"seconds\":%.3f,\"connections\":%d,\"rate_requested\":%.1f,"
               "\"rate_achieved\":%.1f,\"sent\":%lld,\"completed\":%zu,\"unanswered\":%zu,"
               "\"measure_after_s\":%.3f,\"window_ms\":%.1f,\n\"send_late_us\":%s,\n"
               "\"measured\":%s,\n\"all\":%s,\n\"windows\":[",
               start_unix, o.seconds, o.connections, o.rate, completed / o.seconds, sent, completed,
               unanswered, o.measure_after_s, o.window_ms, Summary(send_late).c_str(),
               Summary(measured).c_str(), Summary(all).c_str());
  for (size_t w = 0; w < windows.size(); w++) {
    auto& v = windows[w];
    std::fprintf(f, "%s\n{\"t\":%.3f,\"count\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f}", w ? "," : "",
                 start_unix + static_cast<double>(w * wgap) / 1e9, v.size(), Pct(v, 0.5) / 1e3,
                 Pct(v, 0.99) / 1e3);
  }
  std::fprintf(f, "]}\n");
  std::fclose(f);
  return 0;
}
