// CSV tables through libcsv (RFC 4180: quoted fields, embedded commas and
// newlines), strict about quotes; every cell must be a finite number.
#include <ATen/ATen.h>
#include <csv.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "cohort/data.h"
#include "cohort/error.h"
#include "io/input_file.h"

namespace cohort {
namespace {

// Rows as libcsv hands them over, cell by cell; the first row is the header.
struct Rows {
  explicit Rows(const std::string& origin) : origin(origin) {}
  const std::string& origin;
  std::vector<std::string> header;
  std::vector<float> cells;  // every data row's cells, row after row
  std::vector<std::string> row;
  int64_t line = 1;  // data rows start on line 2 (the header is line 1)
  size_t rows = 0;
  std::string error;  // the first problem; libcsv's callbacks cannot throw through C

  void cell(std::string_view text) {
    if (!error.empty()) return;
    if (header.empty() && rows == 0) {
      row.emplace_back(text);
      return;
    }
    double value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    const size_t column = row.size();
    const std::string name =
        column < header.size() ? header[column] : fmt::format("#{}", column + 1);
    if (ec != std::errc() || ptr != end || !std::isfinite(value) || std::abs(value) > 3.4e38) {
      error = fmt::format("{}: row {}, column '{}': '{}' is not a finite number", origin, line + 1,
                          name, text.substr(0, 40));
      return;
    }
    row.emplace_back();  // only the count matters for data rows
    cells.push_back(float(value));
  }

  void end_row() {
    if (!error.empty()) return;
    if (header.empty() && rows == 0) {
      header = std::move(row);
    } else if (row.size() != header.size()) {
      error = fmt::format(
          "{}: row {} has {} cells, the header {}: every row needs one value per "
          "column",
          origin, line + 1, row.size(), header.size());
      return;
    } else {
      ++rows;
      ++line;
    }
    row.clear();
  }
};

extern "C" void on_cell(void* text, size_t size, void* rows) {
  static_cast<Rows*>(rows)->cell(
      std::string_view(static_cast<const char*>(text ? text : ""), size));
}
extern "C" void on_row(int, void* rows) { static_cast<Rows*>(rows)->end_row(); }

Rows parse_rows(std::string_view text, const std::string& origin) {
  Rows rows(origin);
  csv_parser parser;
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) throw std::bad_alloc();
  const size_t parsed = csv_parse(&parser, text.data(), text.size(), on_cell, on_row, &rows);
  const bool ok = parsed == text.size() && csv_fini(&parser, on_cell, on_row, &rows) == 0;
  const std::string syntax = ok ? "" : csv_strerror(csv_error(&parser));
  csv_free(&parser);
  if (!rows.error.empty()) throw InputError(rows.error);
  if (!ok) {
    throw InputError(fmt::format("{}: not valid CSV after row {}: {}", origin, rows.line, syntax));
  }
  if (rows.header.empty())
    throw InputError(fmt::format("{}: is empty: it needs a header row", origin));
  if (rows.rows == 0) throw InputError(fmt::format("{}: has a header but no rows", origin));
  if (rows.header.size() < 2) {
    throw InputError(fmt::format("{}: has one column: it needs features and a target", origin));
  }
  return rows;
}

at::Tensor class_indices(const at::Tensor& values, const std::string& origin,
                         const std::string& column) {
  const at::Tensor v = values.to(at::kDouble);
  const at::Tensor bad = v.ne(v.floor()) | v.lt(0) | v.ge(double(int64_t{1} << 20));
  if (bad.any().item<bool>()) {
    const int64_t row = bad.nonzero()[0][0].item<int64_t>();
    throw InputError(fmt::format(
        "{}: row {}, column '{}': {} is not a class index (an integer from 0; for real values "
        "set data.task = 'regression')",
        origin, row + 2, column, v[row].item<double>()));
  }
  return v.to(at::kLong);
}

}  // namespace

CsvTable parse_csv(std::string_view text, const std::string& origin, const std::string& target,
                   Task task) {
  Rows rows = parse_rows(text, origin);
  const int64_t columns = int64_t(rows.header.size()), n = int64_t(rows.rows);
  int64_t target_column = columns - 1;
  if (!target.empty()) {
    const auto it = std::find(rows.header.begin(), rows.header.end(), target);
    if (it == rows.header.end()) {
      throw InputError(fmt::format("{}: has no column '{}' (data.target): its columns are {}",
                                   origin, target, fmt::join(rows.header, ", ")));
    }
    target_column = it - rows.header.begin();
  }
  const at::Tensor table = at::from_blob(rows.cells.data(), {n, columns}, at::kFloat);
  CsvTable out;
  at::Tensor keep = at::ones({columns}, at::kBool);
  keep[target_column] = false;
  out.features = table.index({at::indexing::Slice(), keep}).contiguous();
  const at::Tensor target_values = table.select(1, target_column);
  // Every cell is already a finite float32 (Rows::cell), so regression keeps them as written.
  out.targets = task == Task::Regression
                    ? target_values.unsqueeze(1).clone()
                    : class_indices(target_values, origin, rows.header[target_column]);
  for (int64_t c = 0; c < columns; ++c)
    if (c != target_column) out.feature_names.push_back(rows.header[c]);
  return out;
}

CsvTable read_csv(const std::string& path, const std::string& target, Task task) {
  const std::vector<char> text = read_input_file(path);
  return parse_csv(std::string_view(text.data(), text.size()), path, target, task);
}

}  // namespace cohort
