#include "cohort/config.h"

namespace cohort {

// The default job: a cohort of four mlps learning from each other by
// codistillation on Fashion-MNIST, and a fifth trained alone on the same batches
// as the control, so the summary shows what cooperation gains (about +1 point
// per network and +1.5 for the ensemble, docs/benchmarks/cohort.md), in a few
// minutes on two cores.
const char* default_config_toml() {
  return R"toml(
[train]
epochs = 3
batch_size = 64
seed = 0
threads = 0
max_steps = 0
log_every = 50

[data]
path = ""

# Four mlps (SGD, lr 0.05, momentum 0.9: the defaults), seeds train.seed + index.
[[network]]
model = "mlp"

[[network]]
model = "mlp"

[[network]]
model = "mlp"

[[network]]
model = "mlp"

[[network]]
name = "control"
model = "mlp"
cooperate = false

[parallel]
data = 1
pipeline = 1

[cooperate]
method = "codistill"
alpha = 1.0
temperature = 3.0
exchange_every = 50
)toml";
}

}  // namespace cohort
