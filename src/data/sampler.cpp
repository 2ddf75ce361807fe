#include <ATen/ATen.h>
#include <fmt/format.h>

#include "cohort/data.h"
#include "cohort/error.h"

namespace cohort {

ShardedSampler::ShardedSampler(int64_t dataset_size, int rank, int world_size, uint64_t seed,
                               bool shuffle, Tail tail)
    : dataset_size_(dataset_size),
      rank_(rank),
      world_size_(world_size),
      seed_(seed),
      shuffle_(shuffle),
      tail_(tail) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    throw InputError(fmt::format("sampler: rank {} is outside a world of {}", rank, world_size));
  }
  if (dataset_size < world_size) {
    throw InputError(
        fmt::format("sampler: {} samples cannot be shared by {} ranks", dataset_size, world_size));
  }
}

int64_t ShardedSampler::samples_per_rank() const {
  return tail_ == Tail::Drop ? dataset_size_ / world_size_
                             : (dataset_size_ + world_size_ - 1) / world_size_;
}

int64_t ShardedSampler::batches_per_epoch(int64_t batch_size, bool drop_last_batch) const {
  const int64_t n = samples_per_rank();
  return drop_last_batch ? n / batch_size : (n + batch_size - 1) / batch_size;
}

at::Tensor ShardedSampler::indices(int64_t epoch) const {
  at::Tensor order;
  if (shuffle_) {
    // A generator seeded from (seed, epoch) alone: every rank draws the same
    // permutation, and a resumed run draws the same one again.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed_ * 1000003ull + uint64_t(epoch));
    order = at::randperm(dataset_size_, gen, at::TensorOptions().dtype(at::kLong));
  } else {
    order = at::arange(dataset_size_, at::kLong);
  }
  const int64_t total = samples_per_rank() * world_size_;
  if (total > dataset_size_) {
    order = at::cat({order, order.slice(0, 0, total - dataset_size_)});
  } else {
    order = order.slice(0, 0, total);
  }
  // Strided shards (rank, rank + world, ...) like torch's DistributedSampler.
  return order.slice(0, rank_, total, world_size_).contiguous();
}

Batch make_batch(const Dataset& data, const at::Tensor& epoch_indices, int64_t batch_index,
                 int64_t batch_size) {
  const int64_t begin = batch_index * batch_size;
  const int64_t end = std::min<int64_t>(begin + batch_size, epoch_indices.size(0));
  const at::Tensor idx = epoch_indices.slice(0, begin, end);
  return data.get(idx);
}

}  // namespace cohort
