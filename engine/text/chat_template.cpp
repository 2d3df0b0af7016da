#include "engine/text/chat_template.hpp"

#include <cctype>
#include <functional>

#include "common/error.hpp"

namespace folio::engine::text {

using Value = TemplateValue;
using List = TemplateValue::List;
using Map = TemplateValue::Map;

namespace {

[[noreturn]] void unsupported(const std::string& what) {
  throw Error(ErrorKind::Model, "chat template: unsupported template construct: " + what);
}
[[noreturn]] void syntax(const std::string& what) { throw Error(ErrorKind::Model, "chat template: " + what); }

bool truthy(const Value& v) {
  return std::visit(
      [](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) return false;
        else if constexpr (std::is_same_v<T, bool>) return x;
        else if constexpr (std::is_same_v<T, long long>) return x != 0;
        else if constexpr (std::is_same_v<T, std::string>) return !x.empty();
        else return x && !x->empty();
      },
      v.v);
}

std::string to_text(const Value& v) {
  if (auto s = std::get_if<std::string>(&v.v)) return *s;
  if (auto i = std::get_if<long long>(&v.v)) return std::to_string(*i);
  if (auto b = std::get_if<bool>(&v.v)) return *b ? "True" : "False";
  if (std::holds_alternative<std::monostate>(v.v)) return "None";
  unsupported("printing a list or mapping");
}

bool equal(const Value& a, const Value& b) {
  if (a.v.index() != b.v.index()) return false;
  if (auto s = std::get_if<std::string>(&a.v)) return *s == std::get<std::string>(b.v);
  if (auto i = std::get_if<long long>(&a.v)) return *i == std::get<long long>(b.v);
  if (auto x = std::get_if<bool>(&a.v)) return *x == std::get<bool>(b.v);
  if (std::holds_alternative<std::monostate>(a.v)) return true;
  return false;
}

// ---- expression tokens ----
struct Tok {
  enum Kind { Name, Str, Int, Op, End } kind;
  std::string text;
};

std::vector<Tok> lex(const std::string& s) {
  std::vector<Tok> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::Name, s.substr(i, j - i)});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      out.push_back({Tok::Int, s.substr(i, j - i)});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string v;
      std::size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          const char e = s[++j];
          v += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          v += s[j];
        }
      }
      if (j >= s.size()) syntax("unterminated string");
      out.push_back({Tok::Str, v});
      i = j + 1;
    } else {
      static const char* two[] = {"==", "!=", "<=", ">="};
      bool done = false;
      for (const char* op : two)
        if (s.compare(i, 2, op) == 0) {
          out.push_back({Tok::Op, op});
          i += 2;
          done = true;
          break;
        }
      if (done) continue;
      if (std::string("+-~*/%()[].,|:<>=").find(c) == std::string::npos) syntax(std::string("unexpected character '") + c + "'");
      out.push_back({Tok::Op, std::string(1, c)});
      ++i;
    }
  }
  out.push_back({Tok::End, ""});
  return out;
}

}  // namespace

// ---- expressions ----
struct Scope {
  std::vector<Map> frames;
  const Value* find(const std::string& name) const {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return &f->second;
    }
    return nullptr;
  }
};

struct Expr {
  virtual ~Expr() = default;
  virtual Value eval(Scope& s) const = 0;
};
using ExprPtr = std::unique_ptr<Expr>;

namespace {

struct Literal : Expr {
  Value value;
  explicit Literal(Value v) : value(std::move(v)) {}
  Value eval(Scope&) const override { return value; }
};
struct Var : Expr {
  std::string name;
  explicit Var(std::string n) : name(std::move(n)) {}
  Value eval(Scope& s) const override {
    const Value* v = s.find(name);
    return v ? *v : Value();  // undefined renders as nothing, tests as false
  }
};
struct ListLit : Expr {
  std::vector<ExprPtr> items;
  Value eval(Scope& s) const override {
    List l;
    for (const auto& e : items) l.push_back(e->eval(s));
    return Value(std::move(l));
  }
};

Value get_item(const Value& obj, const Value& key) {
  if (auto m = std::get_if<std::shared_ptr<Map>>(&obj.v)) {
    if (auto k = std::get_if<std::string>(&key.v)) {
      auto it = (*m)->find(*k);
      return it == (*m)->end() ? Value() : it->second;
    }
    return Value();
  }
  if (auto l = std::get_if<std::shared_ptr<List>>(&obj.v)) {
    if (auto i = std::get_if<long long>(&key.v)) {
      long long idx = *i < 0 ? *i + static_cast<long long>((*l)->size()) : *i;
      if (idx >= 0 && idx < static_cast<long long>((*l)->size())) return (**l)[idx];
    }
    return Value();
  }
  if (auto str = std::get_if<std::string>(&obj.v)) {
    if (auto i = std::get_if<long long>(&key.v)) {
      long long idx = *i < 0 ? *i + static_cast<long long>(str->size()) : *i;
      if (idx >= 0 && idx < static_cast<long long>(str->size())) return Value(std::string(1, (*str)[idx]));
    }
  }
  return Value();
}

struct Item : Expr {
  ExprPtr obj, key;
  Value eval(Scope& s) const override { return get_item(obj->eval(s), key->eval(s)); }
};

std::string strip(const std::string& x, bool left, bool right) {
  std::size_t b = 0, e = x.size();
  if (left) while (b < e && std::isspace(static_cast<unsigned char>(x[b]))) ++b;
  if (right) while (e > b && std::isspace(static_cast<unsigned char>(x[e - 1]))) --e;
  return x.substr(b, e - b);
}

struct MethodCall : Expr {
  ExprPtr obj;
  std::string method;
  std::vector<ExprPtr> args;
  Value eval(Scope& s) const override {
    const Value o = obj->eval(s);
    const auto* str = std::get_if<std::string>(&o.v);
    if (!str) unsupported("method ." + method + "() on a non-string");
    std::vector<std::string> a;
    for (const auto& e : args) a.push_back(to_text(e->eval(s)));
    if (method == "strip" && a.empty()) return Value(strip(*str, true, true));
    if (method == "lstrip" && a.empty()) return Value(strip(*str, true, false));
    if (method == "rstrip" && a.empty()) return Value(strip(*str, false, true));
    if (method == "lower" || method == "upper") {
      std::string r = *str;
      for (auto& ch : r) ch = static_cast<char>(method == "lower" ? std::tolower(static_cast<unsigned char>(ch)) : std::toupper(static_cast<unsigned char>(ch)));
      return Value(r);
    }
    if (method == "startswith" && a.size() == 1) return Value(str->rfind(a[0], 0) == 0);
    if (method == "endswith" && a.size() == 1)
      return Value(str->size() >= a[0].size() && str->compare(str->size() - a[0].size(), a[0].size(), a[0]) == 0);
    unsupported("method ." + method + "()");
  }
};

struct Unary : Expr {
  std::string op;
  ExprPtr e;
  Value eval(Scope& s) const override {
    Value v = e->eval(s);
    if (op == "not") return Value(!truthy(v));
    if (auto i = std::get_if<long long>(&v.v)) return Value(-*i);
    unsupported("unary minus on a non-number");
  }
};

bool contains(const Value& hay, const Value& needle) {
  if (auto s = std::get_if<std::string>(&hay.v)) {
    if (auto n = std::get_if<std::string>(&needle.v)) return s->find(*n) != std::string::npos;
    return false;
  }
  if (auto l = std::get_if<std::shared_ptr<List>>(&hay.v)) {
    for (const auto& x : **l)
      if (equal(x, needle)) return true;
    return false;
  }
  if (auto m = std::get_if<std::shared_ptr<Map>>(&hay.v)) {
    if (auto n = std::get_if<std::string>(&needle.v)) return (*m)->count(*n) > 0;
  }
  return false;
}

struct Binary : Expr {
  std::string op;
  ExprPtr l, r;
  Value eval(Scope& s) const override {
    if (op == "and") {
      Value a = l->eval(s);
      return truthy(a) ? r->eval(s) : a;
    }
    if (op == "or") {
      Value a = l->eval(s);
      return truthy(a) ? a : r->eval(s);
    }
    const Value a = l->eval(s), b = r->eval(s);
    if (op == "==") return Value(equal(a, b));
    if (op == "!=") return Value(!equal(a, b));
    if (op == "in") return Value(contains(b, a));
    if (op == "not in") return Value(!contains(b, a));
    if (op == "~") return Value(to_text(a) + to_text(b));
    const auto* ia = std::get_if<long long>(&a.v);
    const auto* ib = std::get_if<long long>(&b.v);
    if (op == "+") {
      if (ia && ib) return Value(*ia + *ib);
      if (std::holds_alternative<std::string>(a.v) && std::holds_alternative<std::string>(b.v))
        return Value(std::get<std::string>(a.v) + std::get<std::string>(b.v));
      unsupported("'+' on these operand types");
    }
    if (ia && ib) {
      if (op == "-") return Value(*ia - *ib);
      if (op == "*") return Value(*ia * *ib);
      if (op == "%") {
        if (*ib == 0) syntax("modulo by zero");
        return Value(*ia % *ib);
      }
      if (op == "<") return Value(*ia < *ib);
      if (op == ">") return Value(*ia > *ib);
      if (op == "<=") return Value(*ia <= *ib);
      if (op == ">=") return Value(*ia >= *ib);
    }
    unsupported("operator " + op + " on these operand types");
  }
};

struct Filter : Expr {
  ExprPtr e;
  std::string name;
  Value eval(Scope& s) const override {
    Value v = e->eval(s);
    if (name == "length" || name == "count") {
      if (auto str = std::get_if<std::string>(&v.v)) return Value(static_cast<long long>(str->size()));
      if (auto l = std::get_if<std::shared_ptr<List>>(&v.v)) return Value(static_cast<long long>((*l)->size()));
      if (auto m = std::get_if<std::shared_ptr<Map>>(&v.v)) return Value(static_cast<long long>((*m)->size()));
      return Value(0);
    }
    if (name == "string") return Value(to_text(v));
    if (name == "first") return get_item(v, Value(0));
    if (name == "last") return get_item(v, Value(-1));
    const auto* str = std::get_if<std::string>(&v.v);
    if (!str) unsupported("filter '" + name + "' on a non-string");
    std::string r = *str;
    if (name == "trim") return Value(strip(r, true, true));
    if (name == "lower" || name == "upper") {
      for (auto& ch : r) ch = static_cast<char>(name == "lower" ? std::tolower(static_cast<unsigned char>(ch)) : std::toupper(static_cast<unsigned char>(ch)));
      return Value(r);
    }
    if (name == "capitalize") {
      for (auto& ch : r) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!r.empty()) r[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(r[0])));
      return Value(r);
    }
    unsupported("filter '" + name + "'");
  }
};

struct Test : Expr {
  ExprPtr e;
  std::string name;
  bool negate = false;
  Value eval(Scope& s) const override {
    bool r;
    if (name == "defined") {
      const auto* var = dynamic_cast<const Var*>(e.get());
      r = var ? s.find(var->name) != nullptr : !std::holds_alternative<std::monostate>(e->eval(s).v);
    } else {
      const Value v = e->eval(s);
      if (name == "none") r = std::holds_alternative<std::monostate>(v.v);
      else if (name == "string") r = std::holds_alternative<std::string>(v.v);
      else if (name == "number" || name == "integer") r = std::holds_alternative<long long>(v.v);
      else if (name == "mapping") r = std::holds_alternative<std::shared_ptr<Map>>(v.v);
      else if (name == "sequence" || name == "iterable")
        r = std::holds_alternative<std::shared_ptr<List>>(v.v) || std::holds_alternative<std::string>(v.v);
      else unsupported("test 'is " + name + "'");
    }
    return Value(negate ? !r : r);
  }
};

struct RaiseException : Expr {
  ExprPtr message;
  Value eval(Scope& s) const override {
    throw Error(ErrorKind::Input, "chat template refused the conversation: " + to_text(message->eval(s)));
  }
};

class Parser {
 public:
  explicit Parser(const std::string& src) : toks_(lex(src)) {}
  ExprPtr parse_all() {
    auto e = parse_or();
    if (peek().kind != Tok::End) syntax("unexpected '" + peek().text + "'");
    return e;
  }
  const Tok& peek() const { return toks_[pos_]; }
  bool accept(const std::string& text) {
    if ((peek().kind == Tok::Op || peek().kind == Tok::Name) && peek().text == text) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(const std::string& text) {
    if (!accept(text)) syntax("expected '" + text + "' before '" + peek().text + "'");
  }
  std::string name() {
    if (peek().kind != Tok::Name) syntax("expected a name before '" + peek().text + "'");
    return toks_[pos_++].text;
  }
  ExprPtr parse_or() {
    auto l = parse_and();
    while (accept("or")) l = bin("or", std::move(l), parse_and());
    return l;
  }

 private:
  static ExprPtr bin(std::string op, ExprPtr l, ExprPtr r) {
    auto b = std::make_unique<Binary>();
    b->op = std::move(op);
    b->l = std::move(l);
    b->r = std::move(r);
    return b;
  }
  ExprPtr parse_and() {
    auto l = parse_not();
    while (accept("and")) l = bin("and", std::move(l), parse_not());
    return l;
  }
  ExprPtr parse_not() {
    if (accept("not")) {
      auto u = std::make_unique<Unary>();
      u->op = "not";
      u->e = parse_not();
      return u;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    auto l = parse_concat();
    for (;;) {
      for (const char* op : {"==", "!=", "<=", ">=", "<", ">"})
        if (accept(op)) {
          l = bin(op, std::move(l), parse_concat());
          goto next;
        }
      if (accept("in")) {
        l = bin("in", std::move(l), parse_concat());
        continue;
      }
      if (peek().text == "not" && toks_[pos_ + 1].text == "in") {
        pos_ += 2;
        l = bin("not in", std::move(l), parse_concat());
        continue;
      }
      if (accept("is")) {
        auto t = std::make_unique<Test>();
        t->negate = accept("not");
        t->name = name();
        t->e = std::move(l);
        l = std::move(t);
        continue;
      }
      return l;
    next:;
    }
  }
  ExprPtr parse_concat() {
    auto l = parse_add();
    while (accept("~")) l = bin("~", std::move(l), parse_add());
    return l;
  }
  ExprPtr parse_add() {
    auto l = parse_mul();
    for (;;) {
      if (accept("+")) l = bin("+", std::move(l), parse_mul());
      else if (accept("-")) l = bin("-", std::move(l), parse_mul());
      else return l;
    }
  }
  ExprPtr parse_mul() {
    auto l = parse_unary();
    for (;;) {
      if (accept("*")) l = bin("*", std::move(l), parse_unary());
      else if (accept("%")) l = bin("%", std::move(l), parse_unary());
      else if (peek().text == "/") unsupported("division");
      else return l;
    }
  }
  ExprPtr parse_unary() {
    if (accept("-")) {
      auto u = std::make_unique<Unary>();
      u->op = "-";
      u->e = parse_unary();
      return u;
    }
    return parse_postfix();
  }
  ExprPtr parse_postfix() {
    auto e = parse_primary();
    for (;;) {
      if (accept("[")) {
        auto it = std::make_unique<Item>();
        it->obj = std::move(e);
        if (peek().text == ":") unsupported("slices");
        it->key = parse_or();
        expect("]");
        e = std::move(it);
      } else if (accept(".")) {
        const std::string attr = name();
        if (accept("(")) {
          auto call = std::make_unique<MethodCall>();
          call->obj = std::move(e);
          call->method = attr;
          if (!accept(")")) {
            do call->args.push_back(parse_or());
            while (accept(","));
            expect(")");
          }
          e = std::move(call);
        } else {
          auto it = std::make_unique<Item>();
          it->obj = std::move(e);
          it->key = std::make_unique<Literal>(Value(attr));
          e = std::move(it);
        }
      } else if (accept("|")) {
        auto f = std::make_unique<Filter>();
        f->e = std::move(e);
        f->name = name();
        if (peek().text == "(") unsupported("filter arguments (|" + f->name + "(...))");
        e = std::move(f);
      } else {
        return e;
      }
    }
  }
  ExprPtr parse_primary() {
    const Tok t = peek();
    if (t.kind == Tok::Str) {
      ++pos_;
      std::string s = t.text;
      while (peek().kind == Tok::Str) s += toks_[pos_++].text;  // adjacent literals concatenate
      return std::make_unique<Literal>(Value(s));
    }
    if (t.kind == Tok::Int) {
      ++pos_;
      return std::make_unique<Literal>(Value(std::stoll(t.text)));
    }
    if (accept("(")) {
      auto e = parse_or();
      expect(")");
      return e;
    }
    if (accept("[")) {
      auto l = std::make_unique<ListLit>();
      if (!accept("]")) {
        do l->items.push_back(parse_or());
        while (accept(","));
        expect("]");
      }
      return l;
    }
    if (t.kind == Tok::Name) {
      ++pos_;
      if (t.text == "true" || t.text == "True") return std::make_unique<Literal>(Value(true));
      if (t.text == "false" || t.text == "False") return std::make_unique<Literal>(Value(false));
      if (t.text == "none" || t.text == "None") return std::make_unique<Literal>(Value());
      if (t.text == "raise_exception" && accept("(")) {
        auto r = std::make_unique<RaiseException>();
        r->message = parse_or();
        expect(")");
        return r;
      }
      if (peek().text == "(") unsupported("function call " + t.text + "()");
      return std::make_unique<Var>(t.text);
    }
    syntax("unexpected '" + t.text + "'");
  }

  std::vector<Tok> toks_;
  std::size_t pos_ = 0;
};

}  // namespace

// ---- statements ----
struct ChatTemplate::Node {
  virtual ~Node() = default;
  virtual void render(Scope& s, std::string& out) const = 0;
};
using NodePtr = std::unique_ptr<ChatTemplate::Node>;
using Body = std::vector<NodePtr>;

namespace {

void render_body(const Body& body, Scope& s, std::string& out) {
  for (const auto& n : body) n->render(s, out);
}

struct TextNode : ChatTemplate::Node {
  std::string text;
  void render(Scope&, std::string& out) const override { out += text; }
};
struct OutputNode : ChatTemplate::Node {
  ExprPtr e;
  void render(Scope& s, std::string& out) const override { out += to_text(e->eval(s)); }
};
struct IfNode : ChatTemplate::Node {
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body otherwise;
  void render(Scope& s, std::string& out) const override {
    for (const auto& [cond, body] : branches)
      if (truthy(cond->eval(s))) return render_body(body, s, out);
    render_body(otherwise, s, out);
  }
};
struct ForNode : ChatTemplate::Node {
  std::string var;
  ExprPtr iterable;
  Body body;
  void render(Scope& s, std::string& out) const override {
    const Value v = iterable->eval(s);
    List items;
    if (auto l = std::get_if<std::shared_ptr<List>>(&v.v)) items = **l;
    else if (!std::holds_alternative<std::monostate>(v.v)) unsupported("for over a non-list");
    const long long n = static_cast<long long>(items.size());
    for (long long i = 0; i < n; ++i) {
      Map frame;
      frame[var] = items[i];
      frame["loop"] = Value(Map{{"index", Value(i + 1)}, {"index0", Value(i)}, {"first", Value(i == 0)},
                                {"last", Value(i == n - 1)}, {"length", Value(n)},
                                {"revindex", Value(n - i)}, {"revindex0", Value(n - i - 1)}});
      s.frames.push_back(std::move(frame));
      render_body(body, s, out);
      s.frames.pop_back();
    }
  }
};
struct SetNode : ChatTemplate::Node {
  std::string name;
  ExprPtr e;
  void render(Scope& s, std::string& out) const override {
    (void)out;
    s.frames.back()[name] = e->eval(s);
  }
};

// Splits the source into text / {{ }} / {% %} parts, applying whitespace control.
struct Part {
  enum Kind { Text, Expr, Stmt } kind;
  std::string body;
};

std::vector<Part> split_source(const std::string& src) {
  std::vector<Part> parts;
  std::size_t i = 0;
  bool strip_next = false;
  while (i <= src.size()) {
    const std::size_t open = src.find('{', i);
    std::size_t tag = std::string::npos;
    for (std::size_t p = open; p != std::string::npos && p + 1 < src.size(); p = src.find('{', p + 1))
      if (src[p + 1] == '{' || src[p + 1] == '%' || src[p + 1] == '#') {
        tag = p;
        break;
      }
    std::string text = src.substr(i, tag == std::string::npos ? std::string::npos : tag - i);
    if (strip_next) text = strip(text, true, false);
    if (tag == std::string::npos) {
      if (!text.empty()) parts.push_back({Part::Text, text});
      break;
    }
    const char kind = src[tag + 1];
    const bool strip_before = tag + 2 < src.size() && src[tag + 2] == '-';
    if (strip_before) text = strip(text, false, true);
    if (!text.empty()) parts.push_back({Part::Text, text});
    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    const std::size_t end = src.find(close, tag + 2);
    if (end == std::string::npos) syntax("unclosed tag");
    std::size_t b = tag + 2 + (strip_before ? 1 : 0), e = end;
    strip_next = e > b && src[e - 1] == '-';
    if (strip_next) --e;
    if (kind != '#') parts.push_back({kind == '{' ? Part::Expr : Part::Stmt, src.substr(b, e - b)});
    i = end + 2;
  }
  return parts;
}

class StatementParser {
 public:
  explicit StatementParser(std::vector<Part> parts) : parts_(std::move(parts)) {}

  // Parses until one of `terminators` (a statement keyword); returns which one ended it ("" at the end).
  std::string parse(Body& body, const std::vector<std::string>& terminators) {
    while (pos_ < parts_.size()) {
      const Part& p = parts_[pos_++];
      if (p.kind == Part::Text) {
        auto t = std::make_unique<TextNode>();
        t->text = p.body;
        body.push_back(std::move(t));
      } else if (p.kind == Part::Expr) {
        auto o = std::make_unique<OutputNode>();
        o->e = Parser(p.body).parse_all();
        body.push_back(std::move(o));
      } else {
        Parser ps(p.body);
        const std::string kw = ps.name();
        for (const auto& t : terminators)
          if (kw == t) {
            current_ = std::move(ps);
            return kw;
          }
        if (kw == "if") body.push_back(parse_if(ps));
        else if (kw == "for") body.push_back(parse_for(ps));
        else if (kw == "set") {
          auto s = std::make_unique<SetNode>();
          s->name = ps.name();
          if (ps.peek().text == ".") unsupported("set of an attribute");
          ps.expect("=");
          s->e = ps.parse_or();
          body.push_back(std::move(s));
        } else {
          unsupported("{% " + kw + " %}");
        }
      }
    }
    if (!terminators.empty()) syntax("missing {% " + terminators.back() + " %}");
    return "";
  }

 private:
  NodePtr parse_if(Parser& ps) {
    auto node = std::make_unique<IfNode>();
    ExprPtr cond = ps.parse_all();
    for (;;) {
      Body body;
      const std::string end = parse(body, {"elif", "else", "endif"});
      node->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") {
        cond = current_->parse_all();
        continue;
      }
      if (end == "else") parse(node->otherwise, {"endif"});
      return node;
    }
  }
  NodePtr parse_for(Parser& ps) {
    auto node = std::make_unique<ForNode>();
    node->var = ps.name();
    if (ps.peek().text == ",") unsupported("for with several loop variables");
    ps.expect("in");
    node->iterable = ps.parse_or();
    if (ps.peek().kind != Tok::End) unsupported("for ... " + ps.peek().text + " (filters in for loops)");
    const std::string end = parse(node->body, {"else", "endfor"});
    if (end == "else") unsupported("for ... else");
    return node;
  }

  std::vector<Part> parts_;
  std::size_t pos_ = 0;
  std::optional<Parser> current_;
};

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source) {
  StatementParser p(split_source(source));
  p.parse(body_, {});
}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const Map& variables) const {
  Scope s;
  s.frames.push_back(variables);
  s.frames.emplace_back();  // {% set %} writes here
  std::string out;
  render_body(body_, s, out);
  return out;
}

}  // namespace folio::engine::text
