// `cohort report`: one self-contained HTML page about one or more run folders
// (inline SVG, no scripts, nothing fetched): loss and accuracy per network and
// for the ensemble over steps and over wall time, throughput, communication
// against compute (per rank when the run kept a trace), the pipeline timeline,
// and a summary table; several runs side by side on the same axes.
#pragma once

#include <string>
#include <vector>

namespace cohort {

// InputError when a folder is not a run folder (no readable metrics.jsonl).
std::string render_report(const std::vector<std::string>& run_dirs);

// What the page names as its generator: `cohort report` overwrites only files
// that carry it.
inline constexpr const char* kReportGenerator = "cohort report";
bool is_cohort_report(const std::string& path);

}  // namespace cohort
