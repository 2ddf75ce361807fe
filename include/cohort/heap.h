// The process's heap, set for training: glibc's malloc otherwise returns the top
// of its heap to the kernel whenever more than its trim threshold is free, which a
// training step does at every step's end (its activations freed at once), and then
// faults the same pages in again, zeroed, on the next step's first touch. A fused
// array of 8 cnns took about 4x the page faults without this
// (docs/benchmarks/fused.md). cohort::train calls it; a program that trains through
// the library's pieces calls it once at start-up.
#pragma once

namespace cohort {

// Keeps freed memory in the process for the next step: allocations up to 32 MiB
// (glibc's largest fixed mmap threshold) come from the heap, whose free top is
// kept up to 1 GiB. The process holds its peak footprint instead of handing it
// back between steps. No-op where the C library is not glibc.
void keep_freed_memory();

}  // namespace cohort
