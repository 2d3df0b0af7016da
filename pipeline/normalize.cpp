#include "pipeline/normalize.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "pipeline/regex.hpp"

namespace folio::pipeline {
namespace {

using nlohmann::json;

bool is_space_byte(unsigned char c) { return std::isspace(c) != 0; }

// Trimmed, inner whitespace (and the UTF-8 no-break / narrow no-break / thin spaces) collapsed to one
// space, surrounding quotes and a final full stop removed.
std::string clean(std::string_view raw) {
  std::string s;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    bool space = is_space_byte(c);
    std::size_t skip = 0;
    if (c == 0xC2 && i + 1 < raw.size() && static_cast<unsigned char>(raw[i + 1]) == 0xA0) space = true, skip = 1;
    if (c == 0xE2 && i + 2 < raw.size() && static_cast<unsigned char>(raw[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(raw[i + 2]) == 0xAF || static_cast<unsigned char>(raw[i + 2]) == 0x89))
      space = true, skip = 2;
    if (space) {
      if (!s.empty() && s.back() != ' ') s += ' ';
    } else {
      s += static_cast<char>(c);
    }
    i += skip;
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  for (;;) {
    if (s.size() >= 2 && ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\'') ||
                          (s.front() == '`' && s.back() == '`')))
      s = s.substr(1, s.size() - 2);
    else if (s.size() >= 6 && s.rfind("\xE2\x80\x9C", 0) == 0 && s.compare(s.size() - 3, 3, "\xE2\x80\x9D") == 0)
      s = s.substr(3, s.size() - 6);
    else
      break;
  }
  // A sentence's full stop goes; a number's trailing point ("12.") stays for the number parser.
  if (!s.empty() && s.back() == '.' &&
      (s.find(' ') != std::string::npos ||
       std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isalpha(c) || c >= 0x80; }) ||
       (s.size() >= 2 && !std::isdigit(static_cast<unsigned char>(s[s.size() - 2])))))
    s.pop_back();
  while (!s.empty() && s.back() == ' ') s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Normalized invalid(const std::string& reason) {
  Normalized n;
  n.value = nullptr;
  n.valid = false;
  n.reason = reason;
  return n;
}

Normalized ok(json value) {
  Normalized n;
  n.value = std::move(value);
  return n;
}

// ---- numbers ------------------------------------------------------------------------------------

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// Digits grouped by `sep` in threes after the first group ("1,234,567").
bool grouped(std::string_view s, char sep) {
  std::size_t start = 0;
  bool first = true;
  while (true) {
    const auto end = s.find(sep, start);
    const auto part = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!all_digits(part) || (first ? part.size() > 3 : part.size() != 3)) return false;
    first = false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

// A number written with either convention: "1,234.56", "1.234,56", "1 234,56", "1'234.56", "-12",
// "(12.50)" (negative, as accountants write it), "12%". A lone separator followed by three digits
// ("1,234" / "1.234") is read as grouping when it is a comma and as a decimal point when it is a point,
// as English-language documents write them.
std::optional<double> parse_number(std::string_view text) {
  // A space or apostrophe between digits groups thousands: exactly three digits must follow it.
  for (std::size_t i = 1; i + 1 < text.size(); ++i)
    if ((text[i] == ' ' || text[i] == '\'') && std::isdigit(static_cast<unsigned char>(text[i - 1]))) {
      std::size_t n = 0;
      while (i + 1 + n < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1 + n]))) ++n;
      if (n > 0 && n != 3) return std::nullopt;
    }
  std::string s;
  for (char c : text)
    if (c != ' ' && c != '\'' && c != '_') s += c;
  bool negative = false;
  if (s.size() >= 2 && s.front() == '(' && s.back() == ')') {
    negative = true;
    s = s.substr(1, s.size() - 2);
  }
  if (!s.empty() && s.back() == '%') s.pop_back();
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = negative != (s.front() == '-');
    s.erase(s.begin());
  } else if (!s.empty() && s.back() == '-') {  // "12.50-" (trailing minus on statements)
    negative = true;
    s.pop_back();
  }
  if (s.empty()) return std::nullopt;
  const auto last_comma = s.rfind(','), last_dot = s.rfind('.');
  std::string integer, fraction;
  auto split_at = [&](std::size_t pos, char group) -> bool {
    const std::string_view head(s.data(), pos);
    fraction = s.substr(pos + 1);
    if (!fraction.empty() && !all_digits(fraction)) return false;  // "12." is 12
    if (head.find(group) != std::string_view::npos) {
      if (!grouped(head, group)) return false;
      for (char c : head)
        if (c != group) integer += c;
    } else {
      if (!all_digits(head) && !head.empty()) return false;
      integer = head.empty() ? "0" : std::string(head);
    }
    return true;
  };
  if (last_comma != std::string::npos && last_dot != std::string::npos) {
    // Both: the later one is the decimal mark.
    if (!(last_dot > last_comma ? split_at(last_dot, ',') : split_at(last_comma, '.'))) return std::nullopt;
  } else if (last_comma != std::string::npos) {
    if (std::count(s.begin(), s.end(), ',') > 1 || (s.size() - last_comma - 1 == 3 && last_comma > 0)) {
      if (!grouped(s, ',')) return std::nullopt;
      for (char c : s)
        if (c != ',') integer += c;
    } else if (!split_at(last_comma, '.')) {
      return std::nullopt;
    }
  } else if (last_dot != std::string::npos) {
    if (std::count(s.begin(), s.end(), '.') > 1) {
      if (!grouped(s, '.')) return std::nullopt;
      for (char c : s)
        if (c != '.') integer += c;
    } else if (!split_at(last_dot, ',')) {
      return std::nullopt;
    }
  } else {
    if (!all_digits(s)) return std::nullopt;
    integer = s;
  }
  if (integer.empty() || integer.size() > 18) return std::nullopt;
  const double v = std::stod(integer + (fraction.empty() ? "" : "." + fraction));
  return negative ? -v : v;
}

json number_json(double v) {
  if (std::abs(v) < 9e15 && v == std::floor(v)) return static_cast<long long>(v);
  return v;
}

Normalized normalize_number(const std::string& s) {
  if (auto v = parse_number(s)) return ok(number_json(*v));
  return invalid("not a number: '" + s + "'");
}

Normalized normalize_integer(const std::string& s) {
  auto v = parse_number(s);
  if (!v) return invalid("not an integer: '" + s + "'");
  if (*v != std::floor(*v)) return invalid("not a whole number: '" + s + "'");
  return ok(static_cast<long long>(*v));
}

// ---- money --------------------------------------------------------------------------------------

// Currency markers, longest first so "US$" wins over "$".
const std::vector<std::pair<std::string, std::string>>& currency_symbols() {
  static const std::vector<std::pair<std::string, std::string>> s = {
      {"US$", "USD"}, {"CA$", "CAD"}, {"AU$", "AUD"}, {"NZ$", "NZD"}, {"HK$", "HKD"}, {"R$", "BRL"},  {"C$", "CAD"},
      {"A$", "AUD"},  {"S$", "SGD"},  {"€", "EUR"},   {"£", "GBP"},   {"¥", "JPY"},   {"₹", "INR"},   {"₩", "KRW"},
      {"₽", "RUB"},   {"₺", "TRY"},   {"₪", "ILS"},   {"₫", "VND"},   {"₴", "UAH"},   {"₦", "NGN"},   {"฿", "THB"},
      {"zł", "PLN"},  {"Kč", "CZK"},  {"Fr.", "CHF"}, {"$", "USD"},
  };
  return s;
}

const std::vector<std::string>& iso_codes() {
  static const std::vector<std::string> c = {
      "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "CNY", "RMB", "HKD", "SGD", "INR", "KRW", "SEK", "NOK",
      "DKK", "PLN", "CZK", "HUF", "RON", "BGN", "TRY", "RUB", "UAH", "ILS", "ZAR", "BRL", "MXN", "ARS", "CLP", "COP",
      "PEN", "AED", "SAR", "QAR", "KWD", "EGP", "MAD", "NGN", "KES", "THB", "VND", "IDR", "MYR", "PHP", "TWD", "ISK"};
  return c;
}

Normalized normalize_money(const std::string& s) {
  std::string rest = s, currency;
  // An ISO code as its own word, in any case ("1.234,56 EUR", "usd 99").
  {
    std::string word;
    std::vector<std::pair<std::size_t, std::size_t>> words;
    for (std::size_t i = 0; i <= rest.size(); ++i) {
      if (i < rest.size() && std::isalpha(static_cast<unsigned char>(rest[i]))) continue;
      std::size_t b = i;
      while (b > 0 && std::isalpha(static_cast<unsigned char>(rest[b - 1]))) --b;
      if (i - b == 3) words.emplace_back(b, 3);
    }
    for (auto [b, n] : words) {
      std::string w = rest.substr(b, n);
      std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      if (std::find(iso_codes().begin(), iso_codes().end(), w) != iso_codes().end()) {
        currency = w == "RMB" ? "CNY" : w;
        rest.erase(b, n);
        break;
      }
    }
  }
  if (currency.empty())
    for (const auto& [sym, code] : currency_symbols())
      if (auto at = rest.find(sym); at != std::string::npos) {
        currency = code;
        rest.erase(at, sym.size());
        break;
      }
  // Spelled-out currencies.
  const std::string l = lower(rest);
  for (auto [word, code] : {std::pair{"dollars", "USD"}, std::pair{"dollar", "USD"}, std::pair{"euros", "EUR"},
                            std::pair{"euro", "EUR"}, std::pair{"pounds", "GBP"}, std::pair{"yen", "JPY"}})
    if (auto at = l.find(word); at != std::string::npos && currency.empty()) {
      currency = code;
      rest.erase(at, std::string(word).size());
    }
  std::string number = clean(rest);
  // "-$5.00" leaves "-" then "5.00" after the symbol: rejoin.
  number.erase(std::remove(number.begin(), number.end(), ' '), number.end());
  const auto v = parse_number(number);
  if (!v) return invalid("not an amount of money: '" + s + "'");
  return ok(json{{"amount", number_json(*v)}, {"currency", currency.empty() ? json(nullptr) : json(currency)}});
}

// ---- dates --------------------------------------------------------------------------------------

int month_from_name(std::string w) {
  w = lower(w);
  while (!w.empty() && w.back() == '.') w.pop_back();
  static const std::map<std::string, int> names = {
      {"january", 1},  {"jan", 1},  {"february", 2}, {"feb", 2},  {"march", 3},     {"mar", 3},  {"april", 4},
      {"apr", 4},      {"may", 5},  {"june", 6},     {"jun", 6},  {"july", 7},      {"jul", 7},  {"august", 8},
      {"aug", 8},      {"september", 9}, {"sep", 9}, {"sept", 9}, {"october", 10},  {"oct", 10}, {"november", 11},
      {"nov", 11},     {"december", 12}, {"dec", 12},
      // French, German, Spanish (accents as written in UTF-8).
      {"janvier", 1},  {"février", 2}, {"fevrier", 2}, {"mars", 3}, {"avril", 4},   {"mai", 5},  {"juin", 6},
      {"juillet", 7},  {"août", 8},    {"aout", 8},    {"septembre", 9}, {"octobre", 10}, {"novembre", 11},
      {"décembre", 12}, {"decembre", 12}, {"januar", 1}, {"jänner", 1}, {"februar", 2}, {"märz", 3}, {"maerz", 3},
      {"juni", 6},     {"juli", 7},    {"oktober", 10}, {"dezember", 12}, {"enero", 1}, {"febrero", 2}, {"marzo", 3},
      {"abril", 4},    {"mayo", 5},    {"junio", 6},   {"julio", 7}, {"agosto", 8}, {"septiembre", 9}, {"setiembre", 9},
      {"octubre", 10}, {"noviembre", 11}, {"diciembre", 12}};
  auto it = names.find(w);
  return it == names.end() ? 0 : it->second;
}

bool is_weekday(std::string w) {
  w = lower(w);
  while (!w.empty() && (w.back() == '.' || w.back() == ',')) w.pop_back();
  for (const char* d : {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mon", "tue", "tues",
                        "wed", "thu", "thur", "thurs", "fri", "sat", "sun"})
    if (w == d) return true;
  return false;
}

bool valid_date(int y, int m, int d) {
  if (y < 1000 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

// Two-digit years as POSIX strptime reads them: 00-68 -> 20xx, 69-99 -> 19xx.
int full_year(const std::string& digits) {
  const int y = std::stoi(digits);
  if (digits.size() == 4) return y;
  if (digits.size() == 2) return y <= 68 ? 2000 + y : 1900 + y;
  return -1;
}

Normalized date_result(int y, int m, int d, const std::string& s) {
  if (!valid_date(y, m, d)) return invalid("not a real date: '" + s + "'");
  return ok(fmt::format("{:04d}-{:02d}-{:02d}", y, m, d));
}

Normalized normalize_date(const std::string& s, DateOrder order) {
  // Tokens: runs of digits and runs of letters; separators dropped; ordinals and weekdays ignored.
  std::vector<std::string> tokens;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) tokens.push_back(cur);
    cur.clear();
  };
  char last_kind = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const char kind = std::isdigit(c) ? 'd' : (std::isalpha(c) || c >= 0x80) ? 'a' : 0;
    if (kind != last_kind) flush();
    if (kind) cur += static_cast<char>(c);
    last_kind = kind;
  }
  flush();
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto l = lower(tokens[i]);
    if (is_weekday(l) || l == "of" || l == "the" || l == "de" || l == "del") continue;
    if ((l == "st" || l == "nd" || l == "rd" || l == "th" || l == "er") && !parts.empty() && all_digits(parts.back())) continue;
    parts.push_back(tokens[i]);
  }
  if (parts.size() != 3) return invalid("not a date: '" + s + "'");
  const int named = [&] {
    for (int i = 0; i < 3; ++i)
      if (!all_digits(parts[i])) return i;
    return -1;
  }();
  if (named >= 0) {
    const int m = month_from_name(parts[named]);
    if (m == 0) return invalid("unknown month '" + parts[named] + "' in '" + s + "'");
    std::vector<std::string> nums;
    for (int i = 0; i < 3; ++i)
      if (i != named) {
        if (!all_digits(parts[i])) return invalid("not a date: '" + s + "'");
        nums.push_back(parts[i]);
      }
    // "5 Nov 2024", "Nov 5, 2024", "2024 Nov 5": the four-digit (or last) number is the year.
    const bool year_first = nums[0].size() == 4;
    const std::string& yd = year_first ? nums[0] : nums[1];
    const std::string& dd = year_first ? nums[1] : nums[0];
    if (dd.size() > 2) return invalid("not a date: '" + s + "'");
    const int y = full_year(yd);
    if (y < 0) return invalid("not a year in '" + s + "'");
    return date_result(y, m, std::stoi(dd), s);
  }
  for (const auto& p : parts)
    if (p.size() > 4 || p.size() == 3) return invalid("not a date: '" + s + "'");
  int y, m, d;
  if (parts[0].size() == 4) {  // 2024-11-05, whatever the configured order
    y = std::stoi(parts[0]);
    m = std::stoi(parts[1]);
    d = std::stoi(parts[2]);
  } else if (order == DateOrder::YMD) {
    y = full_year(parts[0]);
    m = std::stoi(parts[1]);
    d = std::stoi(parts[2]);
  } else {
    if (parts[2].size() != 4 && parts[2].size() != 2) return invalid("not a date: '" + s + "'");
    y = full_year(parts[2]);
    const int a = std::stoi(parts[0]), b = std::stoi(parts[1]);
    m = order == DateOrder::DMY ? b : a;
    d = order == DateOrder::DMY ? a : b;
  }
  return date_result(y, m, d, s);
}

// ---- the rest -----------------------------------------------------------------------------------

Normalized normalize_boolean(const std::string& s) {
  const auto l = lower(s);
  for (const char* t : {"yes", "y", "true", "1", "checked", "ticked", "x", "oui", "ja", "si", "sí", "on"})
    if (l == t) return ok(true);
  for (const char* f : {"no", "n", "false", "0", "unchecked", "not checked", "unticked", "non", "nein", "off"})
    if (l == f) return ok(false);
  return invalid("not yes or no: '" + s + "'");
}

std::string fold(const std::string& s) {
  std::string out;
  for (unsigned char c : s)
    if (std::isalnum(c) || c >= 0x80) out += static_cast<char>(std::tolower(c));
  return out;
}

Normalized normalize_enum(const std::string& s, const std::vector<std::string>& values) {
  for (const auto& v : values)
    if (fold(v) == fold(s)) return ok(v);
  std::string list;
  for (const auto& v : values) list += (list.empty() ? "" : ", ") + v;
  return invalid("'" + s + "' is not one of " + list);
}

Normalized normalize_scalar(FieldType type, const std::string& s, const NormalizeOptions& o,
                            const std::vector<std::string>& values) {
  switch (type) {
    case FieldType::String: return ok(s);
    case FieldType::Integer: return normalize_integer(s);
    case FieldType::Number: return normalize_number(s);
    case FieldType::Money: return normalize_money(s);
    case FieldType::Date: return normalize_date(s, o.date_order);
    case FieldType::Boolean: return normalize_boolean(s);
    case FieldType::Enum: return normalize_enum(s, values);
    case FieldType::List: break;
  }
  return invalid("a list cannot hold lists");
}

std::vector<std::string> split_list(const std::string& s) {
  // Semicolons or line breaks when present (so "1,234.50; 99" keeps its thousands), else commas and "and".
  std::vector<std::string> items;
  const bool strong = s.find(';') != std::string::npos || s.find('\n') != std::string::npos;
  std::string cur;
  auto push = [&] {
    auto c = clean(cur);
    if (!c.empty()) items.push_back(c);
    cur.clear();
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ';' || c == '\n' || (!strong && c == ',')) {
      push();
    } else if (!strong && s.compare(i, 5, " and ") == 0) {
      push();
      i += 4;
    } else {
      cur += c;
    }
  }
  push();
  return items;
}

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("amount")) return v["amount"].dump();
  return v.dump();
}

}  // namespace

bool means_not_present(std::string_view raw) {
  const std::string l = lower(clean(raw));
  static const char* exact[] = {"", "-", "--", "—", "–", "n/a", "na", "n.a", "none", "null", "nil", "nothing", "unknown",
                                "not present", "not found", "not available", "not applicable", "not visible",
                                "not shown", "not stated", "not specified", "not mentioned", "not provided",
                                "not given", "no answer", "no information", "no data", "not legible", "illegible",
                                "there is none", "not present in the document", "not in the document"};
  for (const char* e : exact)
    if (l == e) return true;
  for (const char* prefix : {"there is no ", "there are no ", "the document does not ", "the image does not ",
                             "the page does not ", "i cannot ", "i can't ", "i could not ", "i couldn't ", "i'm sorry",
                             "sorry, ", "it is not ", "it's not ", "no such "})
    if (l.rfind(prefix, 0) == 0) return true;
  return false;
}

Normalized normalize(FieldType type, std::string_view raw, const NormalizeOptions& o,
                     const std::vector<std::string>& values, FieldType item_type) {
  // "no" is an answer for a boolean, not an absence.
  const std::string s = clean(raw);
  if (means_not_present(s) && !(type == FieldType::Boolean && !s.empty() && (lower(s) == "no" || lower(s) == "none"))) {
    Normalized n;
    n.value = nullptr;
    n.present = false;
    return n;
  }
  if (type != FieldType::List) {
    // A label the model repeated ("Total: 42.10 EUR") is not part of a typed value.
    std::string v = s;
    if (const auto colon = v.find(':'); type != FieldType::String && colon != std::string::npos && colon > 0 &&
                                        colon + 1 < v.size() &&
                                        std::all_of(v.begin(), v.begin() + static_cast<long>(colon), [](unsigned char c) {
                                          return std::isalpha(c) || c == ' ';
                                        }))
      v = clean(v.substr(colon + 1));
    return normalize_scalar(type, v, o, values);
  }
  json items = json::array();
  for (const auto& item : split_list(std::string(raw))) {
    if (means_not_present(item)) continue;
    auto n = normalize_scalar(item_type, item, o, values);
    if (!n.valid) return invalid("item '" + item + "': " + n.reason);
    items.push_back(n.value);
  }
  if (items.empty()) {
    Normalized n;
    n.value = nullptr;
    n.present = false;
    return n;
  }
  return ok(items);
}

Normalized normalize_field(const Field& field, std::string_view raw, const NormalizeOptions& o) {
  Normalized n = normalize(field.type, raw, o, field.values, field.item_type);
  if (!field.pattern || !n.valid || !n.present) return n;
  const Regex re(*field.pattern);
  const bool list = n.value.is_array();
  for (const auto& v : list ? n.value : json::array({n.value}))
    if (!re.matches(text_of(v))) {
      Normalized bad = invalid("'" + text_of(v) + "' does not match the pattern " + *field.pattern);
      return bad;
    }
  return n;
}

}  // namespace folio::pipeline
