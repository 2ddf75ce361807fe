// Default sanitizer options of every executable in a sanitizer build, so ctest,
// the fuzzers and a binary run by hand behave alike. UBSAN_OPTIONS (and the
// other *SAN_OPTIONS) in the environment still override them.
extern "C" {

// A UBSan report is one line naming a header (nlohmann's from_json.hpp, say)
// unless it carries the stack that says which of our calls got there.
const char* __ubsan_default_options() { return "print_stacktrace=1"; }

// Leaks in libtorch's code, not Cohort's. PyTorchStreamReader
// (caffe2/serialize/inline_container.cc) throws from its constructor when miniz
// rejects an archive's central directory, so its destructor, which would call
// mz_zip_reader_end, never runs: miniz's reader state, a few hundred bytes, leaks
// per corrupt torch.save file (found by fuzz/tensors_fuzzer). Cohort turns the
// exception into an InputError; the process then exits.
const char* __lsan_default_suppressions() {
  return "leak:mz_zip_reader_init\n"
         "leak:mz_zip_reader_read_central_dir\n";
}

}  // extern "C"
