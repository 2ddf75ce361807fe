// Which slice of a split dimension each tensor-parallel rank holds: pure.
#include <gtest/gtest.h>

#include "cohort/error.h"
#include "cohort/tensor_parallel.h"

namespace cohort::tp {
namespace {

TEST(TensorShare, EqualConsecutiveSlicesInRankOrder) {
  for (int parts : {1, 2, 4, 8}) {
    int64_t next = 0;
    for (int i = 0; i < parts; ++i) {
      const Share s = share_of(64, parts, i, "outputs");
      EXPECT_EQ(s.begin, next);
      EXPECT_EQ(s.size, 64 / parts);
      next += s.size;
    }
    EXPECT_EQ(next, 64);
  }
}

TEST(TensorShare, AnUnevenSplitIsRefusedNamingWhatToChange) {
  try {
    share_of(10, 4, 0, "a linear layer's outputs");
    FAIL() << "10 outputs split among 4 ranks";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("splits a linear layer's outputs evenly, but it has 10"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace cohort::tp
