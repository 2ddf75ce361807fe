// A first-in first-out queue between threads: any number push, one or more
// pop and wait for an item. What a parameter server's receiving threads hand
// its main thread. Header-only and free of libtorch, so ThreadSanitizer checks
// it on its own (tests/tsan/), where libtorch's uninstrumented atomics cannot
// bury its reports.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>

namespace cohort {

template <typename T>
class BlockingQueue {
 public:
  void push(T item) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      items_.push_back(std::move(item));
    }
    ready_.notify_one();
  }

  // Waits until there is an item, then takes the oldest.
  T pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return !items_.empty(); });
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<T> items_;
};

}  // namespace cohort
