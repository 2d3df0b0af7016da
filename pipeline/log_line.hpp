// One log line of `--log-format json`: {"time", "level", "msg", ...}. The message is escaped by a JSON
// writer, so a file name with a quote, a backslash or bytes that are not UTF-8 still gives valid JSON.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace folio::pipeline {

// `extra` (an object) adds keys after the three fixed ones. No trailing newline.
std::string json_log_line(std::chrono::system_clock::time_point time, std::string_view level, std::string_view msg,
                          const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());

}  // namespace folio::pipeline
