// cohort report RUN_DIR... [--out FILE]: one self-contained HTML page.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cohort/error.h"
#include "cohort/report.h"
#include "train/record/run_dir.h"

namespace cohort::cli {
namespace {

struct ReportArgs {
  std::vector<std::string> runs;
  std::string out;
};

int run_report(const ReportArgs& args) {
  const std::string html = render_report(args.runs);
  const std::string out = args.out.empty() ? args.runs.front() + "/report.html" : args.out;
  // Never replace what the report was made from (metrics.jsonl) or anything else
  // that is not an earlier report.
  if (std::filesystem::exists(out) && !is_cohort_report(out)) {
    throw InputError(fmt::format(
        "--out {} exists and is not a report cohort wrote: choose a new file (nothing was written)",
        out));
  }
  write_file_atomically(out, html);
  std::cout << out << std::endl;
  return 0;
}

}  // namespace

Runner add_report_command(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand(
      "report", "Write one self-contained HTML page (no scripts, opens offline) with the plots "
                "of one or more runs side by side");
  cmd->add_option("runs", args->runs, "Run folders (what cohort train --out wrote)")->required();
  cmd->add_option("--out", args->out, "HTML file to write (default FIRST_RUN/report.html)");
  cmd->footer("Prints the path of the page it wrote.");
  return [args] { return run_report(*args); };
}

}  // namespace cohort::cli
