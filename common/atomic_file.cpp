#include "common/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <system_error>

#include "common/error.hpp"

namespace folio {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int close() {
    int rc = 0;
    if (fd_ >= 0) rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

std::string errno_text() { return std::strerror(errno); }

}  // namespace

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::Io, "cannot create folder: " + ec.message(), {dir.string()});

  std::random_device rd;
  // Appended piecewise: `"." + string` trips GCC 12's false -Wrestrict positive (PR 105329).
  std::string name = ".";
  name += path.filename().string();
  name += ".tmp-";
  name += std::to_string(rd());
  const fs::path tmp = dir / name;
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) throw Error(ErrorKind::Io, "cannot create temporary file: " + errno_text(), {tmp.string()});
    const char* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
      ssize_t n = ::write(fd.get(), p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        const std::string why = errno_text();
        fd.close();
        fs::remove(tmp, ec);
        throw Error(ErrorKind::Io, "write failed: " + why, {path.string()});
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0 || fd.close() != 0) {
      const std::string why = errno_text();
      fs::remove(tmp, ec);
      throw Error(ErrorKind::Io, "fsync failed: " + why, {path.string()});
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    fs::remove(tmp, ec);
    throw Error(ErrorKind::Io, "rename failed: " + why, {path.string()});
  }
  // The rename is durable only once the folder entry is on disk.
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) ::fsync(dfd.get());
}

bool is_atomic_temp_name(const std::string& name) {
  const auto at = name.rfind(".tmp-");
  if (name.size() < 2 || name[0] != '.' || at == std::string::npos || at < 2 || at + 5 == name.size()) return false;
  return name.find_first_not_of("0123456789", at + 5) == std::string::npos;
}

std::vector<std::filesystem::path> remove_stale_temp_files(const std::filesystem::path& dir,
                                                           std::filesystem::file_time_type older_than) {
  namespace fs = std::filesystem;
  std::vector<fs::path> removed;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const auto& e = *it;
    std::error_code e2;
    if (!e.is_regular_file(e2) || e.is_symlink(e2) || !is_atomic_temp_name(e.path().filename().string())) continue;
    const auto mtime = e.last_write_time(e2);
    if (e2 || mtime >= older_than) continue;
    if (fs::remove(e.path(), e2)) removed.push_back(e.path());
  }
  return removed;
}

}  // namespace folio
