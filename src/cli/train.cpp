// cohort train [CONFIG] [--set k=v]... [--out DIR] [--resume RUN_DIR]
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "cli/machine_plan.h"
#include "cohort/checkpoint.h"
#include "cohort/config.h"
#include "cohort/data.h"
#include "cohort/error.h"
#include "cohort/launch.h"
#include "cohort/member_layout.h"
#include "cohort/rendezvous.h"
#include "cohort/trainer.h"
#include "launch/elastic_plan.h"
#include "train/checks/preflight.h"
#include "train/process/threads.h"
#include "train/record/run_dir.h"

namespace cohort::cli {
namespace {

struct TrainArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string out;
  std::string resume;
  bool quiet = false;
  bool auto_resume = false;
  bool overwrite = false;
  std::string nproc_text = "1";  // N or MIN:MAX (elastic)
  int nproc = 1;                 // MAX
  int min_nproc = 1;
  int max_restarts = -1;  // -1: not given (0, or 3 for an elastic job)
  MachineLink link;       // parallel.plan = auto: the link between ranks,
  bool link_given = false;  // given (--link-gbps, --link-latency-us) or measured
  // parallel.plan = "auto" under MIN:MAX: the members' placement on each count of ranks.
  std::map<int, PlannedPlacement> planned;
};

std::string default_run_dir() {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return fmt::format("runs/{}-{}", stamp, ::getpid());
}

// Set by `cohort train --nproc` for its workers: the parent prints the summary,
// so the last line on stdout stays one JSON object (worker lines carry a prefix).
constexpr const char* kParentPrints = "COHORT_SUMMARY_BY_PARENT";

// `cohort train --nproc N`: the same command, once per rank, under the launcher.
int launch_self(TrainArgs args, const Config& config) {
  if (args.out.empty() && args.resume.empty()) args.out = default_run_dir();
  LaunchOptions launch;
  launch.nproc = args.nproc;
  launch.max_restarts = std::max(args.max_restarts, 0);
  // Workers of parameter servers are independent: the servers retire a dead
  // one and the others finish. Rank 0 writes the run, so it is not expendable.
  if (config.parallel.mode == "async")
    for (int r = 1; r < config.parallel.data; ++r) launch.expendable.push_back(r);
  launch.command = {std::filesystem::read_symlink("/proc/self/exe").string(), "train"};
  auto add = [&](std::initializer_list<std::string> words) {
    launch.command.insert(launch.command.end(), words);
  };
  if (!args.config_path.empty()) add({args.config_path});
  for (const auto& o : args.overrides) add({"--set", o});
  if (!args.out.empty()) add({"--out", args.out});
  if (!args.resume.empty()) add({"--resume", args.resume});
  if (args.quiet) add({"--quiet"});
  if (args.overwrite) add({"--overwrite"});
  // A restarted group picks up from the newest checkpoint of the same folder.
  if (args.max_restarts > 0 || args.auto_resume) add({"--auto-resume"});
  const bool elastic = args.min_nproc < args.nproc;
  ::setenv(kParentPrints, "1", 1);
  // Workers may take a while to write their final checkpoint after an interrupt.
  launch.grace = std::chrono::seconds(30);
  // A replica's ranks: the slices of each of its stages.
  const ElasticShape shape{int(config.parallel.data),
                           int(config.parallel.pipeline * config.parallel.tensor),
                           uses_member_layouts(config), args.planned};
  const int status = elastic ? launch_elastic(launch, args.min_nproc, shape) : launch_local(launch);
  // A worker's bad-input status, and a signal's 128 + N, stay what one process would give.
  if (status != 0) return status == 2 || status > 128 ? status : 1;
  const std::string run_dir = args.resume.empty() ? args.out : args.resume;
  const std::string summary = read_file(run_dir + "/summary.json");
  if (summary.empty()) throw Error(fmt::format("the workers left no {}/summary.json", run_dir));
  std::cout << summary << std::flush;
  return 0;
}

// The first line where two resolved configs differ, with its [section], for the
// error that says so.
std::string first_difference(const std::string& given, const std::string& saved) {
  std::istringstream g(given), s(saved);
  std::string section, a, b;
  for (;;) {
    const bool more_given = bool(std::getline(g, a)), more_saved = bool(std::getline(s, b));
    if (!more_given && !more_saved) return "";
    if (!more_given) a.clear();
    if (!more_saved) b.clear();
    if (!b.empty() && b.front() == '[') section = b + " ";
    if (a != b)
      return fmt::format("{}{} in its config.toml, {} in CONFIG and --set", section, b, a);
  }
}

// `--auto-resume` continues the run in --out; a CONFIG or --set given with it must
// describe that same run, or the user would believe it trains what they gave.
void require_same_config(const TrainArgs& args, const std::string& run_dir) {
  if (args.config_path.empty() && args.overrides.empty()) return;
  const std::string given = to_toml(load_config(args.config_path, args.overrides));
  const std::string saved = to_toml(load_config(run_dir + "/config.toml", {}));
  if (given == saved) return;
  throw InputError(
      fmt::format("--auto-resume: {} holds a run of another config ({}): drop CONFIG and "
                  "--set to continue it, or pass --overwrite or another --out to start this one",
                  run_dir, first_difference(given, saved)));
}

// Under torchrun, mpirun or srun every rank runs this command on its own, so the
// ranks can agree on a run folder only when it is named: rank 0 writes it and a
// resume reads it on every rank.
void require_shared_run_dir(const TrainArgs& args) {
  const WorldInfo world = world_info_from_environment();
  if (world.world_size > 1 && args.out.empty() && args.resume.empty())
    throw InputError(fmt::format(
        "{} started {} ranks: give them one run folder with --out DIR (on a file system every "
        "host sees)",
        world.source, world.world_size));
}

// torchrun --max-restarts starts the same command again after a failure, with
// TORCHELASTIC_RESTART_COUNT counting up: it continues from the newest checkpoint,
// as `cohort train --max-restarts` does.
bool restarted_by_torchrun() {
  const char* count = std::getenv("TORCHELASTIC_RESTART_COUNT");
  return count != nullptr && std::atoi(count) > 0;
}

// Members with their own layouts re-form by being placed again over the ranks
// left (place_members), each keeping its replicas, so the global batch and every
// member's rows stay what they were. That needs placements that name no rank
// (one could be lost) and that run on every count from MIN to MAX.
void check_elastic_members(const Config& config, const TrainArgs& args) {
  for (size_t k = 0; k < config.networks.size(); ++k)
    if (!config.networks[k].ranks.empty())
      throw InputError(fmt::format(
          "--nproc {}: network.{} ('{}') names its ranks, and a lost rank could not be replaced: "
          "give it data = {} without ranks (members are then placed over the ranks left), or "
          "give --nproc {}",
          args.nproc_text, k, config.networks[k].name, config.networks[k].ranks.size(),
          args.nproc));
  for (int n = args.min_nproc; n < args.nproc; ++n) {
    try {
      place_members(config, n);
    } catch (const InputError& e) {
      throw InputError(fmt::format("--nproc {}: the members cannot re-form on {} ranks: {}",
                                   args.nproc_text, n, e.what()));
    }
  }
}

// `--nproc MIN:MAX` re-forms data-parallel jobs (sharded or not, their replicas
// whole, fused arrays, pipelines or split in tensor-parallel slices) and members
// with their own layouts (launch/elastic_plan.h): the other layouts cannot share
// a lost rank's work among the others. (That parallel.data x pipeline x tensor
// is MAX, check_training_plan has made sure.)
void check_elastic_plan(const Config& config, const TrainArgs& args) {
  if (uses_member_layouts(config)) {
    check_elastic_members(config, args);
    return;
  }
  const auto& p = config.parallel;
  if (p.mode != "sync" || p.network != 1)
    throw InputError(fmt::format(
        "--nproc {}: elastic membership re-forms data-parallel jobs and members with their own "
        "layouts only; set parallel.mode = 'sync' and parallel.network = 1 (or give each "
        "[[network]] its own data), or give --nproc {}",
        args.nproc_text, args.nproc));
  const int64_t replica_ranks = p.pipeline * p.tensor;
  if (args.min_nproc < replica_ranks)
    throw InputError(fmt::format(
        "--nproc {}: a replica needs parallel.pipeline x parallel.tensor = {} ranks; give MIN "
        "of at least {}",
        args.nproc_text, replica_ranks, replica_ranks));
}

// What the launcher hands the workers of an elastic plan on each count of
// ranks from `min` to the plan's: the plan's own placement, and below it the
// members placed again (plan_reforms).
std::map<int, PlannedPlacement> plan_every_count(const std::vector<MemberCost>& members,
                                                 const CohortPlan& plan, const AppliedPlan& applied,
                                                 const ClusterSpec& cluster,
                                                 const PlanOptions& options, int min, bool say) {
  auto predicted = [](double seconds) {
    return fmt::format("predicted step {:.2f} ms", seconds * 1e3);
  };
  std::map<int, PlannedPlacement> planned;
  planned[applied.ranks] = {format_member_ranks(applied.member_ranks),
                            predicted(plan.step_seconds)};
  const std::vector<CohortPlan> reforms =
      plan_reforms(members, plan, cluster, options, min, applied.ranks);
  for (int n = min; n < applied.ranks; ++n) {
    const CohortPlan& placed = reforms[size_t(n - min)];
    std::vector<std::vector<int>> ranks;
    for (const MemberPlan& m : placed.members) ranks.push_back(m.ranks);
    planned[n] = {format_member_ranks(ranks), predicted(placed.step_seconds)};
    if (say)
      fmt::print(stderr, "parallel.plan = auto: on {} ranks the members would go {} ({})\n", n,
                 planned[n].member_ranks, planned[n].predicted);
  }
  return planned;
}

// parallel.plan = "auto": the launcher profiles the members here, runs the
// planner for --nproc ranks (data-parallel layouts: pipelined members cannot
// run beside others yet) and hands the workers each member's data and ranks.
// The run's config.toml records the chosen layouts, so a resume keeps them.
// Under --nproc MIN:MAX no member gets more than MIN replicas, and the members
// are placed again for every count of ranks from MIN up, each keeping its
// replicas; the launcher gives the workers of a job formed on n ranks n's
// placement (kMemberRanksVariable), and config.toml records the replicas alone.
void plan_layouts(TrainArgs& args, const std::string& config_path) {
  if (std::getenv("RANK"))
    throw InputError(
        "parallel.plan = 'auto' is planned by cohort train --nproc N before it starts the ranks; "
        "under torchrun, mpirun or srun run `cohort plan CONFIG --nproc N` and give each "
        "[[network]] its ranks");
  Config config = load_config(config_path, args.overrides);
  configure_threads(config.train.threads);
  config = fit_to_data(config, load_splits(config.data).train->spec());
  const bool say = !args.quiet;
  const auto members = profile_cohort(config, 5, [say](const MemberCost& m) {
    if (say) fmt::print(stderr, "parallel.plan = auto: profiled {}\n", m.name);
  });
  PlanOptions options = plan_options(config);
  const bool elastic = args.min_nproc < args.nproc;
  if (elastic) options.max_data = args.min_nproc;
  // Members re-form with their replicas, not their stages (plan/replan.h).
  if (elastic) options.max_pipeline = 1;
  const MeasuredLink link = machine_link(args.link, args.link_given);
  if (say) fmt::print(stderr, "parallel.plan = auto: link: {}\n", link.how);
  const ClusterSpec cluster = this_machine(args.nproc, link.link, config.train.threads);
  const CohortPlan plan = plan_to_run(members, cluster, options, config);
  const AppliedPlan applied = apply_plan(plan);
  if (say)
    fmt::print(
        stderr, "parallel.plan = auto: predicted step {:.2f} ms on {} ranks, bottleneck {}; {}\n",
        plan.step_seconds * 1e3, applied.ranks, plan.bottleneck, fmt::join(applied.overrides, " "));
  if (elastic && args.min_nproc < applied.ranks) {
    args.planned = plan_every_count(members, plan, applied, cluster, options, args.min_nproc, say);
    for (size_t k = 0; k < plan.members.size(); ++k)
      args.overrides.push_back(fmt::format("network.{}.data={}", k, plan.members[k].layout.data));
    args.nproc_text = fmt::format("{}:{}", args.min_nproc, applied.ranks);
  } else {
    if (elastic && say)
      fmt::print(stderr,
                 "parallel.plan = auto: the plan uses {} ranks, no more than MIN = {}: the job "
                 "runs on {} and does not re-form\n",
                 applied.ranks, args.min_nproc, applied.ranks);
    args.overrides.insert(args.overrides.end(), applied.overrides.begin(), applied.overrides.end());
    args.min_nproc = applied.ranks;
    args.nproc_text = std::to_string(applied.ranks);
  }
  args.overrides.push_back("parallel.plan=manual");
  args.nproc = applied.ranks;
}

int run_train(TrainArgs args) {
  const RankRange ranks = parse_rank_range(args.nproc_text);
  args.nproc = ranks.max;
  args.min_nproc = ranks.min;
  if (args.max_restarts == -1) args.max_restarts = ranks.elastic() ? 3 : 0;
  if (args.max_restarts > 0 && args.nproc == 1 && !std::getenv("RANK")) {
    throw InputError("--max-restarts restarts the processes --nproc N starts: add --nproc");
  }
  if (args.overwrite && (!args.resume.empty() || args.auto_resume)) {
    throw InputError("--overwrite starts a new run: it cannot go with --resume or --auto-resume");
  }
  bool launcher = args.nproc > 1 && !std::getenv("RANK");
  require_shared_run_dir(args);
  RunOptions options;
  options.overwrite = args.overwrite;
  std::string config_path = args.config_path;
  if (!args.resume.empty()) {
    if (!config_path.empty()) {
      throw InputError("--resume takes its config from the run folder: drop the CONFIG argument");
    }
    config_path = args.resume + "/config.toml";
    if (!std::filesystem::exists(config_path)) {
      throw InputError(fmt::format("{} is not a run folder (no config.toml)", args.resume));
    }
    options.run_dir = args.resume;
    options.resume = true;
  } else {
    options.run_dir = args.out.empty() ? default_run_dir() : args.out;
    const bool auto_resume = args.auto_resume || restarted_by_torchrun();
    if (auto_resume && !latest_checkpoint(options.run_dir).empty()) {
      require_same_config(args, options.run_dir);
      config_path = options.run_dir + "/config.toml";
      options.resume = true;
    } else if (auto_resume) {
      options.overwrite = true;  // what is there is this job's own start, without a checkpoint
    }
  }
  options.progress = !args.quiet;
  Config config = load_config(config_path, args.overrides);
  if (args.link_given && config.parallel.plan != "auto")
    throw InputError(
        "--link-gbps and --link-latency-us are what parallel.plan = 'auto' plans for: add --set "
        "parallel.plan=auto, or drop them");
  if (config.parallel.plan == "auto") {
    plan_layouts(args, config_path);
    config = load_config(config_path, args.overrides);
    launcher = args.nproc > 1 && !std::getenv("RANK");
  }
  if (launcher) {
    // Bad input is reported once, here, before any worker starts.
    check_training_plan(config, args.nproc);
    if (args.min_nproc < args.nproc) check_elastic_plan(config, args);
    if (!options.resume && !options.overwrite) {
      check_run_dir_writable(options.run_dir);
      refuse_existing_run(options.run_dir);
    }
    return launch_self(args, config);
  }
  const RunSummary summary = train(config, options);
  if (summary.leader && options.progress) std::cerr << summary.describe() << std::flush;
  // The last line on stdout is the machine-readable summary.
  if (summary.leader && !std::getenv(kParentPrints)) std::cout << summary.to_json() << std::endl;
  return 0;
}

}  // namespace

Runner add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train",
                                 "Train the networks a config describes (default: the "
                                 "embedded cohort on Fashion-MNIST)");
  cmd->add_option("config", args->config_path, "TOML config file (optional)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->overrides,
                  "Override a config key, e.g. --set train.epochs=1 "
                  "--set network.0.model=mlp (repeatable)");
  // An empty name would quietly mean the default folder.
  const CLI::Validator folder_name(
      [](std::string& v) {
        return v.find_first_not_of(" \t") == std::string::npos ? "needs a folder, got an empty name"
                                                               : "";
      },
      "FOLDER");
  cmd->add_option("--out", args->out, "Run folder (default runs/<time>-<pid>)")->check(folder_name);
  cmd->add_option("--resume", args->resume,
                  "Continue the run in this folder from its newest "
                  "checkpoint")
      ->check(folder_name);
  cmd->add_flag("--quiet", args->quiet, "No progress display (the JSON summary still prints)");
  cmd->add_option("--nproc", args->nproc_text,
                  "Start this many local ranks under the launcher "
                  "(parallel.network x data x pipeline x tensor; servers + data for async; with "
                  "[[network]] ranks, the ranks the members name; with parallel.plan = auto, "
                  "the ranks to plan for); MIN:MAX: "
                  "elastic, a data-parallel job (sharded, pipelined, tensor-parallel or fused too) "
                  "that loses a "
                  "rank re-forms on the others (at least MIN), each playing several replicas "
                  "(members with their own data: placed again over them; with parallel.plan = "
                  "auto: planned for MAX with at most MIN replicas each, re-planned over the "
                  "ranks left), and grows back to MAX at its next checkpoint");
  const LinkOptions link =
      add_link_options(*cmd, args->link, "With parallel.plan = auto, the link it plans for: ");
  cmd->add_option("--max-restarts", args->max_restarts,
                  "With --nproc: restart (or re-form) the group after a failure, from the "
                  "newest checkpoint, up to this many times (default 0; 3 with MIN:MAX)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--auto-resume", args->auto_resume,
                "Resume when the --out folder already holds "
                "a checkpoint (CONFIG and --set, if given, must match its run), else start fresh "
                "(implied when torchrun restarts the command)");
  cmd->add_flag("--overwrite", args->overwrite,
                "Let a new run replace the run the --out folder holds (without it, such a "
                "folder is refused)");
  cmd->footer(
      "Prints progress on stderr; the last line on stdout is a JSON summary.\n"
      "Under torchrun, mpirun or srun each rank runs `cohort train` with the same --out\n"
      "(docs/launchers/).\n"
      "SIGINT/SIGTERM write a final checkpoint first (train.checkpoint_on_interrupt).\n"
      "Exit status: 0 success, 2 bad input, 1 other failure (a loss that became NaN or\n"
      "infinite included), 128 + N stopped by signal N (130 for Ctrl-C).");
  return [args, link] {
    args->link_given = link.given();
    return run_train(*args);
  };
}

}  // namespace cohort::cli
