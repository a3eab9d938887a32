#include "export/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "common/file_trust.h"
#include "common/fs.h"
#include "common/sha256.h"

namespace sw {
namespace {

// Non-null while mg_start2 runs on this thread: civetweb's start-up messages ("cannot bind to
// ...: 98 (Address already in use)") are collected into the Error that Start returns.
thread_local std::vector<std::string>* t_start_messages = nullptr;

int LogMessage(const mg_connection*, const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) m.pop_back();
  if (t_start_messages)
    t_start_messages->push_back(m);
  else
    spdlog::warn("http: {}", m);
  return 1;  // handled: civetweb writes nothing itself
}

Error StartError(const std::string& listen, const std::vector<std::string>& messages,
                 const char* text) {
  std::string why =
      messages.empty() ? (text[0] ? text : "civetweb could not start") : messages.front();
  if (why.find("in use") != std::string::npos)
    return Error{EADDRINUSE, "cannot serve HTTP on " + listen + ": " + why +
                                 " (is another schedwarden or exporter using that port? choose "
                                 "another with --listen)"};
  if (why.find("assign requested address") != std::string::npos)
    return Error{EADDRNOTAVAIL, "cannot serve HTTP on " + listen + ": " + why +
                                    " (that address is not on this machine; choose another with "
                                    "--listen)"};
  if (why.find("port spec") != std::string::npos)
    return Error{EINVAL, "cannot serve HTTP on " + listen +
                             ": the host is neither an IPv4 address nor a name that resolves to "
                             "one (choose another with --listen)"};
  return Error{EINVAL, "cannot serve HTTP on " + listen + ": " + why};
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "host:port" with a numeric port, IPv6 hosts in brackets. civetweb's listening_ports syntax is
// richer (lists, "s"/"r" suffixes, bare ports); only this form is accepted.
Result<void> CheckListen(const std::string& addr) {
  Error bad{EINVAL, "listen address '" + addr + "' is not host:port (for example 127.0.0.1:9750)"};
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size() ||
      addr.size() - colon - 1 > 5 ||
      addr.find_first_not_of("0123456789", colon + 1) != std::string::npos)
    return bad;
  if (std::atoi(addr.c_str() + colon + 1) > 65535)
    return Error{EINVAL, "listen address '" + addr + "': port is above 65535"};
  std::string host = addr.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']' ||
        host.find_first_not_of("0123456789abcdefABCDEF:.", 1) != host.size() - 1)
      return bad;
    if (!mg_check_feature(MG_FEATURES_IPV6))
      return Error{EAFNOSUPPORT, "listen address '" + addr +
                                     "': this build's civetweb (libcivetweb) has no IPv6 "
                                     "support; listen on an IPv4 address instead"};
    return Ok();
  }
  if (host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
      std::string::npos)
    return bad;
  return Ok();
}

void Send(mg_connection* conn, bool head, int status, const std::string& content_type,
          const std::string& body, bool gzip, bool vary, const char* allow = nullptr) {
  std::string length = std::to_string(body.size());
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", content_type.c_str(),
                         static_cast<int>(content_type.size()));
  mg_response_header_add(conn, "Content-Length", length.c_str(), static_cast<int>(length.size()));
  if (gzip) mg_response_header_add(conn, "Content-Encoding", "gzip", -1);
  if (vary) mg_response_header_add(conn, "Vary", "Accept-Encoding", -1);
  if (allow) mg_response_header_add(conn, "Allow", allow, -1);
  mg_response_header_send(conn);
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
}

const std::string kEmpty;

// RFC 4648 base64 (padding optional); nullopt on any other character.
std::optional<std::string> Base64Decode(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z')
      v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z')
      v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9')
      v = ch - '0' + 52;
    else if (ch == '+')
      v = 62;
    else if (ch == '/')
      v = 63;
    else if (ch == '=')
      break;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// Whether the request's Authorization header holds one of `users`' credentials.
bool Authorized(mg_connection* conn, const std::map<std::string, std::string>& users) {
  const char* h = mg_get_header(conn, "Authorization");
  if (!h) return false;
  std::string header = Trim(h);
  if (header.size() < 6 || Lower(header.substr(0, 6)) != "basic ") return false;
  auto decoded = Base64Decode(Trim(header.substr(6)));
  if (!decoded) return false;
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  auto user = users.find(decoded->substr(0, colon));
  // Hash even for an unknown user, so timing does not tell which names exist.
  std::string hash = Sha256Hex(decoded->substr(colon + 1));
  return user != users.end() && ConstantTimeEquals(hash, user->second);
}

// Connects to the server's own port and hangs up at once.
void Poke(const std::string& listen, int port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  bool v6 = !host.empty() && host.front() == '[';
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a->sin6_addr) != 1 ||
        IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
      a->sin6_addr = in6addr_loopback;
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1 || a->sin_addr.s_addr == INADDR_ANY)
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*a);
  }
  connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  close(fd);
}

}  // namespace

bool AcceptsGzip(const std::string& accept_encoding) {
  // The q of "gzip" if listed, else that of "*"; absent: not acceptable.
  double gzip_q = -1, star_q = -1;
  size_t pos = 0;
  while (pos <= accept_encoding.size()) {
    size_t comma = accept_encoding.find(',', pos);
    if (comma == std::string::npos) comma = accept_encoding.size();
    std::string item = accept_encoding.substr(pos, comma - pos);
    pos = comma + 1;
    size_t semi = item.find(';');
    std::string coding = Lower(Trim(item.substr(0, semi)));
    double q = 1;
    while (semi != std::string::npos) {
      size_t next = item.find(';', semi + 1);
      std::string param = Lower(Trim(item.substr(semi + 1, next - semi - 1)));
      if (param.rfind("q=", 0) == 0) {
        const char* begin = param.c_str() + 2;
        char* end = nullptr;
        q = std::strtod(begin, &end);
        if (end == begin || *end != '\0') q = 0;  // unparsable: do not risk gzip
      }
      semi = next;
    }
    if (coding == "gzip" || coding == "x-gzip")
      gzip_q = std::max(gzip_q, q);
    else if (coding == "*")
      star_q = std::max(star_q, q);
  }
  double q = gzip_q >= 0 ? gzip_q : star_q;
  return q > 0;
}

HttpServer::HttpServer(HttpServerOptions options, std::map<std::string, HttpHandler> routes)
    : options_(std::move(options)), routes_(std::move(routes)) {}

HttpServer::~HttpServer() {
  if (!ctx_) return;
  // civetweb's accept thread polls its listening sockets in 2 s slices and checks the stop flag
  // between them; a connection of our own wakes it so that mg_stop returns in milliseconds.
  std::vector<int> ports = ListeningPorts();
  std::atomic<bool> stopped{false};
  std::thread waker([&] {
    while (!stopped.load()) {
      for (int port : ports) Poke(options_.listen, port);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  mg_stop(ctx_);  // joins every civetweb thread: no handler runs after this
  stopped = true;
  waker.join();
}

int HttpServer::OnRequest(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  auto* self = static_cast<HttpServer*>(ri->user_data);
  HttpRequest req;
  req.method = ri->request_method ? ri->request_method : "";
  req.path = ri->local_uri ? ri->local_uri : "";
  const char* ae = mg_get_header(conn, "Accept-Encoding");
  req.accepts_gzip = ae && AcceptsGzip(ae);
  bool head = req.method == "HEAD";

  if (!self->options_.basic_auth.empty() && !self->options_.open_paths.count(req.path) &&
      !Authorized(conn, self->options_.basic_auth)) {
    // Before routing: without credentials, not even which paths exist is told.
    mg_response_header_start(conn, 401);
    mg_response_header_add(conn, "WWW-Authenticate",
                           "Basic realm=\"schedwarden\", charset=\"UTF-8\"", -1);
    mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
    mg_response_header_add(conn, "Content-Length", "13", -1);
    mg_response_header_send(conn);
    if (!head) mg_write(conn, "unauthorized\n", 13);
    return 401;
  }
  auto route = self->routes_.find(req.path);
  if (route == self->routes_.end()) {
    Send(conn, head, 404, "text/plain; charset=utf-8", "not found\n", false, false);
    return 404;
  }
  if (req.method != "GET" && !head) {
    Send(conn, false, 405, "text/plain; charset=utf-8", "method not allowed\n", false, false,
         "GET, HEAD");
    return 405;
  }
  HttpResponse resp;
  try {
    resp = route->second(req);
  } catch (const std::exception& e) {
    spdlog::error("http: {} {} failed: {}", req.method, req.path, e.what());
    Send(conn, head, 500, "text/plain; charset=utf-8", "internal error\n", false, false);
    return 500;
  } catch (...) {
    spdlog::error("http: {} {} failed: unknown exception", req.method, req.path);
    Send(conn, head, 500, "text/plain; charset=utf-8", "internal error\n", false, false);
    return 500;
  }
  bool gzip = req.accepts_gzip && resp.gzip_body;
  const std::string& body = gzip ? *resp.gzip_body : resp.body ? *resp.body : kEmpty;
  Send(conn, head, resp.status, resp.content_type, body, gzip, resp.gzip_body != nullptr);
  return resp.status;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      std::map<std::string, HttpHandler> routes) {
  if (auto ok = CheckListen(options.listen); !ok) return ok.error();
  if (options.threads < 1 || options.threads > 1024)
    return Error{EINVAL, "HTTP server on " + options.listen + ": threads must be 1..1024, not " +
                             std::to_string(options.threads)};
  if (options.request_timeout.count() < 1)
    return Error{EINVAL, "HTTP server on " + options.listen + ": request timeout must be > 0"};

  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });

  std::unique_ptr<HttpServer> s(new HttpServer(std::move(options), std::move(routes)));
  const std::string threads = std::to_string(s->options_.threads);
  const std::string timeout = std::to_string(s->options_.request_timeout.count());
  // Measured choices: docs/metrics.md, "The HTTP endpoint". connection_queue (20) and
  // listen_backlog (200) stay at civetweb's defaults: with every worker busy, extra connections
  // wait there whatever their size.
  // clang-format off
  const char* config[] = {
      "listening_ports", s->options_.listen.c_str(),
      "num_threads", threads.c_str(),
      // Total time a worker waits for a whole request (trickling bytes does not extend it), and
      // for a client to take the response: a stalled client frees its worker after this.
      "request_timeout_ms", timeout.c_str(),
      // One request per connection: an idle keep-alive connection would hold a worker.
      "enable_keep_alive", "no",
      // A request line and a few headers; also each worker's preallocated buffer.
      "max_request_size", "8192",
      nullptr};
  // clang-format on

  mg_callbacks callbacks{};
  callbacks.begin_request = &HttpServer::OnRequest;
  callbacks.log_message = &LogMessage;
  mg_init_data init_data{};
  init_data.callbacks = &callbacks;
  init_data.user_data = s.get();
  init_data.configuration_options = config;
  char text[256] = "";
  unsigned code = 0;
  mg_error_data err{};
  err.code = &code;
  err.text = text;
  err.text_buffer_size = sizeof(text);

  std::vector<std::string> messages;
  t_start_messages = &messages;
  s->ctx_ = mg_start2(&init_data, &err);
  t_start_messages = nullptr;
  if (!s->ctx_) return StartError(s->options_.listen, messages, text);
  for (const std::string& m : messages) spdlog::warn("http: {}", m);
  return s;
}

Result<std::map<std::string, std::string>> LoadBasicAuthFile(const std::string& path) {
  if (auto trusted = CheckTrustedPath(path, "metrics basic_auth_file"); !trusted)
    return trusted.error();
  auto text = ReadFile(path);
  if (!text) return text.error().WithContext("metrics basic_auth_file");
  std::map<std::string, std::string> users;
  int line_no = 0;
  for (const std::string& raw : Split(*text, '\n')) {
    line_no++;
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    size_t c1 = line.find(':'), c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
    if (c1 == 0 || c2 == std::string::npos || line.substr(c1 + 1, c2 - c1 - 1) != "sha256")
      return Error{EINVAL, where +
                               "expected user:sha256:<64 hex digits> (the SHA-256 of the "
                               "password: printf %s \"$PASSWORD\" | sha256sum)"};
    std::string hex = Lower(line.substr(c2 + 1));
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
      return Error{EINVAL, where + "the hash must be 64 hex digits (sha256sum's output)"};
    if (!users.emplace(line.substr(0, c1), hex).second)
      return Error{EINVAL, where + "user " + line.substr(0, c1) + " is listed twice"};
  }
  if (users.empty()) return Error{EINVAL, path + ": no user: add a user:sha256:<hex> line"};
  return users;
}

std::vector<int> HttpServer::ListeningPorts() const {
  mg_server_port ports[4] = {};
  int n = mg_get_server_ports(ctx_, 4, ports);
  std::vector<int> out;
  for (int i = 0; i < n; i++) out.push_back(ports[i].port);
  return out;
}

}  // namespace sw
