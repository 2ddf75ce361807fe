#include <gtest/gtest.h>

#include <cmath>

#include "observe/svg_plot.h"

namespace cohort {
namespace {

TEST(SvgPlot, TicksAreRoundAndCoverTheRange) {
  EXPECT_EQ(nice_ticks(0, 1, 5), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(nice_ticks(3, 97, 4), (std::vector<double>{20, 40, 60, 80}));
  EXPECT_EQ(nice_ticks(2, 2), (std::vector<double>{2}));
}

TEST(SvgPlot, OnePolylinePerSeriesSkippingNonFinitePoints) {
  const std::string svg = line_plot_svg(
      {"loss", "step", "loss"},
      {{"a & b", {1, 2, 3}, {0.5, NAN, 0.25}}, {"c", {1, 2}, {0.4, 0.3}}});
  size_t lines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++lines;
  EXPECT_EQ(lines, 2u);
  EXPECT_NE(svg.find("a &amp; b"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

TEST(SvgPlot, AnEmptyPlotSaysSo) {
  EXPECT_NE(line_plot_svg({"t", "x", "y"}, {}).find("no data"), std::string::npos);
  EXPECT_NE(line_plot_svg({"t", "x", "y"}, {{"s", {1}, {NAN}}}).find("no data"), std::string::npos);
}

}  // namespace
}  // namespace cohort
