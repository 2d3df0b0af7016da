#include "engine/text/prompt.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "engine/model/config.hpp"

namespace folio::engine::text {
namespace {

constexpr const char* kImage = "<image>";
constexpr const char* kFake = "<fake_token_around_image>";
constexpr const char* kGlobal = "<global-img>";

// VLMEvalKit's DocVQA prompt for SmolVLM (spec section 9), which the published DocVQA scores used.
constexpr const char* kDocVqaInstruction =
    "Give a short and terse answer to the following question. Do not paraphrase or reformat the text you see in "
    "the image. Do not include any full stops. Just give the answer without additional explanation. Question: ";

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string read_template(const std::filesystem::path& dir) {
  if (std::ifstream in{dir / "chat_template.json"}) {
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("chat_template") && j["chat_template"].is_string())
      return j["chat_template"].get<std::string>();
  }
  if (std::filesystem::exists(dir / "tokenizer_config.json")) {
    auto t = load_tokenizer_config(dir / "tokenizer_config.json");
    if (!t.chat_template.empty()) return t.chat_template;
  }
  const auto jinja = dir / "chat_template.jinja";
  if (std::ifstream in{jinja}) return std::string(std::istreambuf_iterator<char>(in), {});
  throw Error(ErrorKind::Model, "no chat template (chat_template.json or tokenizer_config.json's chat_template)",
              {dir.string()});
}

}  // namespace

PromptStyle parse_prompt_style(const std::string& name) {
  if (name == "chat") return PromptStyle::Chat;
  if (name == "docvqa") return PromptStyle::DocVQA;
  throw Error(ErrorKind::Usage, "prompt style must be chat or docvqa, not '" + name + "'");
}

PromptBuilder PromptBuilder::load(const std::filesystem::path& dir, const Tokenizer& tokenizer, int image_token_id,
                                  PromptStyle style) {
  try {
    PromptBuilder b(tokenizer, ChatTemplate(read_template(dir)), image_token_id, style);
    // transformers' tokenizer call prepends BOS when tokenizer_config.json asks for it (SmolVLM's does not).
    if (std::filesystem::exists(dir / "tokenizer_config.json")) {
      const auto t = load_tokenizer_config(dir / "tokenizer_config.json");
      if (t.add_bos_token && !t.bos_token.empty()) {
        b.bos_id_ = tokenizer.token_id(t.bos_token);
        if (!b.bos_id_)
          throw Error(ErrorKind::Model, "add_bos_token is set but bos_token '" + t.bos_token + "' is not in the tokenizer",
                      {(dir / "tokenizer_config.json").string()});
      }
    }
    return b;
  } catch (const Error& e) {
    throw e.with_file(dir.string());
  }
}

PromptBuilder::PromptBuilder(const Tokenizer& tokenizer, ChatTemplate chat_template, int image_token_id, PromptStyle style)
    : tokenizer_(&tokenizer), template_(std::move(chat_template)), image_token_id_(image_token_id), style_(style) {
  if (tokenizer.token_string(image_token_id) != kImage)
    throw Error(ErrorKind::Model, "image_token_id " + std::to_string(image_token_id) + " is '" +
                                      tokenizer.token_string(image_token_id) + "' in the tokenizer, not " + kImage);
  for (const char* t : {kImage, kFake, "<end_of_utterance>"})
    if (!tokenizer.token_id(t)) throw Error(ErrorKind::Model, std::string("the tokenizer lacks ") + t);
}

std::string PromptBuilder::render(const std::string& question) const {
  if (style_ == PromptStyle::DocVQA) {
    // The raw evaluation string, without the chat template (as the evaluation fed it).
    return std::string("<|im_start|>User:") + kImage + kDocVqaInstruction + trim(question) +
           "<end_of_utterance>\nAssistant:";
  }
  using V = TemplateValue;
  V::Map image{{"type", V("image")}};
  V::Map text{{"type", V("text")}, {"text", V(question)}};
  V::Map message{{"role", V("user")}, {"content", V(V::List{V(image), V(text)})}};
  V::Map vars{{"messages", V(V::List{V(message)})}, {"add_generation_prompt", V(true)}};
  return template_.render(vars);
}

std::string PromptBuilder::image_block(const ImageLayout& l) const {
  std::string run;
  for (int k = 0; k < l.tokens_per_tile; ++k) run += kImage;
  std::string out;
  if (l.rows == 0 && l.cols == 0) return std::string(kFake) + kGlobal + run + kFake;
  for (int r = 1; r <= l.rows; ++r) {
    for (int c = 1; c <= l.cols; ++c)
      out += std::string(kFake) + "<row_" + std::to_string(r) + "_col_" + std::to_string(c) + ">" + run;
    out += "\n";
  }
  return out + "\n" + kFake + kGlobal + run + kFake;
}

Prompt PromptBuilder::build(const std::string& question, const ImageLayout& layout) const {
  const std::string conversation = render(question);
  const auto at = conversation.find(kImage);
  if (at == std::string::npos || conversation.find(kImage, at + 1) != std::string::npos)
    throw Error(ErrorKind::Model, "the chat template must place exactly one <image> (found " +
                                      std::string(at == std::string::npos ? "none" : "several") + ")");
  Prompt p;
  const std::string prefix = conversation.substr(0, at) + image_block(layout);
  const std::string suffix = conversation.substr(at + std::string(kImage).size());
  p.text = prefix + suffix;
  // The block ends with an added token, which the tokenizer matches before BPE runs, so tokenizing the
  // two halves apart gives the same ids as tokenizing the whole.
  p.ids = tokenizer_->encode(prefix);
  if (bos_id_) p.ids.insert(p.ids.begin(), *bos_id_);
  p.prefix_length = p.ids.size();
  const auto tail = tokenizer_->encode(suffix);
  p.ids.insert(p.ids.end(), tail.begin(), tail.end());
  const auto images = std::count(p.ids.begin(), p.ids.end(), image_token_id_);
  const long long expected = static_cast<long long>(layout.frames()) * layout.tokens_per_tile;
  if (images != expected)
    throw Error(ErrorKind::Input, "the prompt holds " + std::to_string(images) + " image tokens but the page has " +
                                      std::to_string(layout.frames()) + " frames x " +
                                      std::to_string(layout.tokens_per_tile) + " = " + std::to_string(expected) +
                                      " (does the question contain <image>?)");
  return p;
}

}  // namespace folio::engine::text
