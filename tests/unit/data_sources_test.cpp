// The built-in data sources besides IDX: tensor files, images and image folders,
// CSV tables. Each reader is checked on good input (values, shapes, classes) and
// at its boundary (every refusal names the file and what is wrong). Python-written
// files and the CLI are covered end to end by tests/scripts/data_sources.sh.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <png.h>
#include <torch/serialize.h>
#include <turbojpeg.h>

#include <cstring>
#include <filesystem>

#include "cohort/data.h"
#include "cohort/error.h"
#include "test_files.h"
#include "test_paths.h"

namespace cohort {
namespace {

using testing::TempDir;
using testing::write_bytes;

// Runs `load`, expecting an InputError whose message holds every fragment.
template <typename F>
void expect_refused(F&& load, const std::vector<std::string>& fragments) {
  try {
    load();
    FAIL() << "expected an InputError with '" << fragments[0] << "'";
  } catch (const InputError& e) {
    for (const auto& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what() << ", wanted: " << f;
  }
}

// --- CSV ---

TEST(Csv, ReadsFeaturesAndTargetByName) {
  const CsvTable t = parse_csv("a,label,b\n1.5,2,-3\n0,0,1e2\n", "t.csv", "label");
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(at::equal(t.targets, at::tensor({2, 0}, at::kLong)));
  EXPECT_TRUE(at::allclose(t.features, at::tensor({1.5f, -3.f, 0.f, 100.f}).view({2, 2})));
}

TEST(Csv, TargetDefaultsToTheLastColumnAndQuotesAreCsv) {
  const CsvTable t = parse_csv("\"x, y\",c\r\n\"4\",1\r\n5,0\r\n", "t.csv", "");
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"x, y"}));
  EXPECT_TRUE(at::equal(t.targets, at::tensor({1, 0}, at::kLong)));
}

TEST(Csv, RefusesWhatIsNotANumberTable) {
  const auto csv = [](std::string text, std::string target = "") {
    return [=] { parse_csv(text, "t.csv", target); };
  };
  expect_refused(csv("a,b\n1,0\nx,1\n"),
                 {"t.csv", "row 3", "column 'a'", "'x' is not a finite number"});
  expect_refused(csv("a,b\n1,0\n1e400,1\n"), {"row 3", "not a finite number"});
  expect_refused(csv("a,b\n1,0\nnan,1\n"), {"'nan' is not a finite number"});
  expect_refused(csv("a,b\n1,0\n,1\n"), {"row 3", "'' is not a finite number"});
  expect_refused(csv("a,b\n1,0\n2\n"), {"t.csv", "row 3 has 1 cells, the header 2"});
  expect_refused(csv("a,b\n1,0,3\n"), {"row 2 has 3 cells"});
  expect_refused(csv("a,b\n1,0.5\n"), {"row 2", "column 'b'", "0.5 is not a class index"});
  expect_refused(csv("a,b\n1,-1\n"), {"-1 is not a class index"});
  expect_refused(csv("a,b\n1,0\n", "c"), {"has no column 'c' (data.target): its columns are a, b"});
  expect_refused(csv(""), {"t.csv", "is empty"});
  expect_refused(csv("a,b\n"), {"has a header but no rows"});
  expect_refused(csv("a\n1\n"), {"has one column"});
  expect_refused(csv("a,b\n\"1,0\n"), {"t.csv", "not valid CSV"});
}

TEST(Csv, SplitsAreStandardisedByTheTrainingSplit) {
  TempDir dir;
  std::ofstream(dir.file("train.csv")) << "f,g,y\n1,10,0\n3,10,1\n";
  std::ofstream(dir.file("test.csv")) << "f,g,y\n5,12,1\n";
  DataSource source;
  source.format = "csv";
  source.train = dir.file("train.csv");
  source.test = dir.file("test.csv");
  const Splits s = load_splits(source);
  EXPECT_EQ(s.train->spec().input_shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(s.train->spec().outputs, 2);
  // f: mean 2, deviation 1; g never changes in training, so it is only centred.
  const Batch test = s.test->slice(0, 1);
  EXPECT_NEAR(test.inputs[0][0].item<double>(), 3.0, 1e-5);
  EXPECT_GT(test.inputs[0][1].item<double>(), 1e5);
  std::ofstream(dir.file("other.csv")) << "f,h,y\n5,12,1\n";
  source.test = dir.file("other.csv");
  expect_refused([&] { load_splits(source); },
                 {"other.csv", "(f, h) are not the training split's (f, g)"});
}

// --- Images ---

std::string png_bytes(const at::Tensor& hwc) {  // uint8 H x W x C, C = 1 or 3
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = uint32_t(hwc.size(1));
  image.height = uint32_t(hwc.size(0));
  image.format = hwc.size(2) == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&image, nullptr, &size, 0, hwc.data_ptr(), 0, nullptr));
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&image, out.data(), &size, 0, hwc.data_ptr(), 0, nullptr));
  return out;
}

std::string jpeg_bytes(const at::Tensor& hwc) {
  tjhandle tj = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const bool gray = hwc.size(2) == 1;
  EXPECT_EQ(tjCompress2(tj, hwc.data_ptr<uint8_t>(), int(hwc.size(1)), 0, int(hwc.size(0)),
                        gray ? TJPF_GRAY : TJPF_RGB, &buffer, &size,
                        gray ? TJSAMP_GRAY : TJSAMP_444, 95, 0),
            0);
  std::string out(reinterpret_cast<char*>(buffer), size);
  tjFree(buffer);
  tjDestroy(tj);
  return out;
}

at::Tensor gradient_image(int64_t h, int64_t w, int64_t c) {
  return (at::arange(h * w * c, at::kInt).remainder(251))
      .to(at::kByte)
      .view({h, w, c})
      .contiguous();
}

TEST(Image, PngDecodesExactlyAndConvertsColour) {
  const at::Tensor rgb = gradient_image(5, 7, 3);
  const std::string bytes = png_bytes(rgb);
  const at::Tensor decoded = decode_image(bytes, "a.png");
  EXPECT_EQ(decoded.sizes().vec(), (std::vector<int64_t>{3, 5, 7}));
  EXPECT_TRUE(at::equal(decoded, rgb.permute({2, 0, 1})));
  EXPECT_EQ(decode_image(bytes, "a.png", 1).sizes().vec(), (std::vector<int64_t>{1, 5, 7}));
  const at::Tensor gray = gradient_image(4, 4, 1);
  const at::Tensor as_rgb = decode_image(png_bytes(gray), "g.png", 3);
  EXPECT_TRUE(at::equal(as_rgb[0], as_rgb[2]));
  EXPECT_TRUE(at::equal(as_rgb[1], gray.squeeze(2)));
}

TEST(Image, JpegDecodesCloseToTheOriginal) {
  const at::Tensor gray = at::full({16, 16, 1}, 120, at::kByte);
  const at::Tensor decoded = decode_image(jpeg_bytes(gray), "a.jpg");
  EXPECT_EQ(decoded.sizes().vec(), (std::vector<int64_t>{1, 16, 16}));
  // Lossy: a flat image at quality 95 comes back within a grey level or two.
  EXPECT_LE((decoded.to(at::kInt) - 120).abs().max().item<int>(), 2);
}

TEST(Image, RefusesCorruptTruncatedAndUnknownBytes) {
  const std::string png = png_bytes(gradient_image(8, 8, 3));
  const std::string jpeg = jpeg_bytes(gradient_image(8, 8, 3));
  expect_refused([&] { decode_image(png.substr(0, 40), "cut.png"); }, {"cut.png", "PNG"});
  expect_refused([&] { decode_image(png.substr(0, png.size() - 20), "end.png"); },
                 {"end.png", "corrupt or truncated PNG"});
  expect_refused([&] { decode_image(jpeg.substr(0, jpeg.size() / 2), "cut.jpg"); },
                 {"cut.jpg", "corrupt or truncated JPEG"});
  // Cut inside the scan: libjpeg would pad with grey and warn; refused instead.
  expect_refused([&] { decode_image(jpeg.substr(0, jpeg.size() - 8), "end.jpg"); },
                 {"end.jpg", "corrupt or truncated JPEG"});
  expect_refused([&] { decode_image("GIF89a....", "a.gif"); }, {"a.gif", "not a PNG or JPEG"});
  expect_refused([&] { decode_image(png, "a.png", 2); }, {"1 or 3 channels, not 2"});
  std::string huge = png;  // IHDR's width, bytes 16-19: 2^30 pixels wide
  huge[16] = 0x40;
  expect_refused([&] { decode_image(huge, "huge.png"); }, {"huge.png"});
}

TEST(ImageFolder, ClassesAreSortedFoldersAndTheTestSplitTakesTheTrainingTerms) {
  TempDir dir;
  namespace fs = std::filesystem;
  for (const char* cls : {"b_dog", "a_cat"}) {
    for (const char* split : {"train", "test"}) fs::create_directories(dir.file(split) + "/" + cls);
  }
  const auto write = [&](const std::string& path, const std::string& bytes) {
    write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
  };
  write(dir.file("train/a_cat/1.png"), png_bytes(at::full({4, 4, 1}, 0, at::kByte)));
  write(dir.file("train/b_dog/1.PNG"), png_bytes(at::full({8, 8, 1}, 255, at::kByte)));
  write(dir.file("train/b_dog/notes.txt"), "skipped, as torchvision skips it");
  write(dir.file("test/b_dog/1.jpg"), jpeg_bytes(at::full({6, 6, 1}, 255, at::kByte)));

  const ImageFolder train = load_image_folder(dir.file("train"), {}, {}, {}, {});
  EXPECT_EQ(train.classes, (std::vector<std::string>{"a_cat", "b_dog"}));
  EXPECT_EQ(train.data->inputs().sizes().vec(),
            (std::vector<int64_t>{2, 1, 4, 4}));  // the first's size
  EXPECT_TRUE(at::equal(train.data->targets(), at::tensor({0, 1}, at::kLong)));
  EXPECT_NEAR(train.mean[0], 0.5, 1e-9);  // half black, half white
  EXPECT_NEAR(train.stddev[0], 0.5, 1e-9);
  EXPECT_NEAR(train.data->inputs()[1].mean().item<double>(), 1.0, 1e-5);

  const ImageFolder test =
      load_image_folder(dir.file("test"), train.classes, {4, 4}, train.mean, train.stddev, 1);
  EXPECT_TRUE(at::equal(test.data->targets(), at::tensor({1}, at::kLong)));
  EXPECT_EQ(test.data->inputs().sizes().vec(), (std::vector<int64_t>{1, 1, 4, 4}));
  EXPECT_NEAR(test.data->inputs().mean().item<double>(), 1.0, 0.05);

  fs::create_directories(dir.file("test/c_bird"));
  expect_refused(
      [&] {
        load_image_folder(dir.file("test"), train.classes, {4, 4}, {}, {});
      },
      {"c_bird", "class 'c_bird' is not among the training split's 2 classes"});
  expect_refused([&] { load_image_folder(dir.file("none"), {}, {}, {}, {}); },
                 {"none", "does not exist"});
  expect_refused(
      [&] {
        load_image_folder(dir.file("train"), {}, {}, {0.5, 0.5}, {1, 1});
      },
      {"1 channels but data.mean and data.std give 2"});
}

// --- Tensor files ---

std::vector<char> saved(std::initializer_list<std::pair<std::string, at::Tensor>> entries) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [k, v] : entries) dict.insert(k, v);
  return torch::pickle_save(dict);
}

TEST(TensorFile, ReadsInputsAndTargets) {
  const auto data = parse_tensor_dataset(saved({{"inputs", at::rand({6, 3}, at::kDouble)},
                                                {"targets", at::tensor({0, 2, 1, 2, 0, 1})}}),
                                         "d.pt");
  EXPECT_EQ(data->size(), 6);
  EXPECT_EQ(data->inputs().scalar_type(), at::kFloat);
  EXPECT_EQ(data->spec().input_shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(data->spec().outputs, 3);
  const Batch b = data->get(at::tensor({4, 1}, at::kLong));
  EXPECT_TRUE(at::equal(b.targets, at::tensor({0, 2}, at::kLong)));
}

TEST(TensorFile, RefusesOtherKeysShapesAndTypes) {
  const at::Tensor x = at::rand({4, 2}), y = at::tensor({0, 1, 1, 0});
  const auto parse = [](std::vector<char> bytes, int64_t classes = 0) {
    return [=] { parse_tensor_dataset(bytes, "d.pt", classes); };
  };
  expect_refused(parse(saved({{"x", x}, {"y", y}})),
                 {"d.pt", "has no 'inputs' (it holds 'x', 'y')"});
  expect_refused(parse(saved({{"inputs", x}, {"targets", y}, {"w", y}})), {"holds 'w' besides"});
  expect_refused(parse(saved({{"inputs", x.to(at::kInt)}, {"targets", y}})),
                 {"'inputs' must be", "Int"});
  expect_refused(parse(saved({{"inputs", at::rand({4})}, {"targets", y}})), {"'inputs' must be"});
  expect_refused(parse(saved({{"inputs", x}, {"targets", y.to(at::kFloat)}})),
                 {"'targets' must be", "Float"});
  expect_refused(parse(saved({{"inputs", x}, {"targets", y.view({2, 2})}})), {"'targets' must be"});
  expect_refused(parse(saved({{"inputs", x}, {"targets", y.to(at::kBool)}})),
                 {"'targets' must be", "Bool"});
  expect_refused(parse(saved({{"inputs", x.to(at::kComplexFloat)}, {"targets", y}})),
                 {"'inputs' must be"});
  expect_refused(parse(saved({{"inputs", x.narrow(0, 0, 3)}, {"targets", y}})),
                 {"'inputs' has 3 samples but 'targets' 4"});
  expect_refused(parse(saved({{"inputs", x / 0}, {"targets", y}})), {"NaN or infinite"});
  expect_refused(parse(saved({{"inputs", x}, {"targets", y - 1}})), {"target -1 is negative"});
  expect_refused(parse(saved({{"inputs", x}, {"targets", y * 5}}), 2),
                 {"target 5 is outside the 2 classes of the training split"});
  expect_refused(parse({'n', 'o', 'p', 'e'}), {"d.pt"});
  // Found by tensors_fuzzer: a dtype torch has but cannot convert (int5 targets).
  std::ifstream found(COHORT_SOURCE_DIR "/fuzz/corpus/tensors/int5_targets", std::ios::binary);
  expect_refused(parse(std::vector<char>(std::istreambuf_iterator<char>(found), {})),
                 {"'targets' must be", "Int5"});
  expect_refused([] { read_tensor_dataset("/nonexistent/d.pt"); },
                 {"/nonexistent/d.pt", "cannot be read"});
}

}  // namespace
}  // namespace cohort
