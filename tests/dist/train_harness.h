// Running `cohort train` end to end from tests and comparing the weights of the
// run folders it leaves.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cohort/checkpoint.h"
#include "launch_harness.h"
#include "test_paths.h"

namespace cohort::test {

struct TempRunDir {
  TempRunDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cohort-run-XXXXXX").string();
    parent = ::mkdtemp(tmpl.data());
    path = parent + "/run";
  }
  ~TempRunDir() { std::filesystem::remove_all(parent); }
  std::string parent;
  std::string path;  // not created: cohort train makes it
};

// `cohort train` on the small mlp of examples/configs/mlp.toml, one thread per
// rank, fixed seed; `args` adds --nproc, --set and the like.
inline std::string train_mlp(const std::string& out, const std::string& args) {
  return std::string(COHORT_BIN) +
         " train " COHORT_SOURCE_DIR
         "/examples/configs/mlp.toml"
         " --quiet --out " +
         out +
         " --set 'network.0.widths=[64, 32]' --set train.threads=1"
         " --set train.seed=5 --set network.0.lr=0.05 " +
         args;
}

// Runs a training command that must succeed; wrap in ASSERT_NO_FATAL_FAILURE
// to stop the test when it does not.
inline void train_ok(const std::string& command) {
  const auto run = run_shell(command, 300);
  ASSERT_EQ(run.exit_code, 0) << command << "\n" << run.output;
}

// Every parameter of the newest checkpoints of two run folders within `atol`
// (optimiser state is not compared: a parameter server keeps its own).
inline void expect_same_weights(const std::string& a_dir, const std::string& b_dir, double atol) {
  const auto a = load_checkpoint(a_dir).networks.at(0).tensors;
  const auto b = load_checkpoint(b_dir).networks.at(0).tensors;
  auto parameters_of = [](const auto& tensors) {
    std::vector<std::pair<std::string, at::Tensor>> params;
    for (const auto& [name, value] : tensors)
      if (name.rfind("param.", 0) == 0) params.emplace_back(name, value);
    return params;
  };
  const auto pa = parameters_of(a), pb = parameters_of(b);
  ASSERT_EQ(pa.size(), pb.size());
  ASSERT_GT(pa.size(), 0u);
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(pa[i].first, pb[i].first);
    const double diff = (pa[i].second - pb[i].second).abs().max().item<double>();
    EXPECT_LT(diff, atol) << pa[i].first;
  }
}

// Every tensor of every network in the newest checkpoints of two run folders
// within `atol`, at the same step, and PBT's perturbed hyperparameters equal.
inline void expect_same_cohort(const std::string& a_dir, const std::string& b_dir, double atol) {
  const TrainingState a = load_checkpoint(latest_checkpoint(a_dir));
  const TrainingState b = load_checkpoint(latest_checkpoint(b_dir));
  ASSERT_EQ(a.step, b.step);
  ASSERT_EQ(a.networks.size(), b.networks.size());
  for (size_t n = 0; n < a.networks.size(); ++n) {
    const auto& ta = a.networks[n].tensors;
    const auto& tb = b.networks[n].tensors;
    ASSERT_EQ(ta.size(), tb.size()) << a.networks[n].name;
    for (size_t i = 0; i < ta.size(); ++i) {
      ASSERT_EQ(ta[i].first, tb[i].first);
      const double diff = (ta[i].second - tb[i].second).abs().max().item<double>();
      EXPECT_LE(diff, atol) << a.networks[n].name << " " << ta[i].first;
    }
  }
  // PBT's perturbed hyperparameters ride in `extra`.
  EXPECT_EQ(nlohmann::json::parse(a.extra_json)["hyperparameters"],
            nlohmann::json::parse(b.extra_json)["hyperparameters"]);
}

// The last line of a run's output: the parent's JSON summary.
inline std::string last_line(std::string out) {
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out.substr(out.rfind('\n') + 1);
}

}  // namespace cohort::test
