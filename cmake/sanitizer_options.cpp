// Default sanitizer options of every executable in a sanitizer build, so ctest,
// the fuzzers and a binary run by hand behave alike. UBSAN_OPTIONS (and the
// other *SAN_OPTIONS) in the environment still override them.
extern "C" {

// A UBSan report is one line naming a header (nlohmann's from_json.hpp, say)
// unless it carries the stack that says which of our calls got there.
const char* __ubsan_default_options() { return "print_stacktrace=1"; }

}  // extern "C"
