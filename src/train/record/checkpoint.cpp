#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <system_error>
#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/serialize.h>

#include "cohort/checkpoint.h"
#include "train/process/fault_injection.h"
#include "cohort/error.h"
#include "util/json_error.h"

namespace cohort {
namespace {

// torch::pickle_save's archive, without its type tags: libtorch tags every dict
// with its static types through torch.jit._pickle.restore_type_tag, a global
// that torch.load's weights_only unpickler (the default since torch 2.6)
// refuses. Untagged, the archive holds only dicts, strings and tensors, which
// `torch.load(path)` opens as it is and torch::pickle_load reads back the same.
std::vector<char> pickle_for_torch_load(const c10::IValue& value) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* data, size_t size) { pickled.insert(pickled.end(), data, data + size); },
      nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    const char* bytes = static_cast<const char*>(data);
    archive.insert(archive.end(), bytes, bytes + size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(),
                                     writer);
  writer.writeEndOfFile();
  return archive;
}

namespace fs = std::filesystem;
constexpr const char* kFormat = "cohort-checkpoint";
constexpr int kVersion = 1;

uint32_t crc32_of(const std::vector<char>& bytes) {
  return static_cast<uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// Throws std::system_error: the caller names the checkpoint, not its temporary file.
void write_file_synced(const fs::path& path, const char* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category());
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw std::system_error(err, std::generic_category());
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category());
  }
  if (::close(fd) != 0) throw std::system_error(errno, std::generic_category());
}

// What a person can act on, for the failures a run folder meets in practice.
std::string why_unwritable(const std::error_code& code) {
  if (code == std::errc::no_space_on_device) return "the disk is full";
  if (code == std::errc::read_only_file_system) return "the filesystem is read-only";
  if (code == std::errc::permission_denied || code == std::errc::operation_not_permitted)
    return "the run folder is not writable (permission denied)";
  return code.message();
}

std::string how_to_continue(const std::error_code& code) {
  if (code == std::errc::no_space_on_device)
    return " (free some space, then continue with --resume)";
  if (code == std::errc::read_only_file_system)
    return " (remount it read-write, then continue with --resume)";
  if (code == std::errc::permission_denied || code == std::errc::operation_not_permitted)
    return " (make it writable, then continue with --resume)";
  return "";
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("checkpoint file {} cannot be read", path.string()));
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

std::string step_folder_name(int64_t step) { return fmt::format("step-{:08d}", step); }

std::vector<fs::path> complete_checkpoints(const fs::path& run_dir) {
  std::vector<fs::path> found;
  const fs::path dir = run_dir / "checkpoints";
  if (!fs::is_directory(dir)) return found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    // Temporary folders (".tmp-") are incomplete writes, and a folder missing a
    // file was partly deleted: neither is a candidate.
    if (name.rfind("step-", 0) == 0 && name.find(".tmp") == std::string::npos &&
        fs::exists(entry.path() / "manifest.json") && fs::exists(entry.path() / "state.pt")) {
      found.push_back(entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

nlohmann::json shape_of(const at::Tensor& t) { return nlohmann::json(t.sizes().vec()); }

// nlohmann converts any number to any arithmetic type, and a float outside the
// target's range (a damaged "step": 1e30) is undefined behaviour: integers only.
template <typename T>
T manifest_integer(const nlohmann::json& manifest, const char* key, const std::string& origin) {
  static_assert(std::is_unsigned_v<T> || sizeof(T) == sizeof(int64_t));
  const nlohmann::json& value = manifest.at(key);
  if (value.is_number_unsigned()) {
    const auto u = value.get<uint64_t>();
    if (u <= uint64_t(std::numeric_limits<T>::max())) return T(u);
  } else if (value.is_number_integer() && std::is_signed_v<T>) {
    return T(value.get<int64_t>());
  }
  throw InputError(fmt::format(
      "{}: corrupt manifest.json: {} must be an integer from {} to {}, got {}", origin, key,
      std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), value.dump().substr(0, 40)));
}

// The CRC-32 of the manifest as written, less this field: an edited step or
// shape is caught like a damaged state.pt.
uint32_t manifest_checksum(nlohmann::json manifest) {
  manifest.erase("manifest_crc32");
  const std::string text = manifest.dump(1);
  return crc32_of(std::vector<char>(text.begin(), text.end()));
}

// Each tensor as the manifest describes it, or an InputError naming the first
// that differs.
void check_tensor_entry(const nlohmann::json& entry, const at::Tensor& tensor,
                        const std::string& network, const std::string& origin) {
  const std::string name = entry.at("name");
  const auto shape = entry.at("shape").get<std::vector<int64_t>>();
  const std::string dtype = entry.at("dtype");
  if (shape != tensor.sizes().vec() || dtype != c10::toString(tensor.scalar_type())) {
    throw InputError(fmt::format(
        "{}: manifest.json does not match state.pt: {} {} is {} {} in the manifest, {} {} in "
        "state.pt",
        origin, network, name, dtype, nlohmann::json(shape).dump(), c10::toString(tensor.scalar_type()),
        shape_of(tensor).dump()));
  }
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, const TrainingState& state, int64_t keep) {
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  nlohmann::json networks = nlohmann::json::array();
  for (const auto& net : state.networks) {
    c10::impl::GenericDict tensors(c10::StringType::get(), c10::TensorType::get());
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& [name, tensor] : net.tensors) {
      tensors.insert(name, tensor.detach().cpu().contiguous());
      entries.push_back({{"name", name}, {"shape", shape_of(tensor)},
                         {"dtype", std::string(c10::toString(tensor.scalar_type()))}});
    }
    root.insert(net.name, tensors);
    networks.push_back({{"name", net.name}, {"model", net.model}, {"tensors", entries}});
  }
  const std::vector<char> bytes = pickle_for_torch_load(root);

  nlohmann::json manifest = {{"format", kFormat}, {"version", kVersion},
                             {"step", state.step}, {"epoch", state.epoch},
                             {"batch_in_epoch", state.batch_in_epoch},
                             {"state_bytes", bytes.size()}, {"state_crc32", crc32_of(bytes)},
                             {"config", state.config_toml},
                             {"extra", nlohmann::json::parse(state.extra_json)},
                             {"networks", networks}};
  manifest["manifest_crc32"] = manifest_checksum(manifest);
  const std::string manifest_text = manifest.dump(1);

  const fs::path dir = fs::path(run_dir) / "checkpoints";
  const fs::path final_path = dir / step_folder_name(state.step);
  const fs::path tmp = dir / (step_folder_name(state.step) + fmt::format(".tmp-{}", ::getpid()));
  try {
    fs::create_directories(dir);
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    write_file_synced(tmp / "state.pt", bytes.data(), bytes.size());
    fault_point("checkpoint", state.step);
    write_file_synced(tmp / "manifest.json", manifest_text.data(), manifest_text.size());
    fsync_dir(tmp);
    // Re-saving the same step replaces the old folder only once the new one is whole.
    if (fs::exists(final_path)) fs::remove_all(final_path);
    fs::rename(tmp, final_path);
    fsync_dir(dir);
  } catch (const std::system_error& e) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw Error(fmt::format("cannot write checkpoint {}: {}; the previous checkpoints are kept{}",
                            final_path.string(), why_unwritable(e.code()),
                            how_to_continue(e.code())));
  }

  auto all = complete_checkpoints(run_dir);
  // An old checkpoint left in place costs only space: pruning never fails a step
  // (somebody may be deleting checkpoints while the run writes them).
  std::error_code ignored;
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i)
    fs::remove_all(all[i], ignored);
  return final_path.string();
}

std::string latest_checkpoint(const std::string& run_dir) {
  auto all = complete_checkpoints(run_dir);
  return all.empty() ? "" : all.back().string();
}

std::string checkpoint_folder(const std::string& run_dir, int64_t step) {
  return (fs::path(run_dir) / "checkpoints" / step_folder_name(step)).string();
}

int64_t checkpoint_folder_step(const std::string& folder) {
  const std::string name = fs::path(folder).filename().string();
  constexpr size_t kDigits = 8;
  if (name.size() != 5 + kDigits || name.rfind("step-", 0) != 0 ||
      !std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(name.substr(5));
}

TrainingState load_checkpoint(const std::string& path_in) {
  fs::path path(path_in);
  if (!fs::exists(path)) {
    throw InputError(fmt::format("checkpoint {} does not exist", path_in));
  }
  if (fs::is_regular_file(path)) path = path.parent_path();  // state.pt or manifest.json given
  if (!fs::exists(path / "manifest.json")) {
    const std::string latest = latest_checkpoint(path.string());
    if (latest.empty()) {
      throw InputError(fmt::format("{} holds no complete checkpoint (no manifest.json)", path_in));
    }
    path = latest;
  }
  const auto manifest_json = read_bytes(path / "manifest.json");
  TrainingState state = parse_checkpoint(std::string(manifest_json.begin(), manifest_json.end()),
                                         read_bytes(path / "state.pt"), path.string());
  const std::string folder = path.filename().string();
  if (folder.rfind("step-", 0) == 0 && folder != step_folder_name(state.step)) {
    throw InputError(fmt::format("{}: the manifest says step {}, the folder's name another: one of "
                                 "them was changed by hand",
                                 path.string(), state.step));
  }
  return state;
}

TrainingState parse_checkpoint(const std::string& manifest_json, const std::vector<char>& bytes,
                               const std::string& origin) {
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(manifest_json);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: corrupt manifest.json: {}", origin, describe_json_error(e)));
  }
  try {
    if (manifest.at("format") != kFormat || manifest.at("version") != kVersion) {
      throw InputError(
          fmt::format("{}: not a cohort checkpoint of format version {}", origin, kVersion));
    }
    const auto want = manifest_integer<size_t>(manifest, "state_bytes", origin);
    if (bytes.size() != want) {
      throw InputError(
          fmt::format("{}: state.pt is truncated or altered: {} bytes, the manifest says {}",
                      origin, bytes.size(), want));
    }
    if (crc32_of(bytes) != manifest_integer<uint32_t>(manifest, "state_crc32", origin)) {
      throw InputError(fmt::format("{}: state.pt fails its checksum: the file is corrupt", origin));
    }
    // Checkpoints older than the field have only state.pt's checksum.
    if (manifest.contains("manifest_crc32") &&
        manifest_integer<uint32_t>(manifest, "manifest_crc32", origin) !=
            manifest_checksum(manifest)) {
      throw InputError(fmt::format(
          "{}: manifest.json fails its checksum: it was edited or damaged (restore it, or resume "
          "from an older checkpoint)",
          origin));
    }
    const auto root = torch::pickle_load(bytes).toGenericDict();
    TrainingState state;
    state.step = manifest_integer<int64_t>(manifest, "step", origin);
    state.epoch = manifest_integer<int64_t>(manifest, "epoch", origin);
    state.batch_in_epoch = manifest_integer<int64_t>(manifest, "batch_in_epoch", origin);
    state.config_toml = manifest.at("config");
    state.extra_json = manifest.at("extra").dump();
    for (const auto& net : manifest.at("networks")) {
      NetworkState ns;
      ns.name = net.at("name");
      ns.model = net.at("model");
      const auto tensors = root.at(ns.name).toGenericDict();
      for (const auto& entry : net.at("tensors")) {
        const std::string name = entry.at("name");
        ns.tensors.emplace_back(name, tensors.at(name).toTensor());
        check_tensor_entry(entry, ns.tensors.back().second, ns.name, origin);
      }
      state.networks.push_back(std::move(ns));
    }
    return state;
  } catch (const Error&) {
    throw;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: corrupt manifest.json: {}", origin, describe_json_error(e)));
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw InputError(fmt::format("{}: unreadable checkpoint: {}", origin,
                                 what.substr(0, std::min<size_t>(200, what.find('\n')))));
  }
}

}  // namespace cohort
