// folio fetch-model against a local HTTP server on 127.0.0.1 that plays the Hugging Face Hub: the tree
// listing, file downloads with ranges, a transfer cut in the middle (resumed by the next run), a file
// whose bytes do not match the listing, and no server at all.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "common/sha256.hpp"
#include "pipeline/fetch_model.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
namespace pl = folio::pipeline;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Serves `repo` from `folder` the way the Hub does. One request per connection.
class FakeHub {
 public:
  FakeHub(std::string repo, fs::path folder) : repo_(std::move(repo)), folder_(std::move(folder)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeHub() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The next download of `file` sends only `bytes` bytes, then closes the connection.
  void cut_next(const std::string& file, std::size_t bytes) {
    std::lock_guard lock(mutex_);
    cuts_[file] = bytes;
  }
  // Serve these bytes for `file` instead of its content (the listing keeps the true size and hash).
  void corrupt(const std::string& file, std::string bytes) {
    std::lock_guard lock(mutex_);
    corrupt_[file] = std::move(bytes);
  }
  int range_requests() const { return ranges_; }

 private:
  std::string listing() const {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& e : fs::directory_iterator(folder_)) {
      const auto name = e.path().filename().string();
      nlohmann::json f = {{"type", "file"}, {"path", name}, {"size", fs::file_size(e.path())}};
      if (e.path().extension() == ".safetensors")
        f["lfs"] = {{"oid", folio::sha256_file_hex(e.path())}, {"size", fs::file_size(e.path())}};
      else
        f["oid"] = folio::git_blob_sha1_file_hex(e.path());
      files.push_back(f);
    }
    files.push_back({{"type", "directory"}, {"path", "onnx"}});
    files.push_back({{"type", "file"}, {"path", "onnx/model.onnx"}, {"size", 123}});  // skipped
    return files.dump();
  }

  void serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      respond(c, req);
      ::close(c);
    }
  }

  void send_all(int c, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const auto n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  void respond(int c, const std::string& req) {
    std::istringstream in(req);
    std::string method, path;
    in >> method >> path;
    std::size_t from = 0;
    if (auto r = req.find("Range: bytes="); r != std::string::npos) {
      from = std::stoull(req.substr(r + 13));
      ++ranges_;
    }
    auto reply = [&](int code, const std::string& body, std::size_t total, std::size_t send_only) {
      std::string head = "HTTP/1.1 " + std::to_string(code) + (code == 206 ? " Partial Content" : code == 200 ? " OK" : " Not Found") +
                         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n";
      if (code == 206)
        head += "Content-Range: bytes " + std::to_string(from) + "-" + std::to_string(total - 1) + "/" + std::to_string(total) + "\r\n";
      send_all(c, head + "\r\n" + body.substr(0, send_only));
    };
    const std::string tree = "/api/models/" + repo_ + "/tree/main", files = "/" + repo_ + "/resolve/main/";
    if (path == tree) {
      const auto body = listing();
      return reply(200, body, body.size(), body.size());
    }
    if (path.rfind(files, 0) == 0) {
      const auto name = path.substr(files.size());
      if (!fs::exists(folder_ / name)) return reply(404, "no", 2, 2);
      std::string bytes = read_file(folder_ / name);
      std::size_t send_only = std::string::npos;
      {
        std::lock_guard lock(mutex_);
        if (auto it = corrupt_.find(name); it != corrupt_.end()) bytes = it->second;
        if (auto it = cuts_.find(name); it != cuts_.end()) {
          send_only = it->second;
          cuts_.erase(it);
        }
      }
      const std::string body = bytes.substr(std::min(from, bytes.size()));
      return reply(from ? 206 : 200, body, bytes.size(), send_only == std::string::npos ? body.size() : send_only);
    }
    reply(404, "no", 2, 2);
  }

  std::string repo_;
  fs::path folder_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> ranges_{0};
  std::mutex mutex_;
  std::map<std::string, std::size_t> cuts_;
  std::map<std::string, std::string> corrupt_;
  std::thread thread_;
};

fs::path checkpoint() { return folio::test::reference_dir() / "tiny-a" / "checkpoint"; }

}  // namespace

BOOST_AUTO_TEST_SUITE(fetch_model)

BOOST_AUTO_TEST_CASE(downloads_checks_and_resumes) {
  FakeHub hub("TestOrg/Tiny-Instruct", checkpoint());
  folio::test::TempDir dir;
  pl::FetchOptions o;
  o.endpoint = hub.endpoint();
  o.dir = dir.path();
  // A transfer cut halfway fails with a Network error and leaves its .part file.
  hub.cut_next("model.safetensors", 100000);
  BOOST_CHECK_THROW(pl::fetch_model("TestOrg/Tiny-Instruct", o), folio::Error);
  const fs::path folder = dir.path() / "Tiny-Instruct";
  BOOST_TEST(fs::exists(folder / "model.safetensors.part"));
  BOOST_TEST(!fs::exists(folder / "model.safetensors"));
  // The next run resumes from where it stopped, and checks every file.
  const auto r = pl::fetch_model("TestOrg/Tiny-Instruct", o);
  BOOST_TEST(hub.range_requests() >= 1);
  BOOST_TEST(r.folder == folder);
  for (const auto& e : fs::directory_iterator(checkpoint()))
    BOOST_TEST(read_file(folder / e.path().filename()) == read_file(e.path()), e.path().filename());
  BOOST_TEST(!fs::exists(folder / "onnx"));
  BOOST_TEST(!fs::exists(folder / "model.safetensors.part"));
  // A third run has nothing to do.
  const auto again = pl::fetch_model("TestOrg/Tiny-Instruct", o);
  BOOST_TEST(again.downloaded.empty());
  BOOST_TEST(again.already_present.size() == r.downloaded.size() + r.already_present.size());
}

BOOST_AUTO_TEST_CASE(a_file_that_does_not_match_its_hash_is_refused) {
  FakeHub hub("TestOrg/Tiny-Instruct", checkpoint());
  hub.corrupt("config.json", std::string(fs::file_size(checkpoint() / "config.json"), 'x'));
  folio::test::TempDir dir;
  pl::FetchOptions o;
  o.endpoint = hub.endpoint();
  o.dir = dir.path();
  try {
    pl::fetch_model("TestOrg/Tiny-Instruct", o);
    BOOST_FAIL("no error");
  } catch (const folio::Error& e) {
    BOOST_TEST(std::string(e.what()).find("config.json") != std::string::npos, e.what());
    BOOST_TEST((e.kind() == folio::ErrorKind::Model));
  }
  BOOST_TEST(!fs::exists(dir.path() / "Tiny-Instruct" / "config.json"));
}

BOOST_AUTO_TEST_CASE(the_cli_downloads_from_the_given_endpoint) {
  FakeHub hub("TestOrg/Tiny-Instruct", checkpoint());
  folio::test::TempDir dir;
  const std::string cmd = folio::test::folio_bin() + " fetch-model TestOrg/Tiny-Instruct --endpoint " + hub.endpoint() +
                          " --dir " + dir.path().string();
  const fs::path folder = dir.path() / "Tiny-Instruct";
  auto r = folio::test::run_command("HF_ENDPOINT=http://127.0.0.1:9 " + cmd + " 2>&1");  // the flag wins
  BOOST_TEST(r.status == 0, r.out);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(checkpoint())) {
    BOOST_TEST(read_file(folder / e.path().filename()) == read_file(e.path()), e.path().filename());
    ++files;
  }
  BOOST_TEST(r.out.find(folder.string() + ": " + std::to_string(files) + " files downloaded, 0 already present") !=
                 std::string::npos, r.out);
  r = folio::test::run_command(cmd + " 2>&1");
  BOOST_TEST(r.status == 0, r.out);
  BOOST_TEST(r.out.find("0 files downloaded, " + std::to_string(files) + " already present") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(without_network_it_says_what_to_download_and_where) {
  folio::test::TempDir dir;
  const auto r = folio::test::run_command(folio::test::folio_bin() + " fetch-model smolvlm-256m --endpoint http://127.0.0.1:9 --dir " +
                                          dir.path().string() + " 2>&1");
  BOOST_TEST(r.status == 3, r.out);
  BOOST_TEST(r.out.find("huggingface-cli download HuggingFaceTB/SmolVLM-256M-Instruct") != std::string::npos, r.out);
  BOOST_TEST(r.out.find((dir.path() / "SmolVLM-256M-Instruct").string()) != std::string::npos, r.out);
  BOOST_CHECK_THROW(pl::resolve_model_name("not a name"), folio::Error);
  BOOST_TEST(pl::resolve_model_name("smolvlm2-2.2b") == "HuggingFaceTB/SmolVLM2-2.2B-Instruct");
}

BOOST_AUTO_TEST_SUITE_END()
