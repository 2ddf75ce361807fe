// The benches' --heap option: whether freed memory stays in the process between
// steps, as `cohort train` sets it (cohort/heap.h), or glibc trims it as usual.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cohort/heap.h"

inline void add_heap_option(CLI::App& app, std::string& heap) {
  app.add_option("--heap", heap,
                 "kept: freed memory stays in the process for the next step, as cohort train "
                 "sets it (cohort/heap.h); default: glibc's own trimming")
      ->check(CLI::IsMember({"kept", "default"}));
}

// Call before the first allocation the bench times.
inline void apply_heap_option(const std::string& heap) {
  if (heap == "kept") cohort::keep_freed_memory();
}
