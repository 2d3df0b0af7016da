// NumPy .npy files (format 1.0, little-endian, C order): written by `folio ask --dump` so that Folio's
// tensors can be compared with any other implementation, and read back by tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace folio::engine {

void write_npy(const std::filesystem::path& path, std::span<const float> data, const std::vector<std::int64_t>& shape);
void write_npy(const std::filesystem::path& path, std::span<const std::int64_t> data, const std::vector<std::int64_t>& shape);

struct NpyArray {
  std::string dtype;  // numpy descr, e.g. "<f4", "<i8", "|u1"
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;  // raw little-endian data
  std::vector<float> as_f32() const;
  std::vector<std::int64_t> as_i64() const;
};

// Throws folio::Error (Input) naming the file for anything but a C-order, little-endian array.
NpyArray read_npy(const std::filesystem::path& path);
// The same from bytes already in memory (a member of an .npz); `origin` names them in errors.
NpyArray parse_npy(const std::string& bytes, const std::string& origin);

}  // namespace folio::engine
