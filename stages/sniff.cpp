#include "stages/sniff.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"

namespace folio::stages {

const char* to_string(DocumentFormat format) {
  switch (format) {
    case DocumentFormat::Unknown: return "unknown";
    case DocumentFormat::Pdf: return "PDF";
    case DocumentFormat::Tiff: return "TIFF";
    case DocumentFormat::Png: return "PNG";
    case DocumentFormat::Jpeg: return "JPEG";
    case DocumentFormat::Bmp: return "BMP";
    case DocumentFormat::Pnm: return "PNM";
    case DocumentFormat::Gif: return "GIF";
    case DocumentFormat::WebP: return "WebP";
  }
  return "unknown";
}

namespace {

bool starts_with(std::span<const std::uint8_t> head, const char* magic, std::size_t n) {
  return head.size() >= n && std::memcmp(head.data(), magic, n) == 0;
}

bool is_pnm(std::span<const std::uint8_t> head) {
  // P1..P6 (netpbm) and P7 (PAM), then whitespace.
  return head.size() >= 3 && head[0] == 'P' && head[1] >= '1' && head[1] <= '7' &&
         (head[2] == ' ' || head[2] == '\n' || head[2] == '\r' || head[2] == '\t');
}

bool is_pdf(std::span<const std::uint8_t> head) {
  // Readers accept "%PDF-" anywhere in the first KiB (mail gateways and scanners prepend junk).
  static constexpr char kMagic[] = "%PDF-";
  const auto* begin = head.data();
  const auto* end = begin + std::min(head.size(), kSniffBytes);
  return std::search(begin, end, kMagic, kMagic + 5) != end;
}

}  // namespace

DocumentFormat sniff_format(std::span<const std::uint8_t> head) {
  if (starts_with(head, "\x89PNG\r\n\x1a\n", 8)) return DocumentFormat::Png;
  if (starts_with(head, "\xff\xd8\xff", 3)) return DocumentFormat::Jpeg;
  // Classic TIFF (42) and BigTIFF (43), both byte orders.
  if (starts_with(head, "II*\0", 4) || starts_with(head, "MM\0*", 4) || starts_with(head, "II+\0", 4) ||
      starts_with(head, "MM\0+", 4)) {
    return DocumentFormat::Tiff;
  }
  if (starts_with(head, "GIF87a", 6) || starts_with(head, "GIF89a", 6)) return DocumentFormat::Gif;
  if (head.size() >= 12 && starts_with(head, "RIFF", 4) && std::memcmp(head.data() + 8, "WEBP", 4) == 0) {
    return DocumentFormat::WebP;
  }
  if (starts_with(head, "BM", 2) && head.size() >= 26) return DocumentFormat::Bmp;
  if (is_pnm(head)) return DocumentFormat::Pnm;
  if (is_pdf(head)) return DocumentFormat::Pdf;
  return DocumentFormat::Unknown;
}

std::string describe_head(std::span<const std::uint8_t> head) {
  const std::size_t n = std::min<std::size_t>(head.size(), 8);
  std::string hex;
  std::string text;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) hex += ' ';
    hex += fmt::format("{:02x}", head[i]);
    text += (head[i] >= 0x20 && head[i] < 0x7f) ? static_cast<char>(head[i]) : '.';
  }
  return fmt::format("{} \"{}\"", hex, text);
}

DocumentFormat sniff_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::Io, "cannot open file", {path});
  std::vector<std::uint8_t> head(kSniffBytes);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  if (head.empty()) throw Error(ErrorKind::Input, "empty file (0 bytes)", {path});
  const DocumentFormat format = sniff_format(head);
  if (format == DocumentFormat::Unknown) {
    throw Error(ErrorKind::Input,
                fmt::format("not a supported document format (starts with {})", describe_head(head)), {path});
  }
  return format;
}

}  // namespace folio::stages
