#include "common/sha256.hpp"

#include <openssl/evp.h>

#include <array>
#include <fstream>
#include <memory>

#include "common/error.hpp"

namespace folio {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

class Digest {
 public:
  explicit Digest(const EVP_MD* md = EVP_sha256()) : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), md, nullptr) != 1)
      throw Error(ErrorKind::Internal, "OpenSSL could not start a digest");
  }
  void update(const void* data, std::size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md.data(), &len);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 15];
    }
    return out;
  }

 private:
  MdCtx ctx_;
};

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Digest h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

namespace {

std::string file_digest(const std::filesystem::path& path, Digest& h) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::Io, "cannot open file for hashing", {path.string()});
  std::array<char, 1 << 16> buf{};
  while (in) {
    in.read(buf.data(), buf.size());
    if (in.gcount() > 0) h.update(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(ErrorKind::Io, "read error while hashing", {path.string()});
  return h.hex();
}

}  // namespace

std::string sha256_file_hex(const std::filesystem::path& path) {
  Digest h;
  return file_digest(path, h);
}

std::string git_blob_sha1_file_hex(const std::filesystem::path& path) {
  Digest h(EVP_sha1());
  const std::string header = "blob " + std::to_string(std::filesystem::file_size(path)) + std::string(1, '\0');
  h.update(header.data(), header.size());
  return file_digest(path, h);
}

}  // namespace folio
