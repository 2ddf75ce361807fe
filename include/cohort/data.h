// Data: the Dataset interface the trainer draws batches from, the built-in
// sources that load one (IDX, tensor files, image folders, CSV), and a
// deterministic sampler that shards by rank.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cohort/task.h"

namespace cohort {

// A batch: inputs B x (sample shape), float32; targets B class indices (int64)
// or, for regression, B x T values (float32).
struct Batch {
  at::Tensor inputs;
  at::Tensor targets;
};

// What a model must know of the data to fit it: the shape of one input and how
// many outputs it predicts (the classes, or the regression targets).
struct SampleSpec {
  std::vector<int64_t> input_shape;  // e.g. {1, 28, 28} for images, {16} for features
  Task task = Task::Classification;
  int64_t outputs = 0;
};

// A dataset is a size and the inputs and targets of any list of its indices;
// everything else (shuffling, sharding by rank, batching) is the trainer's. A
// user's own data implements get(); the built-in sources hold tensors in memory.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // `indices`: a 1-D int64 tensor of positions in [0, size()).
  virtual Batch get(const at::Tensor& indices) const = 0;
  virtual SampleSpec spec() const = 0;
  // Samples [begin, end) in order (evaluation walks the split this way); a
  // dataset in memory overrides it to return views without copies.
  virtual Batch slice(int64_t begin, int64_t end) const;
};

// A dataset held as two tensors: inputs N x ..., float32; targets N, int64 in
// [0, classes), or for regression N x T, float32.
class TensorDataset final : public Dataset {
 public:
  TensorDataset(at::Tensor inputs, at::Tensor targets, int64_t classes);
  TensorDataset(at::Tensor inputs, at::Tensor targets, Task task, int64_t outputs);
  int64_t size() const override;
  Batch get(const at::Tensor& indices) const override;
  Batch slice(int64_t begin, int64_t end) const override;
  SampleSpec spec() const override;
  const at::Tensor& inputs() const { return inputs_; }
  const at::Tensor& targets() const { return targets_; }

 private:
  at::Tensor inputs_;
  at::Tensor targets_;
  Task task_;
  int64_t outputs_;
};

// Where a run's data comes from ([data] in a config).
struct DataSource {
  std::string format = "idx";  // idx | tensors | images | csv | a registered dataset
  std::string path;            // idx: the folder of {train,t10k}-*-ubyte[.gz] ("" = Debian's)
  std::string train;           // the training split: a file or a folder ("" = from path)
  std::string test;            // the test split ("" = the training split's folder, idx only)
  std::string task = "classification";
  std::string target;                // csv: the target column's name ("" = the last column)
  std::vector<int64_t> image_size;   // images: H, W every image is resized to ([] = the first's)
  std::vector<double> mean, stddev;  // idx, images: per channel ([] = see docs/data.md)
};

// Both splits of a source. The test split is described in the training split's
// terms (classes, normalisation), so a network trained on one evaluates on the other.
struct Splits {
  std::shared_ptr<const Dataset> train;
  std::shared_ptr<const Dataset> test;
};

// The built-in formats, then the program's registered datasets (include/cohort/registry.h).
std::vector<std::string> data_format_names();

// Loads both splits; InputError naming the file and what is wrong.
Splits load_splits(const DataSource& source);

// Where the training split is read from: `train`, else (idx) `path`, else Debian's folder.
std::string training_location(const DataSource& source);

// --- IDX (LeCun's MNIST files) ---

// Reads one IDX file (plain or gzip, detected by content). Validates the magic
// number, element type, rank, dimensions and length; raises InputError naming
// the file and what is wrong. Returns a contiguous tensor of the file's type
// (uint8 for the Fashion-MNIST files) with the file's dimensions.
at::Tensor read_idx(const std::string& path);

// The same from bytes already in memory (plain or gzip); `origin` names them in
// errors where read_idx names the file.
at::Tensor parse_idx(std::string_view bytes, const std::string& origin);

enum class Split { Train, Test };

// Loads {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from a folder as
// N x 1 x H x W floats normalised by (x / 255 - mean) / std (default
// Fashion-MNIST's training statistics, 0.2860 and 0.3530) and int64 labels.
std::shared_ptr<TensorDataset> load_dataset(const std::string& folder, Split split,
                                            double mean = 0.2860, double stddev = 0.3530);

// The default folder: Debian's dataset-fashion-mnist package.
std::string default_data_folder();

// --- Tensor files: torch.save({"inputs": X, "targets": Y}, path) ---

// X: N x ... of a floating type (read as float32); Y: N integers >= 0 (classes),
// or for regression N or N x T floats (read as N x T float32). `outputs` 0: one
// more than the largest class, or Y's T; else the training split's, which this
// split must match. InputError naming the file for other keys, shapes or dtypes.
std::shared_ptr<TensorDataset> read_tensor_dataset(const std::string& path, int64_t outputs = 0,
                                                   Task task = Task::Classification);
std::shared_ptr<TensorDataset> parse_tensor_dataset(const std::vector<char>& bytes,
                                                    const std::string& origin, int64_t outputs = 0,
                                                    Task task = Task::Classification);

// --- Image folders: ROOT/<class>/<image>.png|.jpg|.jpeg ---

// One decoded image: C x H x W uint8, C = `channels` (1: grayscale, 3: RGB; the
// file's own colour type converted), or the file's own (1 or 3) when 0.
at::Tensor decode_image(std::string_view bytes, const std::string& origin, int channels = 0);

// Classes are the sub-folders' names in sorted order; `classes` (the training
// split's, for a test split) fixes them instead. Every image is resized to
// `size` (H, W; empty = the first image's) and scaled by (x / 255 - mean) / std
// per channel (empty: the training split's own statistics).
struct ImageFolder {
  std::shared_ptr<TensorDataset> data;
  std::vector<std::string> classes;
  std::vector<double> mean, stddev;
};
ImageFolder load_image_folder(const std::string& root, const std::vector<std::string>& classes,
                              std::vector<int64_t> size, std::vector<double> mean,
                              std::vector<double> stddev, int channels = 0);

// --- CSV: a header row of names, then one row per sample, numbers only ---

// Every column but the target is a feature, read as written (load_splits
// standardises them by the training split's mean and deviation per column);
// targets are class indices (non-negative integers), or for regression any
// finite numbers, kept as written. InputError naming the file, row and column of
// a cell that is not a number, or a row of another length.
struct CsvTable {
  at::Tensor features;  // N x F float32, as read
  at::Tensor targets;   // N int64, or N x 1 float32 for regression
  std::vector<std::string> feature_names;
};
CsvTable parse_csv(std::string_view text, const std::string& origin, const std::string& target,
                   Task task = Task::Classification);
CsvTable read_csv(const std::string& path, const std::string& target,
                  Task task = Task::Classification);

// --- Sampling ---

// Which samples a rank visits in an epoch. Deterministic in (seed, epoch): every
// rank computes the same permutation and takes its own shard, so shards are
// disjoint and together cover the epoch. Uneven tails are either dropped (every
// rank gets floor(N / world)) or padded by wrapping around (ceil(N / world)), so
// every rank takes the same number of steps and no rank waits forever.
class ShardedSampler {
 public:
  enum class Tail { Drop, Pad };
  ShardedSampler(int64_t dataset_size, int rank, int world_size, uint64_t seed, bool shuffle = true,
                 Tail tail = Tail::Pad);

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

// Batch `b` of an epoch's index list, from `data.get` (for data in memory: one
// index_select per tensor, no per-sample copies).
Batch make_batch(const Dataset& data, const at::Tensor& epoch_indices, int64_t batch_index,
                 int64_t batch_size);

}  // namespace cohort
