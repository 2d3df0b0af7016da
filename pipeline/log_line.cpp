#include "pipeline/log_line.hpp"

#include <ctime>

#include <fmt/format.h>

namespace folio::pipeline {

std::string json_log_line(std::chrono::system_clock::time_point time, std::string_view level, std::string_view msg,
                          const nlohmann::ordered_json& extra) {
  using namespace std::chrono;
  const std::time_t t = system_clock::to_time_t(time);
  std::tm tm{};
  localtime_r(&t, &tm);
  char stamp[32], zone[8];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::strftime(zone, sizeof zone, "%z", &tm);
  const auto ms = duration_cast<milliseconds>(time.time_since_epoch()).count() % 1000;
  nlohmann::ordered_json j;  // ordered: time, level and msg first, as people read them
  j["time"] = fmt::format("{}.{:03d}{}", stamp, static_cast<int>(ms), zone);
  j["level"] = std::string(level);
  j["msg"] = std::string(msg);
  if (extra.is_object())
    for (const auto& [k, v] : extra.items()) j[k] = v;
  // replace: a message that is not UTF-8 (a file name is just bytes) gets U+FFFD instead of an exception.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace folio::pipeline
