// Pages per second for rasterize + tile at the default settings (SmolVLM-256M/500M geometry: 2048 px
// longest edge, 512 px tiles) on the sample invoice PDF. Usage: bench_pages [PDF] [repetitions]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "stages/document.hpp"
#include "stages/image_processor.hpp"

int main(int argc, char** argv) {
  using Clock = std::chrono::steady_clock;
  const std::string pdf = argc > 1 ? argv[1] : std::string(FOLIO_SOURCE_DIR) + "/samples/invoice.pdf";
  const int reps = argc > 2 ? std::stoi(argv[2]) : 5;
  folio::stages::ImageProcessorConfig config;  // the real 256M/500M processor settings
  config.longest_edge = 2048;
  config.tile_size = 512;
  folio::stages::OpenOptions options;
  options.target_longest_edge = config.longest_edge;

  std::vector<double> render_s, tile_s, total_s;
  int pages = 0;
  for (int r = 0; r < reps; ++r) {
    const auto doc = folio::stages::open_document(pdf, options);
    pages = doc->page_count();
    double render = 0, tile = 0;
    for (int p = 1; p <= pages; ++p) {
      const auto t0 = Clock::now();
      const auto page = doc->load(p);
      const auto t1 = Clock::now();
      const auto tiles = folio::stages::tile_image(page.image, config);
      const auto pv = folio::stages::to_pixel_values(tiles, config);
      const auto t2 = Clock::now();
      render += std::chrono::duration<double>(t1 - t0).count();
      tile += std::chrono::duration<double>(t2 - t1).count();
      if (pv.empty()) return 1;
    }
    render_s.push_back(render / pages);
    tile_s.push_back(tile / pages);
    total_s.push_back((render + tile) / pages);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("bench_pages: %s, %d pages x %d repetitions, one thread\n", pdf.c_str(), pages, reps);
  std::printf("  rasterize      min %.3f s  median %.3f s per page\n", *std::min_element(render_s.begin(), render_s.end()), median(render_s));
  std::printf("  tile+normalise min %.3f s  median %.3f s per page\n", *std::min_element(tile_s.begin(), tile_s.end()), median(tile_s));
  std::printf("  total          median %.3f s per page = %.2f pages/s\n", median(total_s), 1.0 / median(total_s));
  return 0;
}
