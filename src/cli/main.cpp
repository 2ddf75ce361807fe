#include <cstdio>

#include "cohort/version.h"

int main() {
  std::printf("cohort %s\n", cohort::version());
  return 0;
}
