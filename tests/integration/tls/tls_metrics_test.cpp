// The metrics endpoint over TLS as documented (docs/operations.md, "Securing the metrics
// endpoint"): the real agent with basic auth listening on 127.0.0.1 only, Debian's stunnel4 with
// deploy/tls/stunnel.conf (ports and paths replaced) in front, a self-signed certificate made with
// the openssl CLI, scraped with libcurl verifying that certificate. Ground truth: HTTP statuses,
// the agent's own metric names, TLS verification by libcurl/OpenSSL, and what the kernel lets
// connect on a non-loopback address.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "../cli/cli_helpers.h"
#include "common/fs.h"
#include "support/privileged.h"
#include "support/process.h"
#include "support/temp_tree.h"

namespace sw::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kStunnel = "/usr/bin/stunnel4";
constexpr const char* kOpenssl = "/usr/bin/openssl";

struct Scrape {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body, error;
};

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET url; ca: the certificate to trust ("" = the system's store); userpwd: "user:password" or "".
Scrape Get(const std::string& url, const std::string& ca, const std::string& userpwd) {
  Scrape r;
  char err[CURL_ERROR_SIZE] = "";
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca.c_str());
  if (!userpwd.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd.c_str());
  }
  r.code = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_cleanup(c);
  r.error = err[0] ? err : curl_easy_strerror(r.code);
  return r;
}

// Whether a TCP connect to addr:port succeeds (a listener is reachable there).
bool Connects(const std::string& addr, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// An IPv4 address of this machine outside 127.0.0.0/8, "" when it has none.
std::string NonLoopbackAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i && found.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    const in_addr a = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr;
    if ((ntohl(a.s_addr) >> 24) == 127) continue;
    char buf[INET_ADDRSTRLEN];
    found = inet_ntop(AF_INET, &a, buf, sizeof buf);
  }
  freeifaddrs(list);
  return found;
}

// Replaces the one occurrence of `from` (the deployed value) or fails the test.
void ReplaceOnce(std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << "deploy/tls/stunnel.conf no longer has " << from;
  ASSERT_EQ(text.find(from, at + 1), std::string::npos) << from << " twice";
  text.replace(at, from.size(), to);
}

bool WaitFor(const std::function<bool()>& ready, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST(TlsMetrics, StunnelInFrontOfALoopbackAgentWithBasicAuth) {
  SW_REQUIRE_PRIVILEGED();
  for (const char* tool : {kStunnel, kOpenssl}) {
    if (access(tool, X_OK) == 0) continue;
    if (PrivilegedRequired()) FAIL() << tool << " missing (Debian packages stunnel4, openssl)";
    GTEST_SKIP() << tool << " missing (Debian packages stunnel4, openssl)";
  }
  TempTree t;
  const std::string cert = t.Path("tls.crt"), key = t.Path("tls.key");
  CommandResult gen =
      RunCommand({kOpenssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                  cert, "-days", "1", "-subj", "/CN=localhost", "-addext",
                  "subjectAltName=IP:127.0.0.1,DNS:localhost"});
  ASSERT_EQ(gen.exit_code(), 0) << gen.err;
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);

  // Basic auth: the password's SHA-256 from the openssl CLI, as an operator would make it.
  const std::string password = "s3cret-" + std::to_string(getpid());
  const std::string pw_file = t.Write("password", password);
  CommandResult dgst = RunCommand({kOpenssl, "dgst", "-sha256", "-r", pw_file});
  ASSERT_EQ(dgst.exit_code(), 0) << dgst.err;
  const std::string users =
      t.Write("metrics-users", "prometheus:sha256:" + dgst.out.substr(0, 64) + "\n");
  ASSERT_EQ(chmod(users.c_str(), 0600), 0);

  const int agent_port = FreePort();
  int tls_port = FreePort();
  for (int i = 0; i < 10 && tls_port == agent_port; i++) tls_port = FreePort();
  const std::string config =
      t.Write("config.yaml", "listen: 127.0.0.1:" + std::to_string(agent_port) +
                                 "\ninterval: 200ms\nenforcement: { mode: observe }\n"
                                 "metrics: { basic_auth_file: " +
                                 users + " }\n");
  ChildProcess agent = ChildProcess::Exec(
      {SCHEDWARDEN_BINARY, "run", "--config", config, "--state-dir", t.Path("state")});
  const std::string agent_url = "http://127.0.0.1:" + std::to_string(agent_port);
  ASSERT_TRUE(WaitFor(
      [&] {
        EXPECT_EQ(waitpid(agent.pid(), nullptr, WNOHANG), 0) << "agent exited";
        return Get(agent_url + "/readyz", "", "").status == 200;
      },
      30s))
      << "agent not ready on " << agent_url;

  // The deployed stunnel config, with this test's port, certificate and key.
  auto deployed = ReadFile(std::string(SW_SOURCE_DIR) + "/deploy/tls/stunnel.conf");
  ASSERT_TRUE(deployed.ok()) << deployed.error().message;
  std::string conf = *deployed;
  ASSERT_NO_FATAL_FAILURE(
      ReplaceOnce(conf, "accept = 0.0.0.0:9443", "accept = 0.0.0.0:" + std::to_string(tls_port)));
  ASSERT_NO_FATAL_FAILURE(ReplaceOnce(conf, "connect = 127.0.0.1:9750",
                                      "connect = 127.0.0.1:" + std::to_string(agent_port)));
  ASSERT_NO_FATAL_FAILURE(ReplaceOnce(conf, "cert = /etc/schedwarden/tls.crt", "cert = " + cert));
  ASSERT_NO_FATAL_FAILURE(ReplaceOnce(conf, "key = /etc/schedwarden/tls.key", "key = " + key));
  ChildProcess stunnel = ChildProcess::Exec({kStunnel, t.Write("stunnel.conf", conf)});
  const std::string tls_url = "https://127.0.0.1:" + std::to_string(tls_port);
  ASSERT_TRUE(WaitFor(
      [&] {
        EXPECT_EQ(waitpid(stunnel.pid(), nullptr, WNOHANG), 0) << "stunnel exited";
        return Connects("127.0.0.1", tls_port);
      },
      10s))
      << "stunnel not listening on " << tls_port;

  // Right credentials through TLS, the certificate verified: the agent's real metrics.
  const Scrape ok = Get(tls_url + "/metrics", cert, "prometheus:" + password);
  EXPECT_EQ(ok.code, CURLE_OK) << ok.error;
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("\nschedwarden_build_info{"), std::string::npos) << ok.body.substr(0, 400);
  // Wrong or no credentials: 401 from the agent, through the tunnel.
  EXPECT_EQ(Get(tls_url + "/metrics", cert, "prometheus:wrong").status, 401);
  EXPECT_EQ(Get(tls_url + "/metrics", cert, "").status, 401);
  // Probes stay open (kubelet's HTTPS probes carry no credentials).
  EXPECT_EQ(Get(tls_url + "/readyz", cert, "").status, 200);
  // The certificate is really checked: a self-signed one is not in the system store.
  const Scrape untrusted = Get(tls_url + "/metrics", "", "prometheus:" + password);
  EXPECT_EQ(untrusted.code, CURLE_PEER_FAILED_VERIFICATION) << untrusted.error;
  // Plain HTTP to the TLS port gets no answer.
  const Scrape plain = Get("http://127.0.0.1:" + std::to_string(tls_port) + "/metrics", "",
                           "prometheus:" + password);
  EXPECT_NE(plain.code, CURLE_OK);
  EXPECT_EQ(plain.status, 0) << plain.body;

  // From the network: the TLS port answers, the agent's port is not there at all.
  const std::string addr = NonLoopbackAddress();
  if (addr.empty()) {
    std::printf("no non-loopback IPv4 address: exposure not checked\n");
  } else {
    const bool tls_open = Connects(addr, tls_port), agent_open = Connects(addr, agent_port);
    std::printf("%s: TLS port %d %s, agent port %d %s\n", addr.c_str(), tls_port,
                tls_open ? "reachable" : "refused", agent_port,
                agent_open ? "reachable" : "refused");
    EXPECT_TRUE(tls_open) << "stunnel not reachable on " << addr;
    EXPECT_FALSE(agent_open) << "the agent's port is reachable on " << addr;
  }
  int status = agent.Signal(SIGTERM, 20000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "agent status " << status;
  // stunnel: killed by its ChildProcess; the temp dir goes with `t`.
}

}  // namespace
}  // namespace sw::test
