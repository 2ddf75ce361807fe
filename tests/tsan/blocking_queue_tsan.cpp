// ThreadSanitizer over the one structure Cohort's own threads share: the
// parameter server's queue from its receiving threads (one per worker) to its
// main thread. Built and run by scripts/sanitize.sh with -fsanitize=thread and
// nothing uninstrumented but the C++ runtime. Exits non-zero on a lost,
// duplicated or reordered item; TSan exits non-zero on a data race.
#include <cstdio>
#include <thread>
#include <vector>

#include "parallel/async/blocking_queue.h"

struct Message {
  int sender;
  int sequence;
  std::vector<float> payload;  // heap memory handed across threads, as tensors are
};

int main() {
  constexpr int kSenders = 4, kMessages = 20000;
  cohort::BlockingQueue<Message> queue;
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < kMessages; ++i) queue.push({s, i, std::vector<float>(8, float(i))});
    });
  }
  std::vector<int> next(kSenders, 0);
  for (int received = 0; received < kSenders * kMessages; ++received) {
    const Message m = queue.pop();
    // Per sender, messages arrive in the order sent, each once, intact.
    if (m.sequence != next[m.sender]++ || m.payload.size() != 8 ||
        m.payload[7] != float(m.sequence)) {
      std::fprintf(stderr, "message %d from sender %d out of order or damaged\n", m.sequence,
                   m.sender);
      return 1;
    }
  }
  for (auto& t : senders) t.join();
  std::printf("blocking queue: %d messages from %d threads, in order, no race reported\n",
              kSenders * kMessages, kSenders);
  return 0;
}
