// The property behind "bad input gets one line and exit 2": every numeric key
// of the resolved config (walked from to_toml, so a new key is covered without
// touching this test) at 0, -1, huge, infinite and NaN is either refused at
// load time with one line naming the key, or accepted, in which case a short
// real training run succeeds with finite losses (or is refused, still as an
// InputError, by the checks made before the first step).
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <toml++/toml.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "cohort/config.h"
#include "cohort/error.h"
#include "cohort/trainer.h"
#include "test_files.h"

namespace cohort {
namespace {

using testing::TempDir;

// Two small mlps learning from each other, so the cooperation keys are used too.
const char* kBase = R"(
[train]
epochs = 1
batch_size = 64
max_steps = 2
threads = 1
log_every = 1
[[network]]
model = "mlp"
widths = [16]
[[network]]
model = "mlp"
widths = [8]
[cooperate]
method = "mutual"
)";

struct NumericKey {
  std::string path;
  bool integer;
};

void collect(const toml::table& table, const std::string& prefix, std::vector<NumericKey>& out) {
  for (const auto& [key, node] : table) {
    const std::string path = prefix + std::string(key.str());
    if (node.is_integer() || node.is_floating_point()) {
      out.push_back({path, node.is_integer()});
    } else if (const auto* sub = node.as_table()) {
      collect(*sub, path + ".", out);
    } else if (const auto* array = node.as_array()) {
      for (size_t i = 0; i < array->size(); ++i)
        if (const auto* entry = array->get(i)->as_table())
          collect(*entry, fmt::format("{}.{}.", path, i), out);
    }
  }
}

std::vector<NumericKey> numeric_keys() {
  const Config config = parse_config_text(kBase, "base", {});
  std::vector<NumericKey> keys;
  collect(toml::parse(to_toml(config)), "", keys);
  return keys;
}

// The boundary values, as --set would pass them (TOML literals).
std::vector<std::string> boundary_values(bool integer) {
  if (integer) return {"0", "-1", "9223372036854775807", "-9223372036854775807", "inf", "nan"};
  return {"0", "-1", "1e300", "-1e300", "inf", "-inf", "nan"};
}

TEST(ConfigBoundaries, EveryNumericKeyIsRefusedInOneLineOrTrains) {
  const auto keys = numeric_keys();
  ASSERT_GT(keys.size(), 40u) << "the walk found too few keys: is to_toml complete?";
  int refused = 0, trained = 0;
  for (const auto& key : keys) {
    for (const auto& value : boundary_values(key.integer)) {
      const std::string assignment = key.path + "=" + value;
      SCOPED_TRACE(assignment);
      Config config;
      try {
        config = parse_config_text(kBase, "base", {assignment});
      } catch (const InputError& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.find('\n'), std::string::npos) << what;
        EXPECT_NE(what.find(key.path), std::string::npos) << "the error must name the key: " << what;
        EXPECT_EQ(e.exit_code(), 2);
        ++refused;
        continue;
      }
      TempDir dir;
      try {
        const RunSummary summary = train(config, RunOptions{dir.path() + "/run", false, false});
        for (const auto& n : summary.networks) {
          EXPECT_TRUE(std::isfinite(n.test_loss)) << n.name;
        }
        ++trained;
      } catch (const InputError& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
        ++refused;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "accepted, then failed: " << e.what();
      }
    }
  }
  std::cout << keys.size() << " keys: " << refused << " values refused, " << trained
            << " accepted and trained\n";
  // Both outcomes occur: a walk that only refuses (or only trains) tests nothing.
  EXPECT_GT(refused, 100);
  EXPECT_GT(trained, 10);
}

}  // namespace
}  // namespace cohort
