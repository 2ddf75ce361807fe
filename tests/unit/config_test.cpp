#include "cohort/config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>

#include "cohort/error.h"
#include "test_files.h"

namespace cohort {
namespace {

using testing::TempDir;

std::string write(const TempDir& dir, const std::string& text) {
  const std::string path = dir.file("run.toml");
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    load_config(path, overrides);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAreEmbedded) {
  const Config c = load_config("", {});
  ASSERT_FALSE(c.networks.empty());
  EXPECT_EQ(c.parallel.data, 1);
  EXPECT_GT(c.train.epochs, 0);
}

TEST(Config, FileThenOverrides) {
  TempDir dir;
  const auto path = write(dir, R"(
[train]
epochs = 3
[[network]]
name = "a"
model = "mlp"
widths = [128, 64]
[[network]]
name = "b"
model = "cnn"
lr = 0.1
)");
  const Config c = load_config(
      path, {"train.epochs=5", "network.1.lr=0.2", "network.0.model=resnet", "data.path=/x/y"});
  EXPECT_EQ(c.train.epochs, 5);
  ASSERT_EQ(c.networks.size(), 2u);
  EXPECT_EQ(c.networks[0].model.name, "resnet");
  EXPECT_EQ(c.networks[0].model.widths, (std::vector<int64_t>{128, 64}));
  EXPECT_DOUBLE_EQ(c.networks[1].lr, 0.2);
  EXPECT_EQ(c.data.path, "/x/y");
}

TEST(Config, OverrideCanAppendANetwork) {
  const size_t k = load_config("", {}).networks.size();
  const Config c = load_config("", {"network." + std::to_string(k) + ".model=mlp",
                                    "network." + std::to_string(k) + ".name=appended"});
  ASSERT_EQ(c.networks.size(), k + 1);
  EXPECT_EQ(c.networks[k].name, "appended");
}

TEST(Config, UnknownKeyNamesKeyFileAndLine) {
  TempDir dir;
  const auto path = write(dir, "[train]\nepochs = 1\nepoch = 2\n");
  const auto msg = error_of(path);
  EXPECT_NE(msg.find("train.epoch"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path + ":3"), std::string::npos) << msg;
}

TEST(Config, WrongTypeNamesTheKey) {
  TempDir dir;
  const auto msg = error_of(write(dir, "[train]\nbatch_size = \"big\"\n"));
  EXPECT_NE(msg.find("train.batch_size must be an integer"), std::string::npos) << msg;
  EXPECT_NE(error_of("", {"network.0.lr=fast"}).find("network.0.lr must be a number"),
            std::string::npos);
}

TEST(Config, MalformedTomlNamesTheLine) {
  TempDir dir;
  const auto msg = error_of(write(dir, "[train]\nepochs = = 3\n"));
  EXPECT_NE(msg.find("malformed TOML"), std::string::npos) << msg;
  EXPECT_NE(msg.find(":2"), std::string::npos) << msg;
}

TEST(Config, ImpossibleValuesAreRejected) {
  EXPECT_NE(error_of("", {"train.batch_size=0"}).find("batch_size"), std::string::npos);
  EXPECT_NE(error_of("", {"train.epochs=-1"}).find("epochs"), std::string::npos);
  EXPECT_NE(error_of("", {"network.0.lr=-0.1"}).find("lr"), std::string::npos);
  EXPECT_NE(error_of("", {"network.0.optimizer=rmsprop"}).find("sgd"), std::string::npos);
  EXPECT_NE(error_of("", {"parallel.mode=gossip"}).find("parallel.mode"), std::string::npos);
  const size_t k = load_config("", {}).networks.size();  // the default job's
  EXPECT_NE(error_of("", {"network." + std::to_string(k + 1) + ".lr=1"})
                .find(fmt::format("use 0 to {} ({} appends one)", k - 1, k)),
            std::string::npos);
  EXPECT_NE(error_of("", {"nonsense"}).find("key=value"), std::string::npos);
  EXPECT_NE(error_of("/no/such/file.toml").find("cannot be read"), std::string::npos);
}

TEST(Config, ShardStagesOneToThreeAreReadAndOthersRefusedNamingTheChoices) {
  const Config c = load_config("", {"parallel.shard=2", "parallel.shard_unit_mb=0.5"});
  EXPECT_EQ(c.parallel.shard, 2);
  EXPECT_DOUBLE_EQ(c.parallel.shard_unit_mb, 0.5);
  EXPECT_EQ(load_config("", {}).parallel.shard, 0);
  EXPECT_EQ(load_config("", {"parallel.shard=3"}).parallel.shard, 3);
  EXPECT_NE(error_of("", {"parallel.shard=4"}).find("3 = and parameters"), std::string::npos);
  EXPECT_NE(error_of("", {"parallel.shard=-1"}).find("parallel.shard"), std::string::npos);
  EXPECT_NE(error_of("", {"parallel.shard_unit_mb=0"}).find("shard_unit_mb"), std::string::npos);
}

TEST(Config, RoundTripsThroughToml) {
  TempDir dir;
  const Config a = load_config("", {"network.1.model=mlp", "network.1.widths=[32]", "train.seed=9",
                                    "cooperate.method=ensemble", "parallel.shard=1"});
  const Config b = load_config(write(dir, to_toml(a)), {});
  EXPECT_EQ(to_toml(a), to_toml(b));
  EXPECT_EQ(b.networks[1].model.widths, (std::vector<int64_t>{32}));
  EXPECT_EQ(b.train.seed, 9u);
  EXPECT_EQ(b.parallel.shard, 1);
}

TEST(Config, NetworkInitNamesAStateDictAndRoundTrips) {
  TempDir dir;
  const Config a = load_config("", {"network.0.init=weights/mlp.pt"});
  EXPECT_EQ(a.networks[0].init, "weights/mlp.pt");
  EXPECT_EQ(a.networks[1].init, "");  // the seeded initialisation
  EXPECT_EQ(load_config(write(dir, to_toml(a)), {}).networks[0].init, "weights/mlp.pt");
  EXPECT_NE(error_of("", {"network.0.init=3"}).find("network.0.init"), std::string::npos);
}

TEST(Config, StringsWithControlCharactersSurviveTheResolvedText) {
  // Found by fuzz/config_fuzzer: toml++ wrote "\nn" as a multi-line literal string,
  // whose leading newline TOML drops, so the resolved config.toml held "n".
  for (const std::string value : {"\\nn", "a\\tb\\n", "\\r\\n/x"}) {
    const Config c = parse_config_text("[data]\npath = \"" + value + "\"\n", "t.toml", {});
    const Config again = parse_config_text(to_toml(c), "resolved.toml", {});
    EXPECT_EQ(again.data.path, c.data.path) << value;
    EXPECT_EQ(to_toml(again), to_toml(c)) << value;
  }
}

TEST(Config, OverrideThatIsNotUtf8IsRejected) {
  // Found by fuzz/config_fuzzer: a bare word of Latin-1 bytes was kept as it was,
  // and the resolved config.toml then held a different name.
  EXPECT_NE(error_of("", {"network.0.name=x\xfe\xff"}).find("not valid UTF-8"), std::string::npos);
  EXPECT_NE(error_of("", {"network.0.name=\xc0\xaf"}).find("not valid UTF-8"),
            std::string::npos);  // an overlong '/'
  const Config c = load_config("", {"network.0.name=caf\xc3\xa9"});
  EXPECT_EQ(c.networks[0].name, "caf\xc3\xa9");
  EXPECT_EQ(to_toml(parse_config_text(to_toml(c), "resolved.toml", {})), to_toml(c));
}

}  // namespace
}  // namespace cohort
