// ZeRO stage 3's parameters: each unit's flat buffer holds memory only while
// the unit is gathered. The buffer tensor and the parameters' views into it
// keep their identity, since autograd saved them in forward and reads them
// again in backward; only the storage's bytes come and go, as FSDP resizes
// its flat parameter's storage to zero between uses.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "cohort/comm.h"

namespace cohort::zero {

class GatheredUnits {
 public:
  // flats[u]: unit u's whole buffer (its bytes are freed here); chunks[u]:
  // this rank's chunk of it, kept between uses and updated by the optimiser.
  GatheredUnits(std::vector<at::Tensor> flats, std::vector<at::Tensor> chunks,
                CommunicatorPtr comm);

  // Returns once unit u is whole: waits for its prefetch, or gathers it now.
  void gather(size_t u);
  // Starts unit u's all-gather unless it is whole or already on its way.
  void prefetch(size_t u);
  // Frees unit u's bytes (after any all-gather into them has finished).
  void release(size_t u);
  void release_all();

  bool whole(size_t u) const { return units_[u].state == State::Whole; }
  size_t size() const { return units_.size(); }
  // Bytes of whole buffers held now, and the most held at once so far.
  int64_t held_bytes() const { return held_bytes_; }
  int64_t peak_bytes() const { return peak_bytes_; }

 private:
  enum class State { Freed, Gathering, Whole };
  struct Unit {
    at::Tensor flat;
    at::Tensor chunk;
    std::vector<at::Tensor> outputs;  // views of flat, one per rank, while gathering
    CommHandle pending;
    State state = State::Freed;
  };
  void allocate(Unit& unit);
  void free(Unit& unit);

  std::vector<Unit> units_;
  CommunicatorPtr comm_;
  int64_t held_bytes_ = 0;
  int64_t peak_bytes_ = 0;
};

}  // namespace cohort::zero
