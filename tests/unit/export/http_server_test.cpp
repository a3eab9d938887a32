// HttpServer over loopback sockets: routing, HEAD, 404/405, gzip negotiation, handler failures,
// bind errors, and that stalled clients neither block /metrics nor stay connected.
#include "export/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/sha256.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ADD_FAILURE() << "connect to 127.0.0.1:" << port << ": " << strerror(errno);
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

// Sends `raw` and reads until the server closes (it never keeps connections alive).
std::string Exchange(int port, const std::string& raw) {
  int fd = Connect(port);
  if (fd < 0) return "";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
  close(fd);
  return out;
}

Reply Parse(const std::string& raw) {
  Reply r;
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) {
    ADD_FAILURE() << "no complete response header in: " << raw;
    return r;
  }
  r.body = raw.substr(end + 4);
  size_t line_end = raw.find("\r\n");
  std::string status_line = raw.substr(0, line_end);
  if (status_line.rfind("HTTP/1.1 ", 0) == 0) r.status = std::stoi(status_line.substr(9, 3));
  size_t pos = line_end + 2;
  while (pos < end) {
    size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    pos = eol + 2;
  }
  return r;
}

Reply Request(int port, const std::string& method, const std::string& path,
              const std::string& extra_headers = "") {
  return Parse(
      Exchange(port, method + " " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n"));
}

std::string Gzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END) << "body is not a complete gzip stream";
  inflateEnd(&z);
  return out;
}

// Exposition-like text, big enough that gzip matters.
std::string MetricsText() {
  std::string s;
  for (int i = 0; i < 2000; i++)
    s += "schedwarden_runq_latency_seconds_bucket{workload=\"/w" + std::to_string(i % 37) +
         "\",le=\"8.192e-06\"} " + std::to_string(i * 7) + "\n";
  return s;
}

HttpHandler Fixed(std::string body, std::string gzip = "") {
  auto b = std::make_shared<const std::string>(std::move(body));
  auto g = gzip.empty() ? nullptr : std::make_shared<const std::string>(std::move(gzip));
  return [b, g](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = b;
    r.gzip_body = g;
    return r;
  };
}

std::unique_ptr<HttpServer> StartOrDie(std::map<std::string, HttpHandler> routes,
                                       HttpServerOptions options = {}) {
  options.listen = "127.0.0.1:0";
  auto s = HttpServer::Start(options, std::move(routes));
  if (!s) {
    ADD_FAILURE() << s.error().message;
    return nullptr;
  }
  return std::move(s.value());
}

TEST(HttpServer, PortZeroPicksAFreePortAndServesTheExactRoute) {
  const std::string text = MetricsText();
  auto s = StartOrDie({{"/metrics", Fixed(text)}});
  ASSERT_TRUE(s);
  ASSERT_EQ(s->ListeningPorts().size(), 1u);
  int port = s->ListeningPorts()[0];
  EXPECT_GT(port, 0);

  Reply r = Request(port, "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.headers["content-length"], std::to_string(text.size()));
  EXPECT_EQ(r.body, text);
  EXPECT_EQ(r.headers.count("content-encoding"), 0u);
  // A query string does not change the path.
  EXPECT_EQ(Request(port, "GET", "/metrics?name[]=x").body, text);
}

TEST(HttpServer, HandlerSeesMethodPathAndStatusIsPassedThrough) {
  std::atomic<int> calls{0};
  std::string seen;
  auto s = StartOrDie({{"/readyz", [&](const HttpRequest& req) {
                          calls++;
                          seen = req.method + " " + req.path;
                          HttpResponse r;
                          r.status = 503;
                          r.body = std::make_shared<const std::string>("BPF not attached yet\n");
                          return r;
                        }}});
  ASSERT_TRUE(s);
  Reply r = Request(s->ListeningPorts()[0], "GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(r.body, "BPF not attached yet\n");
  EXPECT_EQ(seen, "GET /readyz");
  EXPECT_EQ(calls, 1);
}

TEST(HttpServer, HeadSendsTheSameHeadersWithoutBody) {
  const std::string text = MetricsText();
  auto s = StartOrDie({{"/metrics", Fixed(text, Gzip(text))}});
  ASSERT_TRUE(s);
  int port = s->ListeningPorts()[0];
  for (std::string ae : {"", "Accept-Encoding: gzip\r\n"}) {
    Reply get = Request(port, "GET", "/metrics", ae);
    Reply head = Request(port, "HEAD", "/metrics", ae);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.body, "") << ae;
    get.headers.erase("date");
    head.headers.erase("date");
    EXPECT_EQ(head.headers, get.headers) << ae;
    EXPECT_EQ(head.headers["content-length"], std::to_string(get.body.size())) << ae;
  }
}

TEST(HttpServer, UnknownPathIs404AndOtherMethodsAre405WithAllow) {
  auto s = StartOrDie({{"/metrics", Fixed("m\n")}, {"/healthz", Fixed("ok\n")}});
  ASSERT_TRUE(s);
  int port = s->ListeningPorts()[0];
  for (std::string path :
       {"/", "/metric", "/metrics/", "/metrics/x", "/healthzz", "/favicon.ico"}) {
    Reply r = Request(port, "GET", path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size())) << path;
    EXPECT_EQ(Request(port, "HEAD", path).status, 404) << path;
  }
  for (std::string method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    Reply r = Request(port, method, "/metrics",
                      method == "POST" || method == "PUT" ? "Content-Length: 0\r\n" : "");
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.headers["allow"], "GET, HEAD") << method;
    EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size())) << method;
  }
  EXPECT_EQ(Request(port, "GET", "/healthz").body, "ok\n");
}

TEST(HttpServer, AcceptEncodingParsing) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));
  EXPECT_TRUE(AcceptsGzip("deflate, GZip;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
  EXPECT_TRUE(AcceptsGzip("x-gzip"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_TRUE(AcceptsGzip("identity, *;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("gzip ; q=1"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("deflate, br"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0.000"));
  EXPECT_FALSE(AcceptsGzip("gzip; q=0, *"));  // explicit refusal beats the wildcard
  EXPECT_FALSE(AcceptsGzip("*;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=nonsense"));
  EXPECT_FALSE(AcceptsGzip("gzipx, xgzip"));
}

TEST(HttpServer, GzipBodyIsSentOnlyWhenAccepted) {
  const std::string text = MetricsText();
  const std::string gz = Gzip(text);
  ASSERT_LT(gz.size(), text.size());
  auto s = StartOrDie({{"/metrics", Fixed(text, gz)}, {"/healthz", Fixed("ok\n")}});
  ASSERT_TRUE(s);
  int port = s->ListeningPorts()[0];

  for (std::string ae : {"gzip", "deflate, gzip;q=0.5", "*"}) {
    Reply r = Request(port, "GET", "/metrics", "Accept-Encoding: " + ae + "\r\n");
    EXPECT_EQ(r.status, 200) << ae;
    EXPECT_EQ(r.headers["content-encoding"], "gzip") << ae;
    EXPECT_EQ(r.headers["vary"], "Accept-Encoding") << ae;
    EXPECT_EQ(r.headers["content-length"], std::to_string(gz.size())) << ae;
    EXPECT_EQ(Gunzip(r.body), text) << ae;
  }
  for (std::string ae : {"", "Accept-Encoding: identity\r\n", "Accept-Encoding: gzip;q=0\r\n",
                         "Accept-Encoding: deflate\r\n"}) {
    Reply r = Request(port, "GET", "/metrics", ae);
    EXPECT_EQ(r.headers.count("content-encoding"), 0u) << ae;
    EXPECT_EQ(r.headers["vary"], "Accept-Encoding") << ae;  // the choice still depended on it
    EXPECT_EQ(r.body, text) << ae;
  }
  // No gzip body: plain, whatever the client accepts.
  Reply r = Request(port, "GET", "/healthz", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(r.headers.count("content-encoding"), 0u);
  EXPECT_EQ(r.headers.count("vary"), 0u);
  EXPECT_EQ(r.body, "ok\n");
}

TEST(HttpServer, HandlerSeesAcceptsGzip) {
  std::vector<bool> seen;
  std::mutex mu;
  auto s = StartOrDie({{"/x", [&](const HttpRequest& req) {
                          std::lock_guard<std::mutex> lock(mu);
                          seen.push_back(req.accepts_gzip);
                          return HttpResponse{};
                        }}});
  ASSERT_TRUE(s);
  int port = s->ListeningPorts()[0];
  Reply r = Request(port, "GET", "/x", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], "0");  // null body: empty
  Request(port, "GET", "/x", "Accept-Encoding: gzip;q=0\r\n");
  Request(port, "GET", "/x");
  EXPECT_EQ(seen, (std::vector<bool>{true, false, false}));
}

TEST(HttpServer, HandlerExceptionIs500AndTheServerKeepsServing) {
  std::atomic<int> calls{0};
  auto s = StartOrDie({{"/metrics",
                        [&](const HttpRequest&) -> HttpResponse {
                          if (calls++ == 0) throw std::runtime_error("snapshot missing");
                          throw 42;  // not even a std::exception
                        }},
                       {"/healthz", Fixed("ok\n")}});
  ASSERT_TRUE(s);
  int port = s->ListeningPorts()[0];
  for (int i = 0; i < 2; i++) {
    Reply r = Request(port, "GET", "/metrics");
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body, "internal error\n");
    EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
  }
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Request(port, "GET", "/healthz").body, "ok\n");
}

// Runs `fn` with stderr redirected to a file and returns what was written there.
template <typename F>
std::string CaptureStderr(F fn) {
  char path[] = "/tmp/http-server-test-stderr-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string out;
  char buf[4096];
  ssize_t n;
  lseek(fd, 0, SEEK_SET);
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  unlink(path);
  return out;
}

TEST(HttpServer, BindErrorsNameTheAddressAndTheCause) {
  auto first = StartOrDie({});
  ASSERT_TRUE(first);
  const std::string taken = "127.0.0.1:" + std::to_string(first->ListeningPorts()[0]);
  std::string err = CaptureStderr([&] {
    HttpServerOptions o;
    o.listen = taken;
    auto second = HttpServer::Start(o, {});
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, EADDRINUSE);
    EXPECT_THAT(second.error().message, HasSubstr("cannot serve HTTP on " + taken));
    EXPECT_THAT(second.error().message, HasSubstr("Address already in use"));
    EXPECT_THAT(second.error().message, HasSubstr("--listen"));
  });
  EXPECT_EQ(err, "") << "civetweb wrote to stderr";

  for (std::string bad :
       {"localhost", "9750", ":9750", "127.0.0.1:", "127.0.0.1:port", "127.0.0.1:99999",
        "127.0.0.1:1,127.0.0.2:2", "127.0.0.1:9750s", "[::1:9750"}) {
    HttpServerOptions o;
    o.listen = bad;
    auto s = HttpServer::Start(o, {});
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, EINVAL) << bad;
    EXPECT_THAT(s.error().message, HasSubstr("'" + bad + "'"));
  }
  HttpServerOptions o;
  o.listen = "nosuchhost.invalid:9750";
  auto s = HttpServer::Start(o, {});
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("nosuchhost.invalid:9750"));
  o.listen = "127.0.0.1:0";
  o.threads = 0;
  EXPECT_FALSE(HttpServer::Start(o, {}));
}

TEST(HttpServer, Ipv6LiteralServesOrSaysWhyNot) {
  HttpServerOptions o;
  o.listen = "[::1]:0";
  auto s = HttpServer::Start(o, {{"/healthz", Fixed("ok\n")}});
  if (s) {
    EXPECT_GT(s.value()->ListeningPorts().at(0), 0);
  } else {
    // Debian's libcivetweb is built without USE_IPV6.
    EXPECT_EQ(s.error().code, EAFNOSUPPORT);
    EXPECT_THAT(s.error().message, HasSubstr("'[::1]:0'"));
    EXPECT_THAT(s.error().message, HasSubstr("IPv6"));
  }
}

TEST(HttpServer, ClientThatResetsMidResponseDoesNotKillTheProcess) {
  // Several MB: the server is still writing when the client resets; without SIGPIPE ignored (or
  // MSG_NOSIGNAL) the write would kill the test process.
  const std::string big(8 << 20, 'x');
  auto s = StartOrDie({{"/metrics", Fixed(big)}});
  ASSERT_TRUE(s);
  int port = s->ListeningPorts()[0];
  for (int i = 0; i < 5; i++) {
    int fd = Connect(port);
    ASSERT_GE(fd, 0);
    std::string req = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
    send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[1024];
    recv(fd, buf, sizeof(buf), 0);  // the response has started
    linger l{1, 0};                 // close with RST
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
  }
  EXPECT_EQ(Request(port, "GET", "/metrics").body.size(), big.size());
}

bool ClosedByPeer(int fd) {
  char buf[256];
  ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// Stalled clients (half a request, nothing at all, or one byte every 100 ms) hold at most their
// own worker, and only until the request timeout: /metrics still answers at once, and the server
// closes the stalled connections itself.
TEST(HttpServer, StalledClientsDoNotBlockMetricsAndAreDropped) {
  const std::string text = MetricsText();
  HttpServerOptions options;  // the defaults the agent uses: threads, 2 s request timeout
  ASSERT_EQ(options.request_timeout, milliseconds(2000));
  auto s = StartOrDie({{"/metrics", Fixed(text)}}, options);
  ASSERT_TRUE(s);
  int port = s->ListeningPorts()[0];

  constexpr int kStalled = 50;
  std::vector<int> fds;
  std::vector<int> tricklers;
  for (int i = 0; i < kStalled; i++) {
    int fd = Connect(port);
    ASSERT_GE(fd, 0);
    if (i % 3 == 0) {
      send(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-", 38, MSG_NOSIGNAL);
    } else if (i % 3 == 1) {
      send(fd, "G", 1, MSG_NOSIGNAL);
      tricklers.push_back(fd);
    }  // else: sends nothing
    fds.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      for (int fd : tricklers) send(fd, "E", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  const auto stalled_since = Clock::now();
  std::this_thread::sleep_for(milliseconds(200));  // let the server hand them to workers

  auto t0 = Clock::now();
  Reply r = Request(port, "GET", "/metrics");
  auto took = Clock::now() - t0;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, text);
  // Well below the 2 s request timeout: had the stalled clients held the workers, /metrics would
  // have waited for at least one of them to time out.
  EXPECT_LT(took, milliseconds(1000))
      << std::chrono::duration_cast<milliseconds>(took).count() << " ms";

  // The server drops every stalled connection after the request timeout (trickling bytes does
  // not extend it).
  std::vector<bool> closed(fds.size(), false);
  size_t n_closed = 0;
  while (n_closed < fds.size() && Clock::now() - stalled_since < milliseconds(4000)) {
    for (size_t i = 0; i < fds.size(); i++) {
      if (!closed[i] && ClosedByPeer(fds[i])) {
        closed[i] = true;
        n_closed++;
        EXPECT_GT(Clock::now() - stalled_since, milliseconds(1000))
            << "connection " << i << " closed before the request timeout";
      }
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(n_closed, fds.size()) << "stalled connections still open 4 s after connecting";
  stop = true;
  trickle.join();
  for (int fd : fds) close(fd);
}

TEST(HttpServer, StopsQuickly) {
  auto s = StartOrDie({{"/metrics", Fixed("m\n")}});
  ASSERT_TRUE(s);
  int port = s->ListeningPorts()[0];
  EXPECT_EQ(Request(port, "GET", "/metrics").body, "m\n");
  auto t0 = Clock::now();
  s.reset();
  auto took = Clock::now() - t0;
  // civetweb alone needs up to 2 s (its accept loop polls in 2 s slices).
  EXPECT_LT(took, milliseconds(500))
      << std::chrono::duration_cast<milliseconds>(took).count() << " ms";
  // Nothing listens any more.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  close(fd);
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

// "Authorization: Basic ..." for user:password (RFC 7617), built here, not by the server.
std::string BasicAuth(const std::string& user_pass) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < user_pass.size(); i += 3) {
    uint32_t v = (uint8_t(user_pass[i]) << 16) | (uint8_t(user_pass[i + 1]) << 8) |
                 uint8_t(user_pass[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < user_pass.size()) {
    uint32_t v = uint8_t(user_pass[i]) << 16;
    if (i + 1 < user_pass.size()) v |= uint8_t(user_pass[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < user_pass.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return "Authorization: Basic " + out + "\r\n";
}

TEST(HttpServerAuth, MetricsNeedsTheRightCredentialsProbesDoNot) {
  HttpServerOptions o;
  // printf %s 's3cret pass' | sha256sum (coreutils), not the server's own hash.
  o.basic_auth = {
      {"prometheus", "099a754c8251fb8a001b6642afb5259bd2edb705677b939f6ef4c00cab1e6389"}};
  auto s = StartOrDie(
      {{"/metrics", Fixed("m 1\n")}, {"/healthz", Fixed("ok\n")}, {"/readyz", Fixed("ready\n")}},
      o);
  ASSERT_TRUE(s);
  const int port = s->ListeningPorts()[0];
  Reply none = Request(port, "GET", "/metrics");
  EXPECT_EQ(none.status, 401);
  EXPECT_THAT(none.headers["www-authenticate"], HasSubstr("Basic realm=\"schedwarden\""));
  EXPECT_THAT(none.body, Not(HasSubstr("m 1")));
  EXPECT_EQ(Request(port, "GET", "/metrics", BasicAuth("prometheus:wrong")).status, 401);
  EXPECT_EQ(Request(port, "GET", "/metrics", BasicAuth("other:s3cret pass")).status, 401);
  EXPECT_EQ(Request(port, "GET", "/metrics", BasicAuth("prometheus:s3cret pas")).status, 401);
  EXPECT_EQ(Request(port, "GET", "/metrics", "Authorization: Basic !!!\r\n").status, 401);
  EXPECT_EQ(Request(port, "GET", "/metrics", "Authorization: Bearer x\r\n").status, 401);
  // Unknown paths do not tell they are unknown without credentials.
  EXPECT_EQ(Request(port, "GET", "/nope").status, 401);
  Reply ok = Request(port, "GET", "/metrics", BasicAuth("prometheus:s3cret pass"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "m 1\n");
  EXPECT_EQ(Request(port, "HEAD", "/metrics", BasicAuth("prometheus:s3cret pass")).status, 200);
  EXPECT_EQ(Request(port, "GET", "/healthz").status, 200);
  EXPECT_EQ(Request(port, "GET", "/readyz").body, "ready\n");
}

TEST(HttpServerAuth, Sha256MatchesKnownVectors) {
  // FIPS 180-4 / NIST examples, and a two-block message.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

class BasicAuthFile : public ::testing::Test {
 protected:
  std::string Write(const std::string& text, mode_t mode = 0600) {
    std::string p = tree_.Write("auth", text);
    chmod(p.c_str(), mode);
    return p;
  }
  test::TempTree tree_;
};

TEST_F(BasicAuthFile, ReadsUsersAndSkipsCommentsAndBlankLines) {
  auto users = LoadBasicAuthFile(Write("# scrapers\n\nprometheus:sha256:" + std::string(64, 'a') +
                                       "\n  vm:sha256:" + std::string(64, 'B') + "  \n"));
  ASSERT_TRUE(users) << users.error().message;
  EXPECT_EQ(users->size(), 2u);
  EXPECT_EQ(users->at("prometheus"), std::string(64, 'a'));
  EXPECT_EQ(users->at("vm"), std::string(64, 'b'));
}

TEST_F(BasicAuthFile, BadLinesNameFileAndLine) {
  auto bad = LoadBasicAuthFile(Write("ok:sha256:" + std::string(64, 'a') + "\nbob:secret\n"));
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("auth:2: expected user:sha256:"));
  auto short_hash = LoadBasicAuthFile(Write("bob:sha256:abc\n"));
  ASSERT_FALSE(short_hash);
  EXPECT_THAT(short_hash.error().message, HasSubstr("auth:1: the hash must be 64 hex digits"));
  auto twice = LoadBasicAuthFile(
      Write("a:sha256:" + std::string(64, 'a') + "\na:sha256:" + std::string(64, 'b') + "\n"));
  ASSERT_FALSE(twice);
  EXPECT_THAT(twice.error().message, HasSubstr("listed twice"));
  auto empty = LoadBasicAuthFile(Write("# nobody\n"));
  ASSERT_FALSE(empty);
  EXPECT_THAT(empty.error().message, HasSubstr("no user"));
}

TEST_F(BasicAuthFile, WorldWritableFileIsRefused) {
  auto r = LoadBasicAuthFile(Write("a:sha256:" + std::string(64, 'a') + "\n", 0666));
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("mode 0666"));
  EXPECT_THAT(r.error().message, HasSubstr("chmod go-w"));
}

}  // namespace
}  // namespace sw
