// A port of the algorithm of Pillow's libImaging/Resample.c (8 bits per channel, LANCZOS, no box, no
// reducing_gap), written from its description: separable, horizontal pass first into an 8-bit temporary
// image holding only the rows the vertical pass reads, coefficients normalised in double precision and
// then rounded to 22-bit fixed point, accumulation from a half-unit bias, clip to [0, 255].
#include "stages/lanczos.hpp"

#include <cmath>
#include <cstdint>
#include <numbers>
#include <stdexcept>
#include <vector>

#include "common/error.hpp"

namespace folio::stages {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kSupport = 3.0;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= std::numbers::pi;
  return std::sin(x) / x;
}

double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0; }

// Per output index: the first input index and the fixed-point weights of the inputs it reads.
struct Coefficients {
  int ksize = 0;
  std::vector<int> first;   // [out]
  std::vector<int> count;   // [out]
  std::vector<std::int32_t> weights;  // [out * ksize]
};

Coefficients precompute(int in_size, int out_size) {
  Coefficients c;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kSupport * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = lanczos((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    std::int32_t* out = &c.weights[static_cast<std::size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      out[x] = static_cast<std::int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline std::uint8_t clip8(std::int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<std::uint8_t>(v >> kPrecisionBits);
}

// out rows [0, rows) come from input rows [row0, row0 + rows).
void horizontal(const RgbImage& in, int row0, int rows, const Coefficients& c, RgbImage& out) {
  const int out_w = out.width;
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t* src = in.row(row0 + y);
    std::uint8_t* dst = out.row(y);
    for (int xx = 0; xx < out_w; ++xx) {
      const std::int32_t* k = &c.weights[static_cast<std::size_t>(xx) * c.ksize];
      const std::uint8_t* s = src + static_cast<std::size_t>(c.first[xx]) * 3;
      std::int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < c.count[xx]; ++x) {
        s0 += s[x * 3 + 0] * k[x];
        s1 += s[x * 3 + 1] * k[x];
        s2 += s[x * 3 + 2] * k[x];
      }
      dst[xx * 3 + 0] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
}

// `in` row 0 is source row `row0`.
void vertical(const RgbImage& in, int row0, const Coefficients& c, RgbImage& out) {
  const int n = out.width * 3;
  std::vector<std::int32_t> acc(n);
  for (int yy = 0; yy < out.height; ++yy) {
    const std::int32_t* k = &c.weights[static_cast<std::size_t>(yy) * c.ksize];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    // Row by row over the kernel keeps the inner loop contiguous (the sums are the same integers).
    for (int y = 0; y < c.count[yy]; ++y) {
      const std::uint8_t* src = in.row(c.first[yy] - row0 + y);
      const std::int32_t w = k[y];
      for (int i = 0; i < n; ++i) acc[i] += src[i] * w;
    }
    std::uint8_t* dst = out.row(yy);
    for (int i = 0; i < n; ++i) dst[i] = clip8(acc[i]);
  }
}

}  // namespace

RgbImage resize_lanczos(const RgbImage& image, int width, int height) {
  if (width < 1 || height < 1 || image.empty())
    throw Error(ErrorKind::Internal, "resize to an empty size (" + std::to_string(width) + "x" +
                                         std::to_string(height) + ")");
  const bool need_h = width != image.width;
  const bool need_v = height != image.height;
  if (!need_h && !need_v) return image;

  const Coefficients cv = precompute(image.height, height);
  if (!need_h) {
    RgbImage out(width, height);
    vertical(image, 0, cv, out);
    return out;
  }
  const Coefficients ch = precompute(image.width, width);
  // Only the source rows the vertical pass reads are resampled horizontally.
  int first = 0, last = image.height;
  if (need_v) {
    first = cv.first[0];
    last = cv.first[height - 1] + cv.count[height - 1];
  }
  RgbImage temp(width, last - first);
  horizontal(image, first, last - first, ch, temp);
  if (!need_v) return temp;
  RgbImage out(width, height);
  vertical(temp, first, cv, out);
  return out;
}

}  // namespace folio::stages
