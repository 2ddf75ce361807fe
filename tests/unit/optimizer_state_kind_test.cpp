// The optimiser state Cohort moves between shards, slices and a whole
// optimiser: any element-wise optimiser's, through its state's serialize().
#include "parallel/common/optimizer_state_kind.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cohort/error.h"
#include "parallel/common/serialized_state.h"

namespace cohort {
namespace optimizer_state_kind_test {

// An optimiser none of whose state Cohort knows by its fields.
struct Other {
  at::Tensor parameter = torch::ones({3, 4}).requires_grad_();
  torch::optim::RMSprop optimizer{std::vector<at::Tensor>{parameter},
                                  torch::optim::RMSpropOptions(0.1).momentum(0.5).centered(true)};
  Other() {
    parameter.mutable_grad() = torch::arange(12.0).reshape({3, 4});
    optimizer.step();
    optimizer.step();
  }
  const torch::optim::OptimizerParamState& state() const {
    return *optimizer.state().at(parameter.unsafeGetTensorImpl());
  }
};

TEST(SerializedState, ReadsEveryEntryInKeyOrder) {
  Other other;
  const StateEntries entries = state_entries(other.state());
  std::vector<std::string> keys;
  for (const auto& e : entries) keys.push_back(e.first);
  EXPECT_EQ(keys, (std::vector<std::string>{"grad_avg", "momentum_buffer", "square_avg", "step"}));
  EXPECT_EQ(entries[3].second.toInt(), 2);
}

TEST(SerializedState, AnElementWiseStateSplitsAndKeepsItsStepCount) {
  Other other;
  const StateKind kind = state_kind_of(other.optimizer, "test");
  const auto tensors = kind.tensors(other.state(), other.parameter.sizes());
  ASSERT_EQ(tensors.size(), 3u);  // grad_avg, momentum_buffer, square_avg
  const auto& rms = static_cast<const torch::optim::RMSpropParamState&>(other.state());
  EXPECT_TRUE(torch::equal(tensors[2], rms.square_avg()));
  // Half of each tensor, as a shard of a flattened parameter would hold it.
  std::vector<at::Tensor> halves;
  for (const auto& t : tensors) halves.push_back(t.reshape({-1}).narrow(0, 0, 6).clone());
  const auto half = kind.with(other.state(), other.parameter.sizes(), halves);
  const auto& h = static_cast<const torch::optim::RMSpropParamState&>(*half);
  EXPECT_EQ(h.step(), 2);
  EXPECT_TRUE(torch::equal(h.square_avg(), rms.square_avg().reshape({-1}).narrow(0, 0, 6)));
  EXPECT_TRUE(torch::equal(h.grad_avg(), rms.grad_avg().reshape({-1}).narrow(0, 0, 6)));
  // And back: the half's per-element tensors are those of its own shape.
  EXPECT_EQ(kind.tensors(*half, {6}).size(), 3u);
}

// A factored statistic (one value per row, as Adafactor keeps) is neither
// per-element nor one value: no shard of it means anything.
struct FactoredState : torch::optim::OptimizerCloneableParamState<FactoredState> {
  at::Tensor rows = torch::ones({3});
  void serialize(torch::serialize::OutputArchive& archive) const override {
    archive.write("rows", c10::IValue(rows));
  }
  void serialize(torch::serialize::InputArchive& archive) override {
    c10::IValue v;
    archive.read("rows", v);
    rows = v.toTensor();
  }
};

TEST(SerializedState, RefusesAStateItCannotCutNamingTheEntry) {
  Other other;
  const StateKind kind = state_kind_of(other.optimizer, "sharding");
  try {
    kind.tensors(FactoredState(), {3, 4});
    FAIL() << "a factored statistic was cut";
  } catch (const InputError& e) {
    EXPECT_TRUE(std::string(e.what()).find("'rows' has shape [3]") != std::string::npos)
        << e.what();
  }
}

// A state type without clone() cannot be copied with other tensors: one line
// that says how to give it one.
struct PlainState : torch::optim::OptimizerParamState {
  at::Tensor buffer = torch::zeros({2});
  void serialize(torch::serialize::OutputArchive& archive) const override {
    archive.write("buffer", c10::IValue(buffer));
  }
};

TEST(SerializedState, AStateWithoutCloneIsAClearError) {
  Other other;
  const StateKind kind = state_kind_of(other.optimizer, "sharding");
  EXPECT_THROW(
      {
        try {
          kind.with(PlainState(), {2}, {torch::ones({1})});
        } catch (const InputError& e) {
          EXPECT_NE(std::string(e.what()).find("OptimizerCloneableParamState"), std::string::npos);
          throw;
        }
      },
      InputError);
}

}  // namespace optimizer_state_kind_test
}  // namespace cohort
