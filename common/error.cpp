#include "common/error.hpp"

namespace folio {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Usage: return "usage";
    case ErrorKind::Input: return "input";
    case ErrorKind::Encrypted: return "encrypted";
    case ErrorKind::Limit: return "limit";
    case ErrorKind::Model: return "model";
    case ErrorKind::Io: return "io";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Network: return "network";
    case ErrorKind::Internal: return "internal";
  }
  return "unknown";
}

Error::Error(ErrorKind kind, std::string reason, ErrorContext context)
    : std::runtime_error(format(reason, context)),
      kind_(kind),
      reason_(std::move(reason)),
      context_(std::move(context)) {}

// "file.pdf: page 3: field total: reason"
std::string Error::format(const std::string& reason, const ErrorContext& c) {
  std::string out;
  if (!c.file.empty()) out += c.file + ": ";
  if (c.page) out += "page " + std::to_string(*c.page) + ": ";
  if (!c.field.empty()) out += c.field + ": ";
  return out + reason;
}

Error Error::with_file(const std::string& file) const {
  ErrorContext c = context_;
  if (c.file.empty()) c.file = file;
  return Error(kind_, reason_, c);
}

Error Error::with_page(int page) const {
  ErrorContext c = context_;
  if (!c.page) c.page = page;
  return Error(kind_, reason_, c);
}

Error Error::with_field(const std::string& field) const {
  ErrorContext c = context_;
  if (c.field.empty()) c.field = field;
  return Error(kind_, reason_, c);
}

}  // namespace folio
