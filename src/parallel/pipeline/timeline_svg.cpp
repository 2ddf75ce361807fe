#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "cohort/pipeline/schedule.h"

namespace cohort {

std::string render_timeline_svg(const std::vector<TimelineCell>& cells, int stages,
                                const std::string& title) {
  constexpr double kLeft = 70, kTop = 30, kLane = 34, kWidth = 900, kBox = 26;
  double t0 = cells.empty() ? 0 : cells.front().start, t1 = t0;
  for (const auto& c : cells) {
    t0 = std::min(t0, c.start);
    t1 = std::max(t1, c.end);
  }
  const double span = t1 > t0 ? t1 - t0 : 1;
  auto x = [&](double t) { return kLeft + (t - t0) / span * kWidth; };
  const double height = kTop + stages * kLane + 30;

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n"
      "<text x=\"{}\" y=\"18\" font-size=\"13\">{}</text>\n",
      kLeft + kWidth + 20, height, kLeft, title);
  for (int s = 0; s < stages; ++s) {
    const double y = kTop + s * kLane;
    svg += fmt::format(
        "<text x=\"6\" y=\"{}\">stage {}</text>\n"
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f2f2f2\"/>\n",
        y + kBox * 0.7, s, kLeft, y, kWidth, kBox);
  }
  for (const auto& c : cells) {
    const bool fwd = c.kind == InstructionKind::Forward;
    const double y = kTop + c.stage * kLane;
    const double w = std::max(1.0, x(c.end) - x(c.start));
    svg += fmt::format(
        "<rect x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\" "
        "stroke=\"#333\" stroke-width=\"0.5\"><title>{}{} {:.6f}-{:.6f}</title></rect>\n",
        x(c.start), y, w, kBox, fwd ? "#8ecae6" : "#219ebc", fwd ? "F" : "B", c.micro_batch,
        c.start - t0, c.end - t0);
    if (w > 16) {
      svg += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">{}{}</text>\n",
                         x(c.start) + w / 2, y + kBox * 0.7, fwd ? "F" : "B", c.micro_batch);
    }
  }
  const double axis_y = kTop + stages * kLane + 14;
  svg += fmt::format("<text x=\"{}\" y=\"{}\">0</text>\n", kLeft, axis_y);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.4g}</text>\n",
                     kLeft + kWidth, axis_y, span);
  svg += "</svg>\n";
  return svg;
}

}  // namespace cohort
