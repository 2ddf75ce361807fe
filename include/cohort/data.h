// Data: IDX files (gzip or plain), data sets held as contiguous tensors, and a
// deterministic sampler that shards by rank.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cohort {

// Reads one IDX file (plain or gzip, detected by content). Validates the magic
// number, element type, rank, dimensions and length; raises InputError naming
// the file and what is wrong. Returns a contiguous tensor of the file's type
// (uint8 for the Fashion-MNIST files) with the file's dimensions.
at::Tensor read_idx(const std::string& path);

// The same from bytes already in memory (plain or gzip); `origin` names them in
// errors where read_idx names the file.
at::Tensor parse_idx(std::string_view bytes, const std::string& origin);

// A labelled split held in memory: images N x C x H x W float32, normalised;
// labels N int64. Batches are slices (views or index_select) of these tensors.
struct Dataset {
  at::Tensor images;
  at::Tensor labels;
  int64_t size() const { return labels.size(0); }
};

enum class Split { Train, Test };

// Loads {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from a folder and
// normalises with the training set's mean and standard deviation (Fashion-MNIST:
// 0.2860, 0.3530).
Dataset load_dataset(const std::string& folder, Split split);

// The default folder: Debian's dataset-fashion-mnist package.
std::string default_data_folder();

// Which samples a rank visits in an epoch. Deterministic in (seed, epoch): every
// rank computes the same permutation and takes its own shard, so shards are
// disjoint and together cover the epoch. Uneven tails are either dropped (every
// rank gets floor(N / world)) or padded by wrapping around (ceil(N / world)), so
// every rank takes the same number of steps and no rank waits forever.
class ShardedSampler {
 public:
  enum class Tail { Drop, Pad };
  ShardedSampler(int64_t dataset_size, int rank, int world_size, uint64_t seed,
                 bool shuffle = true, Tail tail = Tail::Pad);

  // Indices this rank visits in `epoch`, in order.
  at::Tensor indices(int64_t epoch) const;
  int64_t samples_per_rank() const;
  int64_t batches_per_epoch(int64_t batch_size, bool drop_last_batch) const;

 private:
  int64_t dataset_size_;
  int rank_;
  int world_size_;
  uint64_t seed_;
  bool shuffle_;
  Tail tail_;
};

// Batch `b` of an epoch's index list: a gather into contiguous tensors (one
// index_select per tensor, no per-sample copies).
struct Batch {
  at::Tensor inputs;
  at::Tensor targets;
};
Batch make_batch(const Dataset& data, const at::Tensor& epoch_indices, int64_t batch_index,
                 int64_t batch_size);

}  // namespace cohort
