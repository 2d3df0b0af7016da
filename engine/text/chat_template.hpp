// Renders a checkpoint's chat template: the subset of Jinja2 chat templates use (text, {{ expr }},
// if/elif/else, for with loop.*, set, filters, comparisons, string concatenation, whitespace control).
// Anything else is refused by name rather than rendered wrong.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace folio::engine::text {

// A template value: what JSON holds.
struct TemplateValue {
  using List = std::vector<TemplateValue>;
  using Map = std::map<std::string, TemplateValue>;
  std::variant<std::monostate, bool, long long, std::string, std::shared_ptr<List>, std::shared_ptr<Map>> v;

  TemplateValue() = default;
  TemplateValue(bool b) : v(b) {}
  TemplateValue(int i) : v(static_cast<long long>(i)) {}
  TemplateValue(long long i) : v(i) {}
  TemplateValue(const char* s) : v(std::string(s)) {}
  TemplateValue(std::string s) : v(std::move(s)) {}
  TemplateValue(List l) : v(std::make_shared<List>(std::move(l))) {}
  TemplateValue(Map m) : v(std::make_shared<Map>(std::move(m))) {}
};

class ChatTemplate {
 public:
  // Parses once; throws folio::Error (Model) naming the construct it does not support.
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  std::string render(const TemplateValue::Map& variables) const;

  struct Node;

 private:
  std::vector<std::unique_ptr<Node>> body_;
};

}  // namespace folio::engine::text
