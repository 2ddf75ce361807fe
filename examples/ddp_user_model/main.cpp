// A user-defined model trained with Cohort's DistributedDataParallel. Run under
// any launcher that sets RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, e.g.
//   cohort launch --nproc 2 -- ./ddp_user_model
#include <cohort/ddp.h>
#include <cohort/rendezvous.h>
#include <torch/torch.h>

#include <iostream>

struct TinyNetImpl : torch::nn::Module {
  torch::nn::Linear hidden{register_module("hidden", torch::nn::Linear(8, 32))};
  torch::nn::Linear out{register_module("out", torch::nn::Linear(32, 2))};
  torch::Tensor forward(torch::Tensor x) { return out(torch::relu(hidden(x))); }
};
TORCH_MODULE(TinyNet);

int main() {
  auto comm = cohort::init_world(cohort::world_info_from_environment());
  TinyNet net;  // each rank's random init; DDP copies rank 0's
  cohort::DistributedDataParallel ddp(net.ptr(), comm);
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));

  torch::manual_seed(100 + comm->rank());  // each rank its own samples
  for (int step = 0; step < 100; ++step) {
    torch::Tensor x = torch::randn({32, 8});
    torch::Tensor y = (x.sum(1) > 0).to(torch::kLong);  // the rule to learn
    sgd.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    loss.backward();
    ddp.synchronize();  // gradients averaged across ranks
    sgd.step();
    if (comm->rank() == 0 && step % 20 == 19) {
      std::cout << "step " << step + 1 << " loss " << loss.item<double>() << std::endl;
    }
  }
  comm->barrier();
  if (comm->rank() == 0) std::cout << "ddp_user_model: OK" << std::endl;
  return 0;
}
