// The run folder: who may write into it, and how files land there whole.
#pragma once
#include <string>

namespace cohort {
// Throws InputError unless run_dir exists and is writable, or could be created
// (its nearest existing ancestor is a writable folder). Creates nothing: a run
// whose inputs turn out bad leaves no folder behind.
void check_run_dir_writable(const std::string& run_dir);
// Creates the run folder and proves it writable.
void prepare_run_dir(const std::string& run_dir);
// Whether the folder already holds (part of) a run: any file a run writes.
bool holds_run(const std::string& run_dir);
// Refuses a folder that holds a run, naming how to resume or replace it.
void refuse_existing_run(const std::string& run_dir);
// Removes what a run wrote (and only that): `--overwrite`.
void clear_run(const std::string& run_dir);
// Removes checkpoint folders and files that writers left half-written (named
// "*.tmp-PID") by processes no longer alive.
void remove_stale_temporaries(const std::string& run_dir);
// Writes `text` to path through a temporary file and a rename; on failure the
// temporary is removed and the error names `path`.
void write_file_atomically(const std::string& path, const std::string& text);
// The whole file, or "" when it is missing or unreadable.
std::string read_file(const std::string& path);
}  // namespace cohort
