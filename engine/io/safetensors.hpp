// Safetensors checkpoints over mmap: one file, or shards listed by model.safetensors.index.json.
// Every header is validated before any byte of data is used (see safetensors.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace folio::engine {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // as safetensors spells it: "F32", "BF16", ...

// One tensor inside a mapped file. `bytes` points into the mapping (zero copy) and stays valid
// as long as the SafetensorsFile (or WeightFiles) that owns the mapping lives.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
  std::string file;  // the file it lives in, for error messages

  std::int64_t numel() const;
};

class MappedFile;  // RAII mmap of a whole file (safetensors.cpp)

class SafetensorsFile {
 public:
  // Maps and validates; throws folio::Error (Model) naming the file (and tensor) on any defect.
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(std::string_view name) const;
  // Throws folio::Error (Model) "missing tensor NAME" naming the file.
  const TensorInfo& at(std::string_view name) const;

 private:
  std::filesystem::path path_;
  std::unique_ptr<MappedFile> map_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All weights of a checkpoint folder: model.safetensors, or the shards model.safetensors.index.json names.
class WeightFiles {
 public:
  static WeightFiles open(const std::filesystem::path& model_dir);

  const TensorInfo* find(std::string_view name) const;
  const TensorInfo& at(std::string_view name) const;  // throws folio::Error (Model) naming the folder
  std::vector<const TensorInfo*> all() const;
  const std::filesystem::path& dir() const { return dir_; }
  std::uint64_t total_bytes() const;

 private:
  std::filesystem::path dir_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, const TensorInfo*, std::less<>> by_name_;
};

// Writes a safetensors file tensor by tensor: `fill(i, bytes)` writes tensor i's bytes (its dtype and
// shape given up front), so that files larger than memory can be produced.
struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
};
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorSpec>& tensors,
                       const std::function<void(std::size_t index, std::span<std::byte> bytes)>& fill);

// Tells the kernel the tensor's mapped pages are no longer needed (they leave the resident set; touching
// them again re-reads the file). Called once a tensor has been converted, so that loading a checkpoint
// does not keep the whole file resident next to the engine's own copy.
void release_pages(const TensorInfo& t);

// F32, F16 and BF16 converted to float32 (a copy). Throws folio::Error (Model) for other dtypes.
std::vector<float> to_f32(const TensorInfo& t);
// The same values written to out[0, numel).
void to_f32_into(const TensorInfo& t, float* out);

}  // namespace folio::engine
