// Writes the binary seed inputs of the fuzz targets into <dir>/<target>/, made by
// the library's own writers so they stay valid as the formats change:
//   cohort_fuzz_seeds build-sanitize/fuzz/corpus
#include <png.h>
#include <torch/serialize.h>
#include <torch/torch.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "cohort/checkpoint.h"
#include "cohort/config.h"

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// An IDX file of `type` (bytes per element `width`) holding 0, 1, 2, ... big-endian.
std::string idx_bytes(uint8_t type, int width, const std::vector<uint32_t>& dims) {
  std::string out = {0, 0, char(type), char(dims.size())};
  size_t count = 1;
  for (uint32_t d : dims) {
    out += {char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
    count *= d;
  }
  for (size_t i = 0; i < count; ++i) {
    out.append(size_t(width) - 1, '\0');
    out += char(i);
  }
  return out;
}

std::string fmt_name(const char* kind, int channels) {
  return std::string(kind) + (channels == 1 ? "-gray" : "-rgb");
}

std::string gzip(const std::string& bytes) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, uLong(bytes.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = uInt(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void idx_seeds(const fs::path& dir) {
  write_file(dir / "u8-3x2x2", idx_bytes(0x08, 1, {3, 2, 2}));
  write_file(dir / "u8-3x2x2.gz", gzip(idx_bytes(0x08, 1, {3, 2, 2})));
  write_file(dir / "i8-4", idx_bytes(0x09, 1, {4}));
  write_file(dir / "i16-2x3", idx_bytes(0x0B, 2, {2, 3}));
  write_file(dir / "i32-2x1x1x2.gz", gzip(idx_bytes(0x0C, 4, {2, 1, 1, 2})));
  write_file(dir / "f32-3", idx_bytes(0x0D, 4, {3}));
  write_file(dir / "f64-1x2", idx_bytes(0x0E, 8, {1, 2}));
}

void config_seeds(const fs::path& dir) {
  // Every key, as a run folder's config.toml has them.
  write_file(dir / "resolved.toml", cohort::to_toml(cohort::parse_config_text("", "-", {})));
  // Overrides follow a NUL byte, one per line.
  write_file(dir / "overrides",
             std::string("[train]\nepochs = 1\n") + '\0' +
                 "network.0.lr=0.1\nnetwork.1.model=cnn\nparallel.mode=async\ndata.path=x");
}

void checkpoint_seeds(const fs::path& dir) {
  cohort::TrainingState s;
  s.step = 7;
  s.epoch = 1;
  s.batch_in_epoch = 2;
  s.config_toml = "[train]\nepochs = 1\n";
  s.extra_json = R"({"lineage": [0]})";
  s.networks.push_back({"mlp0",
                        "mlp",
                        {{"param.w", torch::arange(6.0).reshape({2, 3})},
                         {"optim.0.step", torch::scalar_tensor(4, torch::kLong)}}});
  s.networks.push_back({"cnn1", "cnn", {{"buffer.b", torch::ones({2}, torch::kInt)}}});
  std::string tmpl = (fs::temp_directory_path() / "cohort-seeds-XXXXXX").string();
  const fs::path run = ::mkdtemp(tmpl.data());
  const fs::path ck = cohort::save_checkpoint(run.string(), s, 1);
  write_file(dir / "two-networks",
             read_file(ck / "manifest.json") + '\0' + read_file(ck / "state.pt"));
  fs::remove_all(run);
}

void csv_seeds(const fs::path& dir) {
  write_file(dir / "three-rows", "a,b,label\n1.5,-2,0\n3e2,0.25,1\n0,7,2\n");
  write_file(dir / "quoted-named-target",
             std::string("\"x, y\",t,z\r\n\"1\",0,2\r\n4,1,5\r\n") + '\0' + "t");
}

// A 6 x 5 image of `channels` (1 or 3) bytes per pixel, as PNG and as JPEG; the
// fuzzer's first byte picks the channels it asks the decoder for.
void image_seeds(const fs::path& dir) {
  for (int channels : {1, 3}) {
    std::vector<uint8_t> pixels(6 * 5 * size_t(channels));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 37);
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = 5;
    image.height = 6;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, nullptr);
    std::string png(size, '\0');
    png_image_write_to_memory(&image, png.data(), &size, 0, pixels.data(), 0, nullptr);
    write_file(dir / fmt_name("png", channels), std::string(1, char(channels)) + png);

    tjhandle tj = tjInitCompress();
    unsigned char* jpeg = nullptr;
    unsigned long jpeg_size = 0;
    tjCompress2(tj, pixels.data(), 5, 0, 6, channels == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg, &jpeg_size,
                channels == 1 ? TJSAMP_GRAY : TJSAMP_420, 90, 0);
    write_file(
        dir / fmt_name("jpeg", channels),
        std::string(1, char(channels)) + std::string(reinterpret_cast<char*>(jpeg), jpeg_size));
    tjFree(jpeg);
    tjDestroy(tj);
  }
}

void tensor_seeds(const fs::path& dir) {
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("inputs", torch::arange(12.0).reshape({4, 3}));
  dict.insert("targets", torch::tensor({0, 2, 1, 2}));
  const std::vector<char> bytes = torch::pickle_save(dict);
  write_file(dir / "four-samples", std::string(bytes.begin(), bytes.end()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: cohort_fuzz_seeds <corpus-dir>\n";
    return 2;
  }
  const fs::path root = argv[1];
  for (const char* target : {"idx", "config", "checkpoint", "csv", "image", "tensors"})
    fs::create_directories(root / target);
  idx_seeds(root / "idx");
  config_seeds(root / "config");
  checkpoint_seeds(root / "checkpoint");
  csv_seeds(root / "csv");
  image_seeds(root / "image");
  tensor_seeds(root / "tensors");
  return 0;
}
