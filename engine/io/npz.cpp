#include "engine/io/npz.hpp"

#include <zlib.h>

#include <cstdint>
#include <fstream>

#include "common/error.hpp"

namespace folio::engine {
namespace {

std::uint32_t le(const std::string& b, std::size_t at, int bytes) {
  std::uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(b[at + i]);
  return v;
}

std::string inflate_raw(const std::string& in, std::size_t size, const std::string& origin) {
  std::string out(size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw Error(ErrorKind::Internal, "zlib inflateInit2 failed", {origin});
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  const auto produced = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != size)
    throw Error(ErrorKind::Input, "deflate data is damaged or does not have the size the zip directory gives", {origin});
  return out;
}

}  // namespace

std::map<std::string, NpyArray> read_npz(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::Input, "cannot read", {path.string()});
  const std::string all((std::istreambuf_iterator<char>(in)), {});
  auto bad = [&](const std::string& why, const std::string& member = {}) {
    return Error(ErrorKind::Input, "not a supported .npz file: " + why, {path.string(), std::nullopt, member});
  };
  // The end-of-central-directory record is the last 22 bytes plus a comment of up to 64 KiB.
  if (all.size() < 22) throw bad("too short for a zip archive");
  std::size_t eocd = std::string::npos;
  for (std::size_t p = all.size() - 22 + 1; p-- > 0 && all.size() - p <= 22 + 0xffff;)
    if (le(all, p, 4) == 0x06054b50) {
      eocd = p;
      break;
    }
  if (eocd == std::string::npos) throw bad("no zip end-of-directory record");
  const std::size_t entries = le(all, eocd + 10, 2), cd_size = le(all, eocd + 12, 4), cd_offset = le(all, eocd + 16, 4);
  if (entries == 0xffff || cd_offset == 0xffffffffu) throw bad("ZIP64 archives are not supported");
  if (cd_offset + cd_size > eocd) throw bad("central directory runs past its end record");

  std::map<std::string, NpyArray> out;
  std::size_t p = cd_offset;
  for (std::size_t i = 0; i < entries; ++i) {
    if (p + 46 > eocd || le(all, p, 4) != 0x02014b50) throw bad("damaged central directory");
    const std::uint32_t flags = le(all, p + 8, 2), method = le(all, p + 10, 2), crc = le(all, p + 16, 4),
                        csize = le(all, p + 20, 4), usize = le(all, p + 24, 4), local = le(all, p + 42, 4);
    const std::size_t name_len = le(all, p + 28, 2), extra_len = le(all, p + 30, 2), comment_len = le(all, p + 32, 2);
    if (p + 46 + name_len > eocd) throw bad("damaged central directory");
    std::string name = all.substr(p + 46, name_len);
    p += 46 + name_len + extra_len + comment_len;
    if (flags & 1) throw bad("encrypted member", name);
    if (csize == 0xffffffffu || usize == 0xffffffffu || local == 0xffffffffu) throw bad("ZIP64 member", name);
    if (local + 30 > all.size() || le(all, local, 4) != 0x04034b50) throw bad("damaged local header", name);
    const std::size_t data = local + 30 + le(all, local + 26, 2) + le(all, local + 28, 2);
    if (data + csize > all.size()) throw bad("member data runs past the end of the file (truncated?)", name);
    const std::string packed = all.substr(data, csize);
    std::string bytes;
    if (method == 0) {
      if (csize != usize) throw bad("stored member with two different sizes", name);
      bytes = packed;
    } else if (method == 8) {
      bytes = inflate_raw(packed, usize, path.string() + ":" + name);
    } else {
      throw bad("compression method " + std::to_string(method) + " (only stored and deflate)", name);
    }
    if (crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())) != crc)
      throw bad("CRC mismatch", name);
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    out.emplace(name, parse_npy(bytes, path.string() + ":" + name));
  }
  return out;
}

}  // namespace folio::engine
