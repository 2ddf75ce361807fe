// Runs one stage's instruction list for one training step (see pipeline.h).
#include <torch/torch.h>

#include <chrono>
#include <list>
#include <string>

#include "cohort/error.h"
#include "cohort/pipeline.h"
#include "comm/message_tags.h"

namespace cohort {
namespace {

// What a stage keeps for one micro-batch between its forward and its backward.
struct MicroBatch {
  at::Tensor input;   // stage input (requires grad past the first stage)
  at::Tensor output;  // stage output, or empty when recomputing
  at::Tensor loss;    // last stage: scaled loss, or empty when recomputing
  at::Tensor to_send; // activation or gradient kept alive until its send completes
  int64_t bytes = 0;  // activation bytes held for this micro-batch
  std::vector<int64_t> output_shape;  // sizes the gradient from stage + 1 will have
  at::ScalarType output_dtype = at::kFloat;
};

// Activations and their gradients live where the stage's parameters do (a CUDA
// stage receives them through NCCL); headers stay on the CPU (Gloo).
c10::Device device_of(PipelineStage& stage) {
  const auto params = stage.parameters();
  return params.empty() ? c10::Device(c10::kCPU) : params.front().device();
}

class StepRunner {
 public:
  StepRunner(PipelineStage& stage, const Batch& batch, const PipelineOptions& options,
             const std::function<void()>& optimizer_step)
      : st_(stage), batch_(batch), opt_(options), optimizer_step_(optimizer_step),
        micro_(options.micro_batches), device_(device_of(stage)) {}

  StepResult run() {
    if (opt_.zero_grad)
      opt_.zero_grad();
    else
      st_.layers()->zero_grad();
    start_ = std::chrono::steady_clock::now();
    result_.started = start_;
    prepare_local_data();
    const auto list = stage_instructions(opt_.schedule, st_.stages(), st_.stage(),
                                         opt_.micro_batches);
    for (const Instruction& in : list) {
      const double t0 = now();
      execute(in);
      const double t1 = now();
      result_.timings.push_back({in, t0, t1});
      if (in.kind == InstructionKind::Forward || in.kind == InstructionKind::Backward) {
        result_.busy_seconds += t1 - t0;
      }
    }
    for (auto& s : pending_sends_) s.handle.wait();
    result_.wall_seconds = now();
    result_.idle_seconds = result_.wall_seconds - result_.busy_seconds;
    if (st_.is_last()) {
      result_.has_loss = true;
      result_.samples = total_rows_;
    }
    return std::move(result_);
  }

 private:
  struct PendingSend {
    std::vector<at::Tensor> tensors;
    CommHandle handle;
  };

  double now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  void prepare_local_data() {
    const int m = opt_.micro_batches;
    if (st_.is_first()) {
      if (!batch_.inputs.defined()) {
        throw InputError("pipeline: stage 0 needs batch.inputs");
      }
      total_rows_ = batch_.inputs.size(0);
      check_rows();
      inputs_ = batch_.inputs.split_with_sizes(micro_batch_rows(total_rows_, m));
      if (st_.is_last()) split_targets();
    }
  }

  void check_rows() const {
    if (total_rows_ < opt_.micro_batches) {
      throw InputError("pipeline: batch of " + std::to_string(total_rows_) + " rows cannot be cut into " +
                       std::to_string(opt_.micro_batches) +
                       " micro-batches; raise the batch size or lower [parallel] micro_batches");
    }
  }

  void split_targets() {
    if (!batch_.targets.defined() || batch_.targets.size(0) != total_rows_) {
      throw InputError("pipeline: the last stage needs batch.targets with " +
                       std::to_string(total_rows_) + " rows (the batch stage 0 sent), got " +
                       (batch_.targets.defined() ? std::to_string(batch_.targets.size(0))
                                                 : std::string("none")));
    }
    targets_ = batch_.targets.split_with_sizes(micro_batch_rows(total_rows_, opt_.micro_batches));
  }

  void send(at::Tensor t, int dst, int tag) {
    pending_sends_.push_back({{t.contiguous()}, {}});
    auto& p = pending_sends_.back();
    p.handle = st_.comm().send_async(p.tensors, dst, tag);
  }

  at::Tensor recv(at::Tensor buffer, int src, int tag) {
    std::vector<at::Tensor> v{buffer};
    st_.comm().recv_async(v, src, tag).wait();
    return v[0];
  }

  // The handshake: before its first activation a stage sends the rank of the
  // activation and then [dtype, batch rows, trailing sizes...], so the next stage
  // can size its buffers without knowing the layers before it.
  void send_header(const at::Tensor& first_output) {
    const int64_t ndim = first_output.dim();
    std::vector<int64_t> sizes{static_cast<int64_t>(first_output.scalar_type()), total_rows_};
    for (int64_t d = 1; d < ndim; ++d) sizes.push_back(first_output.size(d));
    send(torch::tensor({ndim}, torch::kInt64), st_.stage() + 1, tags::kPipelineHeaderNdim);
    send(torch::tensor(sizes, torch::kInt64), st_.stage() + 1, tags::kPipelineHeaderSizes);
  }

  void recv_header() {
    const int src = st_.stage() - 1;
    const int64_t ndim =
        recv(torch::empty({1}, torch::kInt64), src, tags::kPipelineHeaderNdim).item<int64_t>();
    if (ndim < 1 || ndim > 16) {
      throw CommError("pipeline: stage " + std::to_string(src) + " announced an activation of rank " +
                      std::to_string(ndim) + "; the stages disagree on the protocol");
    }
    const at::Tensor sizes =
        recv(torch::empty({ndim + 1}, torch::kInt64), src, tags::kPipelineHeaderSizes);
    const auto* v = sizes.data_ptr<int64_t>();
    activation_dtype_ = static_cast<at::ScalarType>(v[0]);
    total_rows_ = v[1];
    check_rows();
    trailing_sizes_.assign(v + 2, v + ndim + 1);
    header_received_ = true;
    if (st_.is_last()) split_targets();
  }

  // Runs the layers one at a time to count the bytes of every layer output:
  // what autograd keeps alive for backward, give or take a layer's choice of
  // saving its input or its output.
  at::Tensor run_layers(at::Tensor x, int64_t* bytes) {
    for (auto it = st_.layers()->begin(); it != st_.layers()->end(); ++it) {
      x = it->forward<at::Tensor>(x);
      if (bytes) *bytes += static_cast<int64_t>(x.nbytes());
    }
    return x;
  }

  at::Tensor scaled_loss(const at::Tensor& output, int mb) {
    const auto& t = targets_[mb];
    const double share = static_cast<double>(t.size(0)) / static_cast<double>(total_rows_);
    if (!opt_.loss) return task_loss(opt_.task, output, t) * share;
    int64_t first_row = 0;
    for (int i = 0; i < mb; ++i) first_row += targets_[i].size(0);
    return opt_.loss(output, t, first_row) * share;
  }

  void forward(int mb) {
    MicroBatch& m = micro_[mb];
    if (st_.is_first()) {
      m.input = inputs_[mb];
    } else if (m.input.is_floating_point()) {
      m.input.requires_grad_(true);
    }
    m.bytes = static_cast<int64_t>(m.input.nbytes());
    at::Tensor output;
    if (opt_.recompute) {
      torch::NoGradGuard no_grad;
      output = run_layers(m.input, nullptr);
    } else {
      output = run_layers(m.input, &m.bytes);
      m.output = output;
    }
    if (st_.is_last()) {
      const at::Tensor loss = scaled_loss(output, mb);
      if (!opt_.recompute) m.loss = loss;
      result_.loss += loss.item<double>();
      result_.correct += correct_predictions(opt_.task, output, targets_[mb]);
    } else {
      m.to_send = output.detach();
      m.output_shape = output.sizes().vec();
      m.output_dtype = output.scalar_type();
    }
    stored_bytes_ += m.bytes;
    result_.peak_activation_bytes = std::max(result_.peak_activation_bytes, stored_bytes_);
  }

  // Re-runs the forward under grad for the backward.
  void recompute(int mb) {
    MicroBatch& m = micro_[mb];
    m.output = run_layers(m.input, nullptr);
    if (st_.is_last()) m.loss = scaled_loss(m.output, mb);
  }

  void backward(int mb, const at::Tensor& output_grad) {
    MicroBatch& m = micro_[mb];
    // The re-run moves batch-norm running statistics a second time; they are put
    // back after the backward (not before: autograd saved them and checks that
    // they were not modified in place).
    std::vector<at::Tensor> buffers_before;
    if (opt_.recompute) {
      for (const auto& b : st_.layers()->buffers()) buffers_before.push_back(b.clone());
      recompute(mb);
    }
    if (st_.is_last()) {
      m.loss.backward();
    } else if (m.output.requires_grad()) {
      torch::autograd::backward({m.output}, {output_grad});
    }
    if (!st_.is_first()) {
      // An input no layer differentiates through still owes stage - 1 a gradient.
      m.to_send = m.input.grad().defined() ? m.input.grad() : torch::zeros_like(m.input);
    }
    size_t i = 0;
    for (auto& b : buffers_before.empty() ? std::vector<at::Tensor>{} : st_.layers()->buffers()) {
      torch::NoGradGuard no_grad;
      b.copy_(buffers_before[i++]);
    }
    stored_bytes_ -= m.bytes;
    m.input = at::Tensor();
    m.output = at::Tensor();
    m.loss = at::Tensor();
  }

  void execute(const Instruction& in) {
    const int mb = in.micro_batch;
    const int s = st_.stage();
    switch (in.kind) {
      case InstructionKind::RecvActivation: {
        if (!header_received_) recv_header();
        std::vector<int64_t> shape{micro_batch_rows(total_rows_, opt_.micro_batches)[mb]};
        shape.insert(shape.end(), trailing_sizes_.begin(), trailing_sizes_.end());
        micro_[mb].input =
            recv(torch::empty(shape, torch::dtype(activation_dtype_).device(device_)), s - 1,
                 tags::pipeline_activation(mb));
        break;
      }
      case InstructionKind::Forward: forward(mb); break;
      case InstructionKind::SendActivation:
        if (!header_sent_) {
          send_header(micro_[mb].to_send);
          header_sent_ = true;
        }
        send(micro_[mb].to_send, s + 1, tags::pipeline_activation(mb));
        micro_[mb].to_send = at::Tensor();
        break;
      case InstructionKind::RecvGrad: {
        const MicroBatch& m = micro_[mb];
        pending_grad_ =
            recv(torch::empty(m.output_shape, torch::dtype(m.output_dtype).device(device_)), s + 1,
                 tags::pipeline_gradient(mb));
        break;
      }
      case InstructionKind::Backward:
        if (opt_.before_backward) opt_.before_backward(++backwards_ == opt_.micro_batches);
        backward(mb, pending_grad_);
        pending_grad_ = at::Tensor();
        break;
      case InstructionKind::SendGrad:
        send(micro_[mb].to_send, s - 1, tags::pipeline_gradient(mb));
        micro_[mb].to_send = at::Tensor();
        break;
      case InstructionKind::OptimizerStep:
        if (optimizer_step_) optimizer_step_();
        break;
    }
  }

  PipelineStage& st_;
  const Batch& batch_;
  const PipelineOptions& opt_;
  const std::function<void()>& optimizer_step_;
  std::vector<MicroBatch> micro_;
  c10::Device device_;
  int backwards_ = 0;
  std::vector<at::Tensor> inputs_, targets_;
  std::list<PendingSend> pending_sends_;
  at::Tensor pending_grad_;
  int64_t total_rows_ = 0;
  at::ScalarType activation_dtype_ = at::kFloat;
  std::vector<int64_t> trailing_sizes_;
  bool header_sent_ = false;
  bool header_received_ = false;
  int64_t stored_bytes_ = 0;
  StepResult result_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

StepResult run_pipeline_step(PipelineStage& stage, const Batch& batch,
                             const PipelineOptions& options,
                             const std::function<void()>& optimizer_step) {
  return StepRunner(stage, batch, options, optimizer_step).run();
}

}  // namespace cohort
