// A pipeline stage and the decisions all stages must share (partition, rows).
#include <torch/torch.h>

#include "cohort/error.h"
#include "cohort/pipeline.h"

namespace cohort {

std::vector<int64_t> micro_batch_rows(int64_t rows, int micro_batches) {
  std::vector<int64_t> out;
  for (int i = 0; i < micro_batches; ++i) {
    out.push_back(rows / micro_batches + (i < rows % micro_batches ? 1 : 0));
  }
  return out;
}

PipelineStage::PipelineStage(torch::nn::Sequential layers, CommunicatorPtr comm)
    : layers_(std::move(layers)), comm_(std::move(comm)) {
  if (!comm_) throw InputError("pipeline: a stage needs a communicator");
  if (layers_->size() == 0) {
    throw InputError("pipeline: stage " + std::to_string(comm_->rank()) + " has no layers");
  }
  stage_ = comm_->rank();
  stages_ = comm_->size();
}

Partition agree_partition(Communicator& comm, torch::nn::Sequential& model,
                          PartitionMethod method, const at::Tensor& sample) {
  return agree_partition(comm, model, comm.size(), method, sample);
}

Partition agree_partition(Communicator& comm, torch::nn::Sequential& model, int stages,
                          PartitionMethod method, const at::Tensor& sample) {
  at::Tensor bounds = torch::zeros({stages + 1}, torch::kInt64);
  std::string error;
  if (comm.rank() == 0) {
    try {
      bounds = torch::tensor(partition_model(model, stages, method, sample).bounds,
                             torch::kInt64);
    } catch (const InputError& e) {
      error = e.what();
      bounds.fill_(-1);  // tells the other ranks to fail too instead of waiting
    }
  }
  comm.broadcast(bounds, 0);
  if (bounds[0].item<int64_t>() < 0) {
    throw InputError(error.empty() ? "pipeline: rank 0 could not partition the model" : error);
  }
  Partition p;
  for (int64_t i = 0; i < bounds.numel(); ++i) p.bounds.push_back(bounds[i].item<int64_t>());
  return p;
}

}  // namespace cohort
