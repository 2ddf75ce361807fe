// Line plots as inline SVG: pure (numbers in, markup out), so the report needs
// no scripts, no fonts beyond the browser's default and no network.
#pragma once

#include <string>
#include <vector>

namespace cohort {

struct PlotSeries {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;  // same length as x; non-finite points are skipped
};

struct PlotSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 560;
  int height = 300;
};

// Axes with rounded ticks, one coloured polyline (with dots when short) per
// series, a legend. An empty plot says "no data" rather than drawing nothing.
std::string line_plot_svg(const PlotSpec& spec, const std::vector<PlotSeries>& series);

// Tick positions covering [lo, hi] at a 1, 2 or 5 x 10^k spacing, about `count` of them.
std::vector<double> nice_ticks(double lo, double hi, int count = 5);

// Text safe inside SVG or HTML.
std::string escape_xml(const std::string& text);

}  // namespace cohort
