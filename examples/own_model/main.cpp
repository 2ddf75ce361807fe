// A program with its own model class and its own data, trained by Cohort as a
// two-network mutual-learning cohort over two processes:
//   own_model make-data data                      # writes data/train.pt, data/test.pt
//   own_model train own_model.toml --nproc 2      # or any other cohort subcommand
#include <cohort/cli.h>
#include <cohort/registry.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>

// The user's model: a residual MLP, one module with a skip connection.
struct ResidualMlpImpl : torch::nn::Module {
  ResidualMlpImpl(int64_t features, int64_t width, int64_t classes)
      : in(register_module("in", torch::nn::Linear(features, width))),
        hidden(register_module("hidden", torch::nn::Linear(width, width))),
        out(register_module("out", torch::nn::Linear(width, classes))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    const auto h = torch::relu(in(x.flatten(1)));
    return out(h + torch::relu(hidden(h)));
  }
  torch::nn::Linear in, hidden, out;
};
TORCH_MODULE(ResidualMlp);

// The user's data: 16 features, 4 overlapping classes, in the tensor-file format
// Python's torch.save({"inputs": X, "targets": Y}, path) writes.
void write_split(const std::string& path, int64_t samples, uint64_t seed) {
  torch::manual_seed(0);  // the same class centres for both splits
  const auto centres = torch::randn({4, 16});
  torch::manual_seed(seed);
  const auto targets = torch::randint(4, {samples}, torch::kLong);
  const auto inputs = centres.index_select(0, targets) + 2.0 * torch::randn({samples, 16});
  c10::Dict<std::string, torch::Tensor> file;
  file.insert("inputs", inputs);
  file.insert("targets", targets);
  const std::vector<char> bytes = torch::pickle_save(file);
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

int main(int argc, char** argv) {
  // Configs name it like a zoo model; Cohort fills in the data's shape and classes.
  cohort::register_model("residual_mlp", [](const cohort::ModelSpec& spec) {
    const int64_t width = spec.widths.empty() ? 64 : spec.widths.front();
    return torch::nn::Sequential(ResidualMlp(spec.input_shape.at(0), width, spec.num_classes));
  });
  if (argc == 3 && std::string(argv[1]) == "make-data") {
    std::filesystem::create_directories(argv[2]);
    write_split(std::string(argv[2]) + "/train.pt", 8000, 1);
    write_split(std::string(argv[2]) + "/test.pt", 2000, 2);
    return 0;
  }
  return cohort::run_command_line(argc, argv);
}
