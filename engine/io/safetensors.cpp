// Safetensors over mmap. Layout: u64 little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {...}}, then the data section.
// Everything in the header is checked before a byte of data is handed out.
#include "engine/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace folio::engine {

class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error(ErrorKind::Model, std::string("cannot open: ") + std::strerror(errno), {path.string()});
    struct stat st{};
    if (::fstat(fd_, &st) != 0) {
      ::close(fd_);
      throw Error(ErrorKind::Model, std::string("cannot stat: ") + std::strerror(errno), {path.string()});
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
      if (p == MAP_FAILED) {
        ::close(fd_);
        throw Error(ErrorKind::Model, std::string("cannot map: ") + std::strerror(errno), {path.string()});
      }
      data_ = static_cast<const std::byte*>(p);
    }
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  int fd_ = -1;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeName {
  const char* name;
  DType dtype;
  std::size_t size;
};
constexpr DTypeName kDTypes[] = {
    {"F64", DType::F64, 8}, {"F32", DType::F32, 4}, {"F16", DType::F16, 2}, {"BF16", DType::BF16, 2},
    {"I64", DType::I64, 8}, {"I32", DType::I32, 4}, {"I16", DType::I16, 2}, {"I8", DType::I8, 1},
    {"U8", DType::U8, 1},   {"BOOL", DType::Bool, 1},
};

[[noreturn]] void bad(const std::filesystem::path& file, const std::string& tensor, const std::string& why) {
  throw Error(ErrorKind::Model, why, {file.string(), std::nullopt, tensor.empty() ? std::string() : "tensor " + tensor});
}

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

std::size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.size;
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path), map_(std::make_unique<MappedFile>(path)) {
  const std::size_t size = map_->size();
  if (size < 8) bad(path, "", "not a safetensors file: " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | static_cast<std::uint8_t>(map_->data()[i]);
  if (header_len > kMaxHeaderBytes || header_len > size - 8)
    bad(path, "", "header length " + std::to_string(header_len) + " does not fit in the file (" + std::to_string(size) +
                      " bytes)");
  const char* hdr = reinterpret_cast<const char*>(map_->data() + 8);
  auto j = nlohmann::json::parse(hdr, hdr + header_len, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad(path, "", "the header is not valid JSON");
  if (!j.is_object()) bad(path, "", "the header is not a JSON object");

  const std::byte* data = map_->data() + 8 + header_len;
  const std::uint64_t data_size = size - 8 - header_len;
  struct Range {
    std::uint64_t begin, end;
    std::size_t index;
  };
  std::vector<Range> ranges;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const auto& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) bad(path, "", "__metadata__ must be an object of strings");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) bad(path, "", "__metadata__ value of '" + m.key() + "' is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      bad(path, name, "entry needs dtype, shape and data_offsets");
    TensorInfo t;
    t.name = name;
    t.file = path.string();
    if (!e["dtype"].is_string()) bad(path, name, "dtype is not a string");
    const std::string dt = e["dtype"].get<std::string>();
    std::size_t esize = 0;
    for (const auto& d : kDTypes)
      if (dt == d.name) {
        t.dtype = d.dtype;
        esize = d.size;
      }
    if (esize == 0) bad(path, name, "unknown dtype '" + dt + "'");
    if (!e["shape"].is_array()) bad(path, name, "shape is not a list");
    std::uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) bad(path, name, "shape has a negative or non-integer dimension");
      const auto v = d.get<std::uint64_t>();
      if (v != 0 && numel > std::numeric_limits<std::uint64_t>::max() / 16 / v) bad(path, name, "shape is too large");
      numel *= v;
      t.shape.push_back(static_cast<std::int64_t>(v));
    }
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad(path, name, "data_offsets must be two non-negative integers");
    const auto begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
    if (begin > end) bad(path, name, "data_offsets begin after they end");
    if (end > data_size)
      bad(path, name, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                          ") run past the data section (" + std::to_string(data_size) + " bytes; file truncated?)");
    if (end - begin != numel * esize)
      bad(path, name, "shape times " + dt + " size is " + std::to_string(numel * esize) + " bytes but data_offsets hold " +
                          std::to_string(end - begin));
    t.bytes = std::span<const std::byte>(data + begin, end - begin);
    ranges.push_back({begin, end, tensors_.size()});
    tensors_.push_back(std::move(t));
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  // Sorted by begin, a non-empty range overlaps an earlier one exactly when it starts before the furthest end.
  std::uint64_t furthest = 0;
  std::size_t furthest_index = 0;
  for (const auto& r : ranges) {
    if (r.begin == r.end) continue;
    if (r.begin < furthest) bad(path, tensors_[r.index].name, "data overlaps tensor " + tensors_[furthest_index].name);
    if (r.end > furthest) {
      furthest = r.end;
      furthest_index = r.index;
    }
  }
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
}

SafetensorsFile::~SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const TensorInfo& SafetensorsFile::at(std::string_view name) const {
  if (const auto* t = find(name)) return *t;
  bad(path_, std::string(name), "missing tensor");
}

WeightFiles WeightFiles::open(const std::filesystem::path& dir) {
  WeightFiles w;
  w.dir_ = dir;
  const auto single = dir / "model.safetensors";
  const auto index = dir / "model.safetensors.index.json";
  std::map<std::string, std::string> weight_map;
  if (std::filesystem::exists(index)) {
    std::ifstream in(index);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error(ErrorKind::Model, "not a valid index: needs a \"weight_map\" object", {index.string()});
    std::vector<std::string> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw Error(ErrorKind::Model, "weight_map value is not a file name", {index.string(), std::nullopt, it.key()});
      const auto shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard == "..")
        throw Error(ErrorKind::Model, "weight_map names a file outside the folder: " + shard, {index.string()});
      weight_map[it.key()] = shard;
      if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.push_back(shard);
    }
    std::sort(shards.begin(), shards.end());
    for (const auto& s : shards) {
      if (!std::filesystem::exists(dir / s))
        throw Error(ErrorKind::Model, "the index names shard " + s + ", which is missing", {index.string()});
      w.files_.emplace_back(dir / s);
    }
  } else if (std::filesystem::exists(single)) {
    w.files_.emplace_back(single);
  } else {
    throw Error(ErrorKind::Model, "no weights: neither model.safetensors nor model.safetensors.index.json", {dir.string()});
  }
  for (const auto& f : w.files_)
    for (const auto& t : f.tensors()) {
      if (w.by_name_.count(t.name))
        throw Error(ErrorKind::Model, "tensor stored twice (also in " + w.by_name_[t.name]->file + ")", {f.path().string(), std::nullopt, t.name});
      w.by_name_[t.name] = &t;
    }
  for (const auto& [name, shard] : weight_map) {
    auto it = w.by_name_.find(name);
    if (it == w.by_name_.end() || std::filesystem::path(it->second->file).filename() != shard)
      throw Error(ErrorKind::Model, "the index puts tensor " + name + " in " + shard + ", which does not hold it", {index.string()});
  }
  return w;
}

const TensorInfo* WeightFiles::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const TensorInfo& WeightFiles::at(std::string_view name) const {
  if (const auto* t = find(name)) return *t;
  throw Error(ErrorKind::Model, "missing tensor " + std::string(name), {dir_.string()});
}

std::vector<const TensorInfo*> WeightFiles::all() const {
  std::vector<const TensorInfo*> out;
  for (const auto& [name, t] : by_name_) out.push_back(t);
  return out;
}

std::uint64_t WeightFiles::total_bytes() const {
  std::uint64_t n = 0;
  for (const auto& [name, t] : by_name_) n += t->bytes.size();
  return n;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorSpec>& tensors,
                       const std::function<void(std::size_t, std::span<std::byte>)>& fill) {
  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  std::vector<std::uint64_t> sizes;
  for (const auto& t : tensors) {
    std::uint64_t n = dtype_size(t.dtype);
    for (auto d : t.shape) n *= static_cast<std::uint64_t>(d);
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
    sizes.push_back(n);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // data aligned to 8 bytes, as the reference writer does
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(ErrorKind::Io, "cannot write", {path.string()});
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(static_cast<std::uint64_t>(h.size()) >> (8 * i) & 0xff);
  out.write(len, 8);
  out << h;
  std::vector<std::byte> buffer;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    buffer.resize(sizes[i]);
    fill(i, buffer);
    out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
  }
  if (!out) throw Error(ErrorKind::Io, "write failed (disk full?)", {path.string()});
}

void release_pages(const TensorInfo& t) {
  const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(t.bytes.data());
  const std::uintptr_t first = (begin + page - 1) / page * page, last = (begin + t.bytes.size()) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

void to_f32_into(const TensorInfo& t, float* out) {
  const std::size_t n = static_cast<std::size_t>(t.numel());
  const auto* p = reinterpret_cast<const unsigned char*>(t.bytes.data());
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, p, n * 4);
      break;
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t bits = static_cast<std::uint32_t>(p[2 * i] | p[2 * i + 1] << 8) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      break;
    case DType::F16:
      for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_f32(static_cast<std::uint16_t>(p[2 * i] | p[2 * i + 1] << 8));
      break;
    default:
      throw Error(ErrorKind::Model, std::string("dtype ") + dtype_name(t.dtype) + " cannot be read as float32",
                  {t.file, std::nullopt, "tensor " + t.name});
  }
}

std::vector<float> to_f32(const TensorInfo& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  to_f32_into(t, out.data());
  return out;
}

}  // namespace folio::engine
