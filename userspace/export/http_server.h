// The HTTP endpoint (/metrics, /healthz, /readyz). A verbatim copy of the shared contract
// (notes/contract.md) so this branch compiles; the "http" helper's header and http_server.cpp
// replace it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

// clang-format off
namespace sw {
struct HttpRequest { std::string method; std::string path; bool accepts_gzip = false; };
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::shared_ptr<const std::string> body;        // shared: pre-rendered bodies are not copied
  std::shared_ptr<const std::string> gzip_body;   // optional; sent when accepts_gzip and non-null
};
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;  // called on server threads
struct HttpServerOptions {
  std::string listen = "127.0.0.1:9750";          // host:port, port 0 = any free port
  int threads = 4;                                // worker threads
  std::chrono::milliseconds request_timeout{2000};// a client that has not sent its request by then is dropped
};
class HttpServer {
 public:
  // Serves the exact paths in `routes` (GET and HEAD); 404 otherwise, 405 for other methods.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                   std::map<std::string, HttpHandler> routes);
  ~HttpServer();  // stops serving
  std::vector<int> ListeningPorts() const;
};
}
// clang-format on
