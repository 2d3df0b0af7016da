// `folio pages FILE`: render or decode a document's pages to page-NNNN.png, as the model will see them
// before tiling (and, once the image processor is in, the tiles themselves).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/command.hpp"
#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "stages/cleanup.hpp"
#include "stages/image_processor.hpp"
#include "stages/document.hpp"
#include "stages/leptonica.hpp"
#include "stages/page_range.hpp"

namespace folio::cli {

namespace {

struct PagesArgs {
  std::string file;
  std::string pages;
  std::string password;
  std::string out_dir = ".";
  double dpi = 0.0;
  int longest_edge = 0;
  double max_megapixels = 64.0;
  bool tiles = false;
  std::string model_dir;
  stages::CleanupOptions cleanup;
};

// size.longest_edge from the checkpoint's preprocessor_config.json: the edge the tiling resizes to.
stages::ImageProcessorConfig model_image_config(const std::string& model_dir) {
  return stages::ImageProcessorConfig::load(std::filesystem::path(model_dir) / "preprocessor_config.json");
}

void write_png(const std::filesystem::path& path, const RgbImage& image) {
  const std::vector<std::uint8_t> png = stages::lept::encode_png(image);
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
  std::cout << path.string() << '\n';
}

void run_pages(const PagesArgs& args, CommandResult& result) {
  if (args.tiles && args.model_dir.empty()) throw Error(ErrorKind::Usage, "--tiles needs --model DIR");
  if (!(args.max_megapixels > 0.0)) throw Error(ErrorKind::Usage, "--max-megapixels must be positive");
  const stages::PageSelection selection = stages::parse_page_selection(args.pages);

  stages::OpenOptions options;
  options.password = args.password;
  options.dpi = args.dpi;
  options.max_pixels = static_cast<std::int64_t>(args.max_megapixels * 1e6);
  std::optional<stages::ImageProcessorConfig> image_config;
  if (!args.model_dir.empty()) image_config = model_image_config(args.model_dir);
  if (args.longest_edge > 0) options.target_longest_edge = args.longest_edge;
  else if (image_config) options.target_longest_edge = image_config->longest_edge;

  const auto doc = stages::open_document(args.file, options);
  const std::vector<int> pages = stages::select_pages(selection, doc->page_count(), args.file);
  const std::filesystem::path out_dir(args.out_dir);
  int failed = 0;
  for (int index : pages) {
    try {
      const stages::Page page = doc->load(index);
      stages::CleanupReport report;
      const RgbImage image = stages::cleanup_page(page.image, args.cleanup, &report);
      if (report.deskewed || report.rotated_clockwise || report.background_normalized) {
        spdlog::info("{}: page {}: skew {:.2f} deg (confidence {:.1f}){}, rotated {} deg{}", args.file, index,
                     report.skew_degrees, report.skew_confidence, report.deskewed ? " corrected" : "",
                     report.rotated_clockwise, report.background_normalized ? ", background normalised" : "");
      }
      write_png(out_dir / fmt::format("page-{:04d}.png", index), image);
      if (args.tiles) {
        // Exactly the frames the model sees: row-major tiles (1-based r, c), then the global image.
        const stages::Tiles tiles = stages::tile_image(image, *image_config);
        std::size_t f = 0;
        for (int r = 1; r <= tiles.rows; ++r)
          for (int c = 1; c <= tiles.cols; ++c)
            write_png(out_dir / fmt::format("page-{:04d}-r{}-c{}.png", index, r, c), tiles.frames[f++]);
        write_png(out_dir / fmt::format("page-{:04d}-global.png", index), tiles.frames.back());
      }
      spdlog::debug("{}: page {}: {}x{} px at {:.1f} dpi", args.file, index, image.width, image.height, page.dpi);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Io) throw;  // the output folder is broken: every page would fail the same way
      spdlog::error("{}", e.with_page(index).what());
      ++failed;
    }
  }
  spdlog::info("{}: wrote {} of {} selected pages to {}", args.file, pages.size() - failed, pages.size(),
               out_dir.string());
  result.exit_code = failed ? kExitSomeFailed : kExitOk;
}

}  // namespace

void register_pages(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("pages", "Render a document's pages (and the model's tiles) to PNG files");
  auto args = std::make_shared<PagesArgs>();
  cmd->add_option("file", args->file, "PDF, TIFF, PNG, JPEG, BMP, PNM, GIF or WebP file")->required();
  cmd->add_option("--pages", args->pages, "Pages to write, e.g. 1-3,7,10-end (default: all)");
  cmd->add_option("--password", args->password, "Password of an encrypted PDF");
  cmd->add_option("--out", args->out_dir, "Folder for page-NNNN.png files (created if missing)")
      ->capture_default_str();
  auto* dpi = cmd->add_option("--dpi", args->dpi, "PDF render resolution (default: fit --longest-edge)")
                  ->check(CLI::Range(1.0, 2400.0));
  cmd->add_option("--longest-edge", args->longest_edge,
                  "Render PDFs so the longest edge is at least N pixels (default: the model's "
                  "size.longest_edge with --model, else 2048)")
      ->check(CLI::Range(16, 20000))
      ->excludes(dpi);
  cmd->add_option("--max-megapixels", args->max_megapixels, "Refuse pages larger than this")->capture_default_str();
  cmd->add_flag("--deskew", args->cleanup.deskew, "Straighten skewed scans");
  cmd->add_flag("--fix-orientation", args->cleanup.fix_orientation, "Turn sideways or upside-down pages upright");
  cmd->add_flag("--normalize-background", args->cleanup.normalize_background, "Flatten uneven paper background");
  cmd->add_flag("--tiles", args->tiles, "Also write the model's tiles (needs --model)");
  cmd->add_option("--model", args->model_dir, "Model folder (reads preprocessor_config.json)");
  cmd->callback([args, &result] { run_pages(*args, result); });
}

}  // namespace folio::cli
