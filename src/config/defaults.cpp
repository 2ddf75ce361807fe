#include "cohort/config.h"

namespace cohort {

// The default job: a small cohort of two networks learning from each other on
// Fashion-MNIST, short enough to finish in a few minutes on two cores. Where the
// cooperative trainer is not built, the [cooperate] table is rejected, so keep
// this text and the trainer in step.
const char* default_config_toml() {
  return R"toml(
[train]
epochs = 2
batch_size = 64
seed = 0
threads = 0
max_steps = 0
log_every = 50

[data]
path = ""

[[network]]
model = "cnn"
optimizer = "sgd"
lr = 0.05
momentum = 0.9

[parallel]
data = 1
pipeline = 1

[cooperate]
method = "none"
)toml";
}

}  // namespace cohort
