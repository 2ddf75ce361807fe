# Where libtorch comes from. An explicit Torch_DIR or a CMAKE_PREFIX_PATH that
# holds TorchConfig.cmake wins (a libtorch archive, the GPU machine's own torch);
# otherwise the torch wheel of the repository's virtual environment
# (scripts/install-deps.sh makes it), located the way PyTorch documents it:
# torch.utils.cmake_prefix_path.
set(COHORT_PYTHON "${PROJECT_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
  "Python whose torch package provides libtorch when Torch_DIR is not given")

if(NOT Torch_DIR)
  find_path(cohort_explicit_torch TorchConfig.cmake PATH_SUFFIXES share/cmake/Torch
    NO_DEFAULT_PATH PATHS ${CMAKE_PREFIX_PATH})
  if(NOT cohort_explicit_torch)
    if(NOT EXISTS "${COHORT_PYTHON}")
      message(FATAL_ERROR "cohort: no libtorch: ${COHORT_PYTHON} does not exist. Run "
        "scripts/install-deps.sh (it makes .venv with a pinned torch), or pass "
        "-DTorch_DIR=<libtorch>/share/cmake/Torch or -DCOHORT_PYTHON=<python with torch>")
    endif()
    execute_process(COMMAND "${COHORT_PYTHON}" -c
        "import torch.utils; print(torch.utils.cmake_prefix_path, end='')"
      OUTPUT_VARIABLE cohort_torch_prefix ERROR_VARIABLE cohort_torch_error
      RESULT_VARIABLE cohort_torch_result)
    if(NOT cohort_torch_result EQUAL 0)
      message(FATAL_ERROR "cohort: ${COHORT_PYTHON} cannot import torch (${cohort_torch_error}); "
        "run scripts/install-deps.sh or pass -DTorch_DIR")
    endif()
    set(Torch_DIR "${cohort_torch_prefix}/Torch" CACHE PATH "libtorch's CMake package" FORCE)
  endif()
  unset(cohort_explicit_torch CACHE)
endif()

# A CUDA libtorch's CMake package asks nvcc which GPUs are installed unless told
# the architectures; build machines have none. Hopper (9.0) is what we run on;
# set TORCH_CUDA_ARCH_LIST for another. Cohort has no kernels of its own, so
# this only keeps the probe quiet.
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "9.0")
endif()

# fmt: the copy libtorch ships, header-only. libtorch's include directory comes
# before the system one on every compile line and carries its own fmt (12.x in
# torch 2.15), so Debian's libfmt.so (9.x) could never match the headers the
# compiler sees. The library defines FMT_HEADER_ONLY for itself and its users.
function(cohort_check_torch_fmt)
  find_file(cohort_torch_fmt fmt/format.h NO_DEFAULT_PATH PATHS ${TORCH_INCLUDE_DIRS})
  if(NOT cohort_torch_fmt)
    message(FATAL_ERROR "cohort: libtorch at ${Torch_DIR} ships no fmt headers "
      "(include/fmt/format.h); Cohort uses libtorch's fmt. Use a libtorch 2.x package.")
  endif()
endfunction()

# A CUDA torch wheel carries its own CUDA libraries (site-packages/nvidia/*/lib,
# found through libtorch_cuda.so's RPATH), often newer than the toolkit that
# CMake finds (/usr/local/cuda). The toolkit's directory also lands in the link's
# -rpath, and both the linker and the loader would then take the toolkit's older
# libnccl.so.2 or libcudart.so.13 for libtorch_cuda.so: undefined NCCL symbols
# at link time, missing ones at run time. The wheel's directories go first.
function(cohort_prefer_wheel_cuda_libraries target)
  get_filename_component(site_packages "${TORCH_INSTALL_PREFIX}/.." ABSOLUTE)
  file(GLOB wheel_cuda_dirs LIST_DIRECTORIES true "${site_packages}/nvidia/*/lib")
  if(wheel_cuda_dirs)
    list(JOIN wheel_cuda_dirs ":" joined)
    target_link_options(${target} INTERFACE "LINKER:-rpath-link,${joined}"
      "LINKER:-rpath,${joined}")
    message(STATUS "cohort: CUDA libraries of the torch wheel first: ${joined}")
  endif()
endfunction()
