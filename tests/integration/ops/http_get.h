// A minimal HTTP/1.0 GET for tests: the agent's /metrics, Prometheus' API.
#pragma once

#include <string>

namespace sw::test {

struct HttpReply {
  int status = 0;  // 0 when the connection failed
  std::string body;
};

// GET http://127.0.0.1:<port><target> with a timeout per step; the whole reply.
HttpReply HttpGet(int port, const std::string& target, int timeout_ms = 5000);

// Percent-encodes a query parameter value.
std::string UrlEncode(const std::string& s);

}  // namespace sw::test
