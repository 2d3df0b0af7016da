// Writes small, valid PDFs for the tests: each page a white box with a black square in its top-left corner
// (in unrotated page space), with optional crop box and /Rotate.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

namespace folio::test {

struct PdfPageSpec {
  double width = 612, height = 792;  // media box, points
  double crop_x0 = 0, crop_y0 = 0, crop_x1 = 0, crop_y1 = 0;  // crop box; all 0 = none
  int rotate = 0;
  double mark = 72;  // side of the black square, points
};

inline std::string make_pdf(const std::vector<PdfPageSpec>& pages) {
  std::vector<std::string> objects;
  std::string kids;
  for (std::size_t i = 0; i < pages.size(); ++i) kids += fmt::format("{} 0 R ", 3 + 2 * i);
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push_back(fmt::format("<< /Type /Pages /Kids [{}] /Count {} >>", kids, pages.size()));
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const PdfPageSpec& p = pages[i];
    const bool cropped = p.crop_x1 > p.crop_x0;
    const double x0 = cropped ? p.crop_x0 : 0, y1 = cropped ? p.crop_y1 : p.height;
    std::string page = fmt::format("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] ", p.width, p.height);
    if (cropped) page += fmt::format("/CropBox [{} {} {} {}] ", p.crop_x0, p.crop_y0, p.crop_x1, p.crop_y1);
    if (p.rotate) page += fmt::format("/Rotate {} ", p.rotate);
    page += fmt::format("/Resources << >> /Contents {} 0 R >>", 4 + 2 * i);
    objects.push_back(page);
    const std::string content = fmt::format("0 g {} {} {} {} re f", x0, y1 - p.mark, p.mark, p.mark);
    objects.push_back(fmt::format("<< /Length {} >>\nstream\n{}\nendstream", content.size(), content));
  }
  std::string pdf = "%PDF-1.4\n";
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += fmt::format("{} 0 obj\n{}\nendobj\n", i + 1, objects[i]);
  }
  const std::size_t xref = pdf.size();
  pdf += fmt::format("xref\n0 {}\n0000000000 65535 f \n", objects.size() + 1);
  for (std::size_t off : offsets) pdf += fmt::format("{:010d} 00000 n \n", off);
  pdf += fmt::format("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{}\n%%EOF\n", objects.size() + 1, xref);
  return pdf;
}

}  // namespace folio::test
