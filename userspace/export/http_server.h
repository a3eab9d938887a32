// A small HTTP/1.1 server for the agent's endpoints (/metrics, /healthz, /readyz), on civetweb's C
// API. Exact-path routes, GET and HEAD only; 404 for other paths, 405 (with Allow) for other
// methods. Every response carries Content-Length; a pre-compressed gzip body is sent when the
// client accepts gzip. Worker threads are a fixed pool and a client that has not sent its whole
// request within request_timeout is dropped, so slow or idle clients cannot hold the endpoint for
// long (sizing and measurements: docs/metrics.md, "The HTTP endpoint").
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

struct mg_context;
struct mg_connection;

namespace sw {

struct HttpRequest {
  std::string method;
  std::string path;
  bool accepts_gzip = false;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::shared_ptr<const std::string> body;       // shared: pre-rendered bodies are not copied
  std::shared_ptr<const std::string> gzip_body;  // optional; sent when accepts_gzip and non-null
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;  // called on server threads

struct HttpServerOptions {
  std::string listen = "127.0.0.1:9750";  // host:port, port 0 = any free port
  // Worker threads. Each serves one connection at a time (civetweb), so `threads` clients that
  // connect and stall hold every worker until request_timeout; 64 keeps /metrics answering with
  // 50 such clients at ~20 KiB of RSS per thread (measurements: docs/metrics.md).
  int threads = 64;
  // A client that has not sent its request by then is dropped.
  std::chrono::milliseconds request_timeout{2000};
  // HTTP basic authentication: user -> hex SHA-256 of the password. Empty: no authentication.
  // When set, every route but `open_paths` answers 401 without the right credentials.
  std::map<std::string, std::string> basic_auth;
  std::set<std::string> open_paths = {"/healthz", "/readyz"};  // probes carry no credentials
};

// Reads a basic_auth_file: one `user:sha256:<64 hex digits>` per line (the SHA-256 of the
// password, e.g. `printf %s "$PASSWORD" | sha256sum`); blank lines and `#` comments skipped.
// Errors name the file and line. The file must pass CheckTrustedPath (common/file_trust.h).
Result<std::map<std::string, std::string>> LoadBasicAuthFile(const std::string& path);

class HttpServer {
 public:
  // Serves the exact paths in `routes` (GET and HEAD); 404 otherwise, 405 for other methods.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                   std::map<std::string, HttpHandler> routes);
  ~HttpServer();  // stops serving
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::vector<int> ListeningPorts() const;

 private:
  HttpServer(HttpServerOptions options, std::map<std::string, HttpHandler> routes);
  static int OnRequest(mg_connection* conn);

  HttpServerOptions options_;
  std::map<std::string, HttpHandler> routes_;
  mg_context* ctx_ = nullptr;
};

// Whether an Accept-Encoding header value admits gzip (RFC 9110: "gzip" or "*" with q > 0).
bool AcceptsGzip(const std::string& accept_encoding);

}  // namespace sw
