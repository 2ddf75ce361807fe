// Each subcommand lives in its own file and registers itself on the top-level app.
// A subcommand's callback returns the process exit status.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace cohort::cli {

using Runner = std::function<int()>;

// Each adder creates its subcommand and returns the function to run when it is
// chosen; main() picks the one whose subcommand was parsed.
Runner add_train_command(CLI::App& app);
Runner add_eval_command(CLI::App& app);
Runner add_launch_command(CLI::App& app);
Runner add_report_command(CLI::App& app);
Runner add_plan_command(CLI::App& app);

}  // namespace cohort::cli
