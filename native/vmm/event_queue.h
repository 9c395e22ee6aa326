// Where the vCPU threads' events wait for the JS thread. The JS thread takes
// them in one of two ways: from a thread-safe function call, which the queue
// asks for whenever it goes from empty to non-empty, or synchronously while
// it waits for a vCPU to park (a Ctrl-C, a single step, a continue to a
// breakpoint), which saves the thread-safe call's hop through the event loop
// on exactly the paths a debugger waits on.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/event_sink.h"

namespace vmm {

struct QueuedEvent {
  enum class Type { kStop, kStarted, kConsole, kLog } type = Type::kLog;
  StopEvent stop;    // kStop; kStarted uses stop.vcpu
  std::string text;  // kConsole bytes, kLog line
};

class EventQueue : public EventSink {
 public:
  // Called (on a vCPU thread) when the queue goes from empty to non-empty.
  explicit EventQueue(std::function<void()> wake) : wake_(std::move(wake)) {}

  void onStop(const StopEvent& event) override;
  void onStarted(int vcpu) override;
  // Bytes written while earlier ones still wait join them: a guest printing
  // a line costs one wake, not one per byte.
  void onConsole(const uint8_t* data, size_t len) override;
  void onLog(const std::string& line) override;

  // Everything queued, in order, once `ready` holds for the queue or `wait`
  // has passed (whichever is first).
  std::vector<QueuedEvent> takeWhen(
      const std::function<bool(const std::deque<QueuedEvent>&)>& ready,
      std::chrono::microseconds wait);
  // While held, a push asks for no drain: the JS thread drains the queue
  // itself right after (a step it ran on its own thread). Release says
  // whether a push went without one, which the caller then owes.
  void holdWake() {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_held_ = true;
    wake_owed_ = false;
  }
  bool releaseWake() {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_held_ = false;
    return wake_owed_ && !events_.empty();
  }
  std::vector<QueuedEvent> take() {
    return takeWhen([](const std::deque<QueuedEvent>&) { return true; },
                    std::chrono::microseconds(0));
  }

 private:
  void push(QueuedEvent event);

  std::function<void()> wake_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<QueuedEvent> events_;
  // The JS thread is inside takeWhen: it takes every event pushed meanwhile.
  bool js_waiting_ = false;
  // Counts pushes, so that the JS thread can poll for one without the mutex.
  std::atomic<uint64_t> pushes_{0};
  bool wake_held_ = false;
  bool wake_owed_ = false;
};

}  // namespace vmm
