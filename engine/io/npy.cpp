#include "engine/io/npy.hpp"

#include <cstring>
#include <fstream>

#include "common/atomic_file.hpp"
#include "common/error.hpp"

namespace folio::engine {
namespace {

std::string header(const char* descr, const std::vector<std::int64_t>& shape) {
  std::string s = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) s += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  s += "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' padded to a multiple of 64.
  const std::size_t total = 10 + s.size() + 1;
  s.append((64 - total % 64) % 64, ' ');
  s += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(s.size() & 0xff);
  out += static_cast<char>(s.size() >> 8);
  return out + s;
}

template <typename T>
void write(const std::filesystem::path& path, std::span<const T> data, const std::vector<std::int64_t>& shape, const char* descr) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  if (n != static_cast<std::int64_t>(data.size()))
    throw Error(ErrorKind::Internal, "npy shape does not match the data size", {path.string()});
  std::string bytes = header(descr, shape);
  bytes.append(reinterpret_cast<const char*>(data.data()), data.size_bytes());
  write_file_atomic(path, bytes);
}

}  // namespace

void write_npy(const std::filesystem::path& path, std::span<const float> data, const std::vector<std::int64_t>& shape) {
  write(path, data, shape, "<f4");
}
void write_npy(const std::filesystem::path& path, std::span<const std::int64_t> data, const std::vector<std::int64_t>& shape) {
  write(path, data, shape, "<i8");
}

NpyArray read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::Input, "cannot read", {path.string()});
  const std::string all((std::istreambuf_iterator<char>(in)), {});
  return parse_npy(all, path.string());
}

NpyArray parse_npy(const std::string& all, const std::string& origin) {
  auto bad = [&](const std::string& why) { return Error(ErrorKind::Input, "not a supported .npy file: " + why, {origin}); };
  if (all.size() < 10 || all.compare(0, 6, "\x93NUMPY") != 0) throw bad("no magic");
  const int major = static_cast<unsigned char>(all[6]);
  std::size_t hlen, off;
  if (major == 1) {
    hlen = static_cast<unsigned char>(all[8]) | static_cast<unsigned char>(all[9]) << 8;
    off = 10;
  } else {
    if (all.size() < 12) throw bad("short header");
    hlen = 0;
    for (int i = 3; i >= 0; --i) hlen = hlen << 8 | static_cast<unsigned char>(all[8 + i]);
    off = 12;
  }
  if (off + hlen > all.size()) throw bad("header runs past the file");
  const std::string h = all.substr(off, hlen);
  NpyArray a;
  auto field = [&](const std::string& key) {
    const auto p = h.find("'" + key + "'");
    if (p == std::string::npos) throw bad("no " + key);
    return h.substr(h.find(':', p) + 1);
  };
  std::string d = field("descr");
  d = d.substr(d.find('\'') + 1);
  a.dtype = d.substr(0, d.find('\''));
  const std::string order = field("fortran_order");
  if (order.compare(order.find_first_not_of(' '), 4, "True") == 0) throw bad("Fortran order");
  std::string s = field("shape");
  s = s.substr(s.find('(') + 1, s.find(')') - s.find('(') - 1);
  for (std::size_t p = 0; p < s.size();) {
    while (p < s.size() && (s[p] == ' ' || s[p] == ',')) ++p;
    if (p >= s.size()) break;
    std::size_t e = p;
    while (e < s.size() && std::isdigit(static_cast<unsigned char>(s[e]))) ++e;
    if (e == p) throw bad("shape");
    a.shape.push_back(std::stoll(s.substr(p, e - p)));
    p = e;
  }
  std::size_t esize = a.dtype == "<f4" || a.dtype == "<i4" ? 4 : a.dtype == "<i8" || a.dtype == "<f8" ? 8 : a.dtype == "|u1" || a.dtype == "|b1" ? 1 : 0;
  if (!esize) throw bad("dtype " + a.dtype);
  std::size_t n = 1;
  for (auto v : a.shape) n *= static_cast<std::size_t>(v);
  if (all.size() - off - hlen != n * esize) throw bad("data size does not match the shape");
  a.bytes.assign(all.begin() + static_cast<std::ptrdiff_t>(off + hlen), all.end());
  return a;
}

std::vector<float> NpyArray::as_f32() const {
  if (dtype != "<f4") throw Error(ErrorKind::Input, "npy array is " + dtype + ", not <f4");
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

std::vector<std::int64_t> NpyArray::as_i64() const {
  if (dtype != "<i8") throw Error(ErrorKind::Input, "npy array is " + dtype + ", not <i8");
  std::vector<std::int64_t> v(bytes.size() / 8);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

}  // namespace folio::engine
