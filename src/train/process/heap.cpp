#include "cohort/heap.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace cohort {

void keep_freed_memory() {
#if defined(__GLIBC__)
  // A fixed mmap threshold also stops glibc from moving it (and the trim
  // threshold with it) as blocks are freed.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
#endif
}

}  // namespace cohort
