// Precompiled once and reused by every target (see CMakeLists.txt): libtorch's
// headers dominate compile time.
#pragma once
#include <torch/torch.h>
