// Launcher variables -> WorldInfo, for every launcher, without starting processes.
#include <gtest/gtest.h>

#include "cohort/error.h"
#include "cohort/rendezvous.h"

using namespace cohort;

TEST(WorldInfo, NoLauncherMeansOneProcessOnLoopback) {
  auto w = parse_world_info({});
  EXPECT_EQ(w.rank, 0);
  EXPECT_EQ(w.world_size, 1);
  EXPECT_EQ(w.master_addr, "127.0.0.1");
  EXPECT_EQ(w.source, "none");
  EXPECT_EQ(w.job_id, "port29500");
}

TEST(WorldInfo, Torchrun) {
  auto w = parse_world_info({{"RANK", "3"},
                             {"WORLD_SIZE", "8"},
                             {"LOCAL_RANK", "1"},
                             {"LOCAL_WORLD_SIZE", "2"},
                             {"MASTER_ADDR", "10.0.0.5"},
                             {"MASTER_PORT", "1234"},
                             {"COHORT_JOB_ID", "exp7"}});
  EXPECT_EQ(w.source, "torchrun");
  EXPECT_EQ(w.rank, 3);
  EXPECT_EQ(w.world_size, 8);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.local_world_size, 2);
  EXPECT_EQ(w.master_addr, "10.0.0.5");
  EXPECT_EQ(w.master_port, 1234);
  EXPECT_EQ(w.job_id, "exp7");
}

TEST(WorldInfo, JobIdDefaultsToThePortSoTwoJobsOnOneHostDiffer) {
  auto a = parse_world_info({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "4000"}});
  auto b = parse_world_info({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "4001"}});
  EXPECT_NE(a.job_id, b.job_id);
}

TEST(WorldInfo, OpenMpiWhenTorchrunIsAbsent) {
  auto w = parse_world_info({{"OMPI_COMM_WORLD_RANK", "5"},
                             {"OMPI_COMM_WORLD_SIZE", "6"},
                             {"OMPI_COMM_WORLD_LOCAL_RANK", "2"},
                             {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"},
                             {"PMI_RANK", "0"}});
  EXPECT_EQ(w.source, "openmpi");
  EXPECT_EQ(w.rank, 5);
  EXPECT_EQ(w.world_size, 6);
  EXPECT_EQ(w.local_rank, 2);
  EXPECT_EQ(w.local_world_size, 3);
}

TEST(WorldInfo, TorchrunWinsOverMpiAndSlurm) {
  auto w = parse_world_info({{"RANK", "1"},
                             {"WORLD_SIZE", "2"},
                             {"OMPI_COMM_WORLD_RANK", "0"},
                             {"OMPI_COMM_WORLD_SIZE", "4"},
                             {"SLURM_PROCID", "3"},
                             {"SLURM_NTASKS", "4"}});
  EXPECT_EQ(w.source, "torchrun");
  EXPECT_EQ(w.rank, 1);
  EXPECT_EQ(w.world_size, 2);
}

TEST(WorldInfo, MpichPmi) {
  auto w = parse_world_info(
      {{"PMI_RANK", "2"}, {"PMI_SIZE", "4"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}});
  EXPECT_EQ(w.source, "mpich");
  EXPECT_EQ(w.rank, 2);
  EXPECT_EQ(w.world_size, 4);
  EXPECT_EQ(w.local_rank, 0);  // no local variables: each rank is taken as its own host
  EXPECT_EQ(w.local_world_size, 1);
}

TEST(WorldInfo, SlurmTakesTheMasterFromConfigUnlessMasterAddrIsSet) {
  Environment env{{"SLURM_PROCID", "3"},
                  {"SLURM_NTASKS", "4"},
                  {"SLURM_LOCALID", "1"},
                  {"SLURM_NTASKS_PER_NODE", "2"}};
  auto w = parse_world_info(env, "node17");
  EXPECT_EQ(w.source, "slurm");
  EXPECT_EQ(w.rank, 3);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.local_world_size, 2);
  EXPECT_EQ(w.master_addr, "node17");
  env["MASTER_ADDR"] = "node02";
  EXPECT_EQ(parse_world_info(env, "node17").master_addr, "node02");
}

TEST(WorldInfo, RankOutsideTheWorldIsInputError) {
  try {
    parse_world_info({{"RANK", "4"}, {"WORLD_SIZE", "4"}});
    FAIL() << "rank == world size was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 4 is outside the world of 4"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parse_world_info({{"RANK", "-1"}, {"WORLD_SIZE", "4"}}), InputError);
  EXPECT_THROW(parse_world_info({{"RANK", "0"}, {"WORLD_SIZE", "0"}}), InputError);
  EXPECT_THROW(
      parse_world_info(
          {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"}}),
      InputError);
  EXPECT_THROW(parse_world_info({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "3"}}),
               InputError);
}

TEST(WorldInfo, NonNumericValuesAreInputErrorsNamingTheVariable) {
  try {
    parse_world_info({{"RANK", "0"}, {"WORLD_SIZE", "two"}});
    FAIL() << "non-numeric WORLD_SIZE was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("WORLD_SIZE='two'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_world_info({{"RANK", "1x"}, {"WORLD_SIZE", "2"}}), InputError);
  EXPECT_THROW(parse_world_info({{"RANK", ""}, {"WORLD_SIZE", "2"}}), InputError);
  EXPECT_THROW(parse_world_info({{"MASTER_PORT", "http"}}), InputError);
  EXPECT_THROW(parse_world_info({{"MASTER_PORT", "70000"}}), InputError);
  EXPECT_THROW(parse_world_info({{"RANK", "99999999999"}, {"WORLD_SIZE", "2"}}), InputError);
}

TEST(WorldInfo, RankWithoutWorldSizeIsInputError) {
  try {
    parse_world_info({{"OMPI_COMM_WORLD_RANK", "0"}});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("OMPI_COMM_WORLD_SIZE is missing"), std::string::npos)
        << e.what();
  }
}

// What srun sets without --ntasks-per-node (seen from srun -n 2 on Slurm 22.05):
// the local size comes from the step's tasks per node.
TEST(WorldInfo, SlurmLocalSizeFromTheStepsTasksPerNode) {
  Environment env{{"SLURM_PROCID", "1"},
                  {"SLURM_NTASKS", "2"},
                  {"SLURM_LOCALID", "1"},
                  {"SLURM_NODEID", "0"},
                  {"SLURM_STEP_TASKS_PER_NODE", "2"},
                  {"SLURM_TASKS_PER_NODE", "2"}};
  auto w = parse_world_info(env);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.local_world_size, 2);
  // Seven tasks on four nodes: two on each of the first three, one on the last.
  env = {{"SLURM_PROCID", "6"},
         {"SLURM_NTASKS", "7"},
         {"SLURM_LOCALID", "0"},
         {"SLURM_NODEID", "3"},
         {"SLURM_STEP_TASKS_PER_NODE", "2(x3),1"}};
  EXPECT_EQ(parse_world_info(env).local_world_size, 1);
  env["SLURM_NODEID"] = "2";
  env["SLURM_PROCID"] = "5";
  env["SLURM_LOCALID"] = "1";
  EXPECT_EQ(parse_world_info(env).local_world_size, 2);
  // SLURM_NTASKS_PER_NODE, when srun was given it, still wins.
  env["SLURM_NTASKS_PER_NODE"] = "3";
  EXPECT_EQ(parse_world_info(env).local_world_size, 3);
}

TEST(WorldInfo, SlurmTasksPerNodeThatDoesNotParseIsInputErrorNamingIt) {
  for (const char* bad : {"2(x", "2(x2", "two", "2(y3)", "0", "2(x1)"}) {
    Environment env{{"SLURM_PROCID", "0"},
                    {"SLURM_NTASKS", "2"},
                    {"SLURM_LOCALID", "0"},
                    {"SLURM_NODEID", "1"},
                    {"SLURM_STEP_TASKS_PER_NODE", bad}};
    try {
      parse_world_info(env);
      FAIL() << bad << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("SLURM_STEP_TASKS_PER_NODE='"), std::string::npos)
          << e.what();
    }
  }
}

TEST(WorldInfo, TorchrunsAgentServesTheStoreAndEachRestartGetsItsOwnKeys) {
  Environment env{{"RANK", "0"},
                  {"WORLD_SIZE", "2"},
                  {"MASTER_PORT", "4000"},
                  {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                  {"TORCHELASTIC_RESTART_COUNT", "0"}};
  auto first = parse_world_info(env);
  EXPECT_TRUE(first.agent_store);
  env["TORCHELASTIC_RESTART_COUNT"] = "1";
  auto second = parse_world_info(env);
  EXPECT_NE(first.job_id, second.job_id);
  EXPECT_EQ(second.job_id, "port4000/attempt1");
  env["TORCHELASTIC_USE_AGENT_STORE"] = "False";
  EXPECT_FALSE(parse_world_info(env).agent_store);
  // Rank 0 serves a fresh store each round; the agents' counts may differ.
  EXPECT_EQ(parse_world_info(env).job_id, "port4000");
  // `cohort launch` sets RANK too, but no agent: rank 0 serves.
  EXPECT_FALSE(parse_world_info({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).agent_store);
}

TEST(WorldInfo, RendezvousFileFromTheEnvironment) {
  auto w = parse_world_info({{"OMPI_COMM_WORLD_RANK", "0"},
                             {"OMPI_COMM_WORLD_SIZE", "2"},
                             {"COHORT_RENDEZVOUS_FILE", "/shared/job7.store"}});
  EXPECT_EQ(w.rendezvous_file, "/shared/job7.store");
  EXPECT_TRUE(parse_world_info({}).rendezvous_file.empty());
}
