#include "cohort/report.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cohort/error.h"
#include "observe/svg_plot.h"
#include "train/record/run_dir.h"

namespace cohort {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Run {
  std::string name;  // the folder's name, to tell runs apart
  std::vector<json> train, eval;
  json summary;                       // null when the run did not finish
  std::map<int, std::map<int, double>> lane_seconds;  // rank -> lane -> seconds (trace.json)
  std::string timeline_svg;           // pipeline runs
};

// The fields the report plots, as the trainer writes them: strings, and numbers
// (null where the value was NaN or infinite). Anything else is an edited or
// foreign file, named with its line rather than plotted as nonsense.
void check_record(const json& record, const fs::path& file, int line) {
  static const char* const kText[] = {"kind", "network"};
  static const char* const kNumbers[] = {
      "step",          "epoch",           "loss",           "accuracy",
      "samples_per_sec", "interval_seconds", "comm_exposed_seconds", "pipeline_idle_seconds",
      "wall_seconds",  "test_accuracy",   "test_loss"};
  auto fail = [&](const char* key, const char* want) {
    throw InputError(fmt::format("{}:{}: '{}' is {}, expected {}: the file was edited or is not "
                                 "Cohort's",
                                 file.string(), line, key, record[key].type_name(), want));
  };
  for (const char* key : kText)
    if (record.contains(key) && !record[key].is_string()) fail(key, "a string");
  for (const char* key : kNumbers)
    if (record.contains(key) && !record[key].is_number() && !record[key].is_null())
      fail(key, "a number");
}

Run load_run(const std::string& dir) {
  const fs::path root(dir);
  const fs::path metrics = root / "metrics.jsonl";
  if (!fs::is_regular_file(metrics)) {
    throw InputError(fmt::format("{} is not a run folder (no metrics.jsonl): pass the folder "
                                 "cohort train wrote (--out)", dir));
  }
  Run run;
  run.name = fs::absolute(root).lexically_normal().filename().string();
  if (run.name.empty()) run.name = fs::absolute(root).lexically_normal().parent_path().filename();
  std::istringstream lines(read_file(metrics.string()));
  int line_number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++line_number;
    // A run killed mid-write may end with a partial line: skip what does not parse.
    json record = json::parse(line, nullptr, false);
    if (!record.is_object() || !record.contains("kind")) continue;
    check_record(record, metrics, line_number);
    if (record["kind"] == "train") run.train.push_back(std::move(record));
    else if (record["kind"] == "eval") run.eval.push_back(std::move(record));
  }
  if (fs::is_regular_file(root / "summary.json")) {
    run.summary = json::parse(read_file((root / "summary.json").string()), nullptr, false);
  }
  if (fs::is_regular_file(root / "trace.json")) {
    const json trace = json::parse(read_file((root / "trace.json").string()), nullptr, false);
    if (trace.is_object() && trace.contains("traceEvents")) {
      for (const auto& e : trace["traceEvents"]) {
        if (e.value("ph", "") != "X") continue;
        run.lane_seconds[e.value("pid", 0)][e.value("tid", 0)] += e.value("dur", 0.0) / 1e6;
      }
    }
  }
  if (fs::is_regular_file(root / "timeline.svg")) run.timeline_svg = read_file((root / "timeline.svg").string());
  return run;
}

// NaN where the field is missing, null (the trainer's NaN) or not a number.
double number(const json& record, const char* key) {
  const auto it = record.find(key);
  return it != record.end() && it->is_number() ? it->get<double>() : std::nan("");
}

std::string text(const json& record, const char* key, const std::string& fallback = "") {
  const auto it = record.find(key);
  return it != record.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// One series per (run, network) of `records`, x and y read from the given keys.
std::vector<PlotSeries> series_of(const std::vector<Run>& runs,
                                  std::vector<json> Run::*records, const char* x_key,
                                  const char* y_key, double scale = 1,
                                  bool first_network_only = false) {
  std::vector<PlotSeries> out;
  for (const auto& run : runs) {
    std::map<std::string, PlotSeries> by_network;
    std::vector<std::string> order;
    for (const auto& r : run.*records) {
      const std::string net = text(r, "network", "?");
      if (!by_network.count(net)) {
        if (first_network_only && !order.empty()) continue;
        order.push_back(net);
        by_network[net].label = runs.size() > 1 ? run.name + " / " + net : net;
      }
      auto& s = by_network[net];
      s.x.push_back(number(r, x_key));
      s.y.push_back(number(r, y_key) * scale);
    }
    for (const auto& net : order) {
      auto s = by_network[net];
      if (first_network_only) s.label = runs.size() > 1 ? run.name : "rank 0";
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::vector<PlotSeries> cost_share_series(const std::vector<Run>& runs) {
  std::vector<PlotSeries> out;
  for (const auto& run : runs) {
    PlotSeries comm, idle;
    const std::string prefix = runs.size() > 1 ? run.name + " / " : "";
    comm.label = prefix + "exposed communication";
    idle.label = prefix + "pipeline idle";
    const std::string first = run.train.empty() ? "" : text(run.train[0], "network");
    for (const auto& r : run.train) {
      if (text(r, "network") != first) continue;
      const double interval = number(r, "interval_seconds");
      comm.x.push_back(number(r, "step"));
      idle.x.push_back(number(r, "step"));
      comm.y.push_back(100 * number(r, "comm_exposed_seconds") / interval);
      idle.y.push_back(100 * number(r, "pipeline_idle_seconds") / interval);
    }
    out.push_back(std::move(comm));
    out.push_back(std::move(idle));
  }
  return out;
}

// A stacked bar per rank: seconds in each lane of the trace.
std::string lane_bars_svg(const Run& run) {
  static const char* const kLanes[] = {"compute", "collectives", "send / recv", "host"};
  static const char* const kColours[] = {"#0072B2", "#D55E00", "#E69F00", "#999999"};
  double longest = 1e-9;
  for (const auto& [rank, lanes] : run.lane_seconds) {
    double total = 0;
    for (const auto& [lane, s] : lanes) total += s;
    longest = std::max(longest, total);
  }
  const int rows = int(run.lane_seconds.size());
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"560\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"11\"><rect width=\"560\" height=\"{}\" fill=\"#fff\"/>"
      "<text x=\"8\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{}: seconds per rank "
      "(trace.json)</text>\n",
      40 + 22 * rows + 24, 40 + 22 * rows + 24, escape_xml(run.name));
  int row = 0;
  for (const auto& [rank, lanes] : run.lane_seconds) {
    const double y = 28 + 22 * row++;
    double x = 60;
    svg += fmt::format("<text x=\"8\" y=\"{}\">rank {}</text>", y + 13, rank);
    for (const auto& [lane, seconds] : lanes) {
      const double width = seconds / longest * 420;
      const int l = std::clamp(lane, 0, 3);
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"16\" fill=\"{}\">"
                         "<title>{}: {:.3f} s</title></rect>",
                         x, y, width, kColours[l], kLanes[l], seconds);
      x += width;
    }
    svg += "\n";
  }
  double lx = 60;
  const double ly = 40 + 22 * rows;
  for (int l = 0; l < 4; ++l) {
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>"
                       "<text x=\"{}\" y=\"{}\">{}</text>",
                       lx, ly, kColours[l], lx + 14, ly + 9, kLanes[l]);
    lx += 110;
  }
  return svg + "</svg>\n";
}

std::string summary_table(const std::vector<Run>& runs) {
  std::string html = "<table><tr><th>run</th><th>network</th><th>model</th><th>test accuracy</th>"
                     "<th>test loss</th><th>steps</th><th>samples/s</th><th>wall s</th></tr>\n";
  for (const auto& run : runs) {
    if (!run.summary.is_object()) {
      html += fmt::format("<tr><td>{}</td><td colspan=\"7\">no summary.json: the run did not "
                          "finish</td></tr>\n", escape_xml(run.name));
      continue;
    }
    json rows = run.summary.contains("networks") && run.summary["networks"].is_array()
                    ? run.summary["networks"]
                    : json::array();
    if (run.summary.contains("ensemble") && run.summary["ensemble"].is_object()) {
      json e = run.summary["ensemble"];
      e["name"] = "ensemble";
      e["model"] = "";
      rows.push_back(e);
    }
    for (const auto& n : rows) {
      // A regression run has no accuracy; its test loss is the mean squared error.
      const double accuracy = number(n, "test_accuracy");
      html += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4g}</td><td>{:.0f}</td>"
          "<td>{:.0f}</td><td>{:.1f}</td></tr>\n",
          escape_xml(run.name), escape_xml(text(n, "name")), escape_xml(text(n, "model")),
          std::isnan(accuracy) ? "–" : fmt::format("{:.2f}%", 100 * accuracy),
          number(n, "test_loss"), number(run.summary, "steps"),
          number(run.summary, "samples_per_sec"), number(run.summary, "wall_seconds"));
    }
  }
  return html + "</table>\n";
}

}  // namespace

std::string render_report(const std::vector<std::string>& run_dirs) {
  if (run_dirs.empty()) throw InputError("cohort report needs at least one run folder");
  std::vector<Run> runs;
  for (const auto& dir : run_dirs) runs.push_back(load_run(dir));

  std::string names;
  for (const auto& r : runs) names += (names.empty() ? "" : ", ") + r.name;
  std::string html = fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="{}"><title>Cohort report: {}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; background: #fafafa; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 28px; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.plot {{ background: #fff; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; background: #fff; }}
td, th {{ border: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child, td:nth-child(2), td:nth-child(3) {{ text-align: left; }}
</style></head><body>
<h1>Cohort report: {}</h1>
<h2>Results</h2>
{})",
                                 kReportGenerator, escape_xml(names), escape_xml(names),
                                 summary_table(runs));

  html += "<h2>Loss and accuracy</h2><div class=\"grid\">\n";
  html += line_plot_svg({"Training loss", "step", "loss"}, series_of(runs, &Run::train, "step", "loss"));
  html += line_plot_svg({"Training loss over time", "wall seconds", "loss"},
                        series_of(runs, &Run::train, "wall_seconds", "loss"));
  html += line_plot_svg({"Training accuracy", "step", "accuracy %"},
                        series_of(runs, &Run::train, "step", "accuracy", 100));
  html += line_plot_svg({"Test accuracy", "step", "accuracy %"},
                        series_of(runs, &Run::eval, "step", "test_accuracy", 100));
  html += line_plot_svg({"Test accuracy over time", "wall seconds", "accuracy %"},
                        series_of(runs, &Run::eval, "wall_seconds", "test_accuracy", 100));
  html += line_plot_svg({"Test loss (mean squared error for regression)", "step", "loss"},
                        series_of(runs, &Run::eval, "step", "test_loss"));
  html += "</div>\n<h2>Speed and where the time goes</h2><div class=\"grid\">\n";
  html += line_plot_svg({"Throughput (rank 0)", "step", "samples/s"},
                        series_of(runs, &Run::train, "step", "samples_per_sec", 1, true));
  html += line_plot_svg({"Share of step time not computing (rank 0)", "step", "% of interval"},
                        cost_share_series(runs));
  for (const auto& run : runs) {
    if (!run.lane_seconds.empty()) html += lane_bars_svg(run);
  }
  html += "</div>\n";
  for (const auto& run : runs) {
    if (run.timeline_svg.empty()) continue;
    html += fmt::format("<h2>Pipeline timeline: {}</h2>\n<div class=\"plot\">{}</div>\n",
                        escape_xml(run.name), run.timeline_svg);
  }
  html += "<p>Per-rank seconds need <code>train.timeline = true</code> (trace.json); open "
          "trace.json in Perfetto for the full timeline.</p>\n</body></html>\n";
  return html;
}

bool is_cohort_report(const std::string& path) {
  return read_file(path).substr(0, 300).find(fmt::format("content=\"{}\"", kReportGenerator)) !=
         std::string::npos;
}

}  // namespace cohort
