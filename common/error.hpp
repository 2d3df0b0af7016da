// The one error type of Folio: a reason plus where it happened (file, page, field).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

namespace folio {

// What kind of failure this is; the CLI maps kinds to exit codes (docs/exit-codes.md).
enum class ErrorKind {
  Usage,      // bad flags, bad config or schema: exit 2
  Input,      // a document that cannot be read: that document fails, the batch goes on
  Encrypted,  // a PDF that needs a (different) password
  Limit,      // over a configured budget (pixels, pages, file size)
  Model,      // a checkpoint that cannot be loaded or does not fit its config: exit 3
  Io,         // the file system refused (write, rename, mmap)
  Timeout,    // a document ran past --timeout-per-doc
  Network,    // a download failed
  Internal,   // a bug: an invariant did not hold
};

const char* to_string(ErrorKind kind);

// Where an error happened. Every part is optional; what is set is printed.
struct ErrorContext {
  // A constructor (not an aggregate) so that `{file}` and `{file, page}` build one without warnings.
  ErrorContext(std::string file_ = {}, std::optional<int> page_ = {}, std::string field_ = {})
      : file(std::move(file_)), page(page_), field(std::move(field_)) {}

  std::string file;
  std::optional<int> page;  // 1-based, as users count pages
  std::string field;        // schema field, tensor name, config key, ...
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string reason, ErrorContext context = {});

  ErrorKind kind() const { return kind_; }
  const std::string& reason() const { return reason_; }
  const ErrorContext& context() const { return context_; }

  // A copy with more context filled in (outer layers know the file or page; inner ones may not).
  Error with_file(const std::string& file) const;
  Error with_page(int page) const;
  Error with_field(const std::string& field) const;

 private:
  static std::string format(const std::string& reason, const ErrorContext& context);

  ErrorKind kind_;
  std::string reason_;
  ErrorContext context_;
};

}  // namespace folio
