// Where this process stands in the job: its rank, the world group (null for a
// single process) and whether it is the one that writes files and prints.
#pragma once

#include "cohort/comm.h"
#include "cohort/config.h"
#include "cohort/rendezvous.h"

namespace cohort {

struct ProcessContext {
  WorldInfo world;
  CommunicatorPtr comm;  // the world group; null when the job is one process
  bool leader() const { return world.rank == 0; }
  bool distributed() const { return comm != nullptr; }
};

// Reads the launcher's variables, checks that the config's layout fits the world
// (InputError before any work starts, saying how to launch it), and joins the
// other ranks.
ProcessContext join_job(const Config& config);

}  // namespace cohort
