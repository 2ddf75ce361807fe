// A run's configuration: embedded defaults, a TOML file, then `--set key=value`
// overrides. Loading is strict: an unknown key or a value of the wrong type is an
// InputError naming the key and, where there is one, the file and line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cohort/data.h"
#include "cohort/models.h"

namespace cohort {

struct TrainConfig {
  int64_t epochs = 2;
  int64_t batch_size = 64;  // per rank
  uint64_t seed = 0;
  int64_t threads = 0;     // per process; 0 = cores / local processes
  int64_t max_steps = 0;   // 0 = no limit
  int64_t log_every = 50;  // steps between metrics records
  bool deterministic = true;
  int64_t checkpoint_every_steps = 0;   // 0 = at the end of every epoch only
  double checkpoint_every_seconds = 0;  // 0 = off
  int64_t keep_checkpoints = 3;
  bool checkpoint_on_interrupt = true;  // SIGINT/SIGTERM: save, then exit 128 + signal
  bool timeline = false;                // Chrome trace of the run
  bool tensorboard = false;             // TensorBoard event files next to metrics.jsonl
  std::string device = "cpu";           // cpu | cuda | auto (cohort/device.h)
  std::string precision = "fp32";       // fp32 | bf16 (autocast)
};

// Where the data comes from (cohort/data.h), and how the trainer walks it.
struct DataConfig : DataSource {
  bool shuffle = true;
};

struct NetworkConfig {
  std::string name;  // default "<model><index>", e.g. "cnn0"
  ModelSpec model;
  std::string optimizer = "sgd";  // sgd | adam | adamw
  double lr = 0.05;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::string schedule = "constant";  // constant | step | cosine
  int64_t warmup_steps = 0;           // linear warm-up before the schedule
  int64_t step_size = 1000;           // step schedule: decay every step_size steps
  double gamma = 0.1;                 // step schedule: factor
  double min_lr = 0.0;                // cosine floor
  double grad_clip = 0.0;             // max global L2 norm; 0 = off
  int64_t seed = -1;                  // -1 = train.seed + index
  // A PyTorch state_dict (torch.save(model.state_dict(), path)) to start from
  // instead of the seeded initialisation; "" = none. Names and shapes must match.
  std::string init;
  // false: a control network, trained on the same batches without the cohort's
  // method (no peers, not in the ensemble), reported beside it to show what
  // cooperation changes.
  bool cooperate = true;
  // This member's own layout (cohort/member_layout.h); absent (0, empty): the
  // [parallel] mesh every member shares.
  int64_t data = 0;            // replicas; 0 = parallel.data
  int64_t pipeline = 0;        // stages; only 1 runs beside other members yet
  std::vector<int64_t> ranks;  // replica i on ranks[i]; empty = placed in turn
};

struct ParallelConfig {
  // Mesh sizes: network groups (each trains its share of the [[network]]
  // entries), replicas of each, pipeline stages of each replica.
  int64_t network = 1;
  int64_t data = 1;
  int64_t pipeline = 1;
  // Tensor parallelism (cohort/tensor_parallel.h): each network's layers split
  // among this many ranks, each replica of it on `tensor` ranks.
  int64_t tensor = 1;
  std::string mode = "sync";  // sync | async | local-sgd
  int64_t micro_batches = 1;
  std::string schedule = "1f1b";     // gpipe | 1f1b
  std::string partition = "params";  // uniform | params | time
  bool recompute = false;            // pipeline: re-run each stage's forward before its backward
  int64_t servers = 0;               // async: parameter-server ranks
  int64_t staleness = -1;  // async: steps a worker may run ahead of the slowest; -1 = unbounded
  bool staleness_lr_scaling = false;  // async: divide each push's step by its staleness
  int64_t average_every = 8;          // local-sgd: H, steps between parameter averages
  int64_t local_after = 0;            // local-sgd: synchronous steps first (post-local SGD)
  double bucket_mb = 25.0;            // ddp bucket cap
  // Sharded data parallelism (ZeRO, cohort/zero.h): 0 off, 1 the optimiser
  // state split among the `data` replicas, 2 the gradients too, 3 the parameters too.
  int64_t shard = 0;
  double shard_unit_mb = 25.0;     // consecutive parameters per collective
  std::string comm_hook = "none";  // none | fp16 | bf16 | powersgd
  // auto: cohort train --nproc N profiles the members and runs the planner's
  // data-parallel layouts (docs/planner.md); manual: the config's own.
  std::string plan = "manual";
  double timeout_seconds = 60;
};

struct CooperateConfig {
  std::string method = "none";  // none | mutual | codistill | ensemble | pbt
  double alpha = 1.0;           // weight of the peer term
  double temperature = 3.0;
  int64_t exchange_every = 50;  // codistillation: steps between weight exchanges
  int64_t pbt_interval = 200;   // pbt: steps between exploit/explore rounds
  double pbt_fraction = 0.25;
  bool fused = false;  // train same-shape networks as one batched model
};

struct Config {
  TrainConfig train;
  DataConfig data;
  std::vector<NetworkConfig> networks;
  ParallelConfig parallel;
  CooperateConfig cooperate;
};

// Defaults, then `path` (if non-empty), then overrides of the form "a.b=value"
// ("network.0.lr=0.1" indexes the [[network]] array). Values are TOML
// ("train.epochs=3", "network.0.widths=[128,64]"); a bare word is a string.
Config load_config(const std::string& path, const std::vector<std::string>& overrides);

// The same from TOML text already in memory; `origin` stands for the file name
// in errors.
Config parse_config_text(const std::string& toml, const std::string& origin,
                         const std::vector<std::string>& overrides);

// The resolved configuration as TOML text; loading it back gives the same Config.
std::string to_toml(const Config& config);

// The embedded default configuration (what `cohort train` runs with no file).
const char* default_config_toml();

}  // namespace cohort
