#include "parallel/zero/gathered_units.h"

#include <c10/core/StorageImpl.h>

#include <algorithm>

namespace cohort::zero {

GatheredUnits::GatheredUnits(std::vector<at::Tensor> flats, std::vector<at::Tensor> chunks,
                             CommunicatorPtr comm)
    : comm_(std::move(comm)) {
  units_.resize(flats.size());
  for (size_t u = 0; u < flats.size(); ++u) {
    units_[u].flat = std::move(flats[u]);
    units_[u].chunk = std::move(chunks[u]);
    free(units_[u]);  // the chunks hold what each rank keeps
  }
  held_bytes_ = 0;
}

void GatheredUnits::allocate(Unit& unit) {
  c10::StorageImpl* storage = unit.flat.storage().unsafeGetStorageImpl();
  const size_t bytes = unit.flat.nbytes();
  storage->set_data_ptr_noswap(storage->allocator()->allocate(bytes));
  storage->set_nbytes(bytes);
  held_bytes_ += static_cast<int64_t>(bytes);
  peak_bytes_ = std::max(peak_bytes_, held_bytes_);
}

void GatheredUnits::free(Unit& unit) {
  c10::StorageImpl* storage = unit.flat.storage().unsafeGetStorageImpl();
  held_bytes_ -= static_cast<int64_t>(storage->nbytes());
  storage->set_data_ptr_noswap(at::DataPtr(nullptr, unit.flat.device()));
  storage->set_nbytes(0);
}

void GatheredUnits::prefetch(size_t u) {
  Unit& unit = units_.at(u);
  if (unit.state != State::Freed) return;
  allocate(unit);
  unit.outputs = unit.flat.chunk(comm_->size());
  unit.pending = comm_->allgather_async(unit.outputs, unit.chunk);
  unit.state = State::Gathering;
}

void GatheredUnits::gather(size_t u) {
  prefetch(u);
  Unit& unit = units_[u];
  if (unit.state != State::Gathering) return;
  unit.pending.wait();
  unit.pending = CommHandle();
  unit.outputs.clear();
  unit.state = State::Whole;
}

void GatheredUnits::release(size_t u) {
  Unit& unit = units_.at(u);
  if (unit.state == State::Freed) return;
  if (unit.state == State::Gathering) gather(u);  // the backend still writes into it
  free(unit);
  unit.state = State::Freed;
}

void GatheredUnits::release_all() {
  for (size_t u = 0; u < units_.size(); ++u) release(u);
}

}  // namespace cohort::zero
