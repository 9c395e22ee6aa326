#include "vmm/event_queue.h"

#include <algorithm>

#include "vmm/hand_off_spin.h"

namespace vmm {

void EventQueue::push(QueuedEvent event) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A JS thread waiting in takeWhen takes it: no drain through the event loop.
    wake = events_.empty() && !js_waiting_ && !wake_held_;
    if (events_.empty() && wake_held_) wake_owed_ = true;
    events_.push_back(std::move(event));
  }
  pushes_.fetch_add(1, std::memory_order_release);
  changed_.notify_all();
  if (wake) wake_();
}

namespace {

QueuedEvent make(QueuedEvent::Type type) {
  QueuedEvent event;
  event.type = type;
  return event;
}

}  // namespace

void EventQueue::onStop(const StopEvent& stop) {
  QueuedEvent event = make(QueuedEvent::Type::kStop);
  event.stop = stop;
  push(std::move(event));
}

void EventQueue::onStarted(int vcpu) {
  QueuedEvent event = make(QueuedEvent::Type::kStarted);
  event.stop.vcpu = vcpu;
  push(std::move(event));
}

void EventQueue::onConsole(const uint8_t* data, size_t len) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!events_.empty() && events_.back().type == QueuedEvent::Type::kConsole) {
      events_.back().text.append(reinterpret_cast<const char*>(data), len);
      return;
    }
  }
  QueuedEvent event = make(QueuedEvent::Type::kConsole);
  event.text.assign(reinterpret_cast<const char*>(data), len);
  push(std::move(event));
}

void EventQueue::onLog(const std::string& line) {
  QueuedEvent event = make(QueuedEvent::Type::kLog);
  event.text = line;
  push(std::move(event));
}

std::vector<QueuedEvent> EventQueue::takeWhen(
    const std::function<bool(const std::deque<QueuedEvent>&)>& ready,
    std::chrono::microseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (wait.count() > 0) {
    js_waiting_ = true;
    if (!ready(events_)) {
      // Poll first: the stop of a vCPU just resumed (the next hit of a
      // breakpoint whose condition is false) most often comes within it.
      // Read under the lock: a push the check above missed counts after it.
      uint64_t seen = pushes_.load(std::memory_order_acquire);
      lock.unlock();
      const auto started = std::chrono::steady_clock::now();
      spinUntil(
          [&] {
            const uint64_t now = pushes_.load(std::memory_order_acquire);
            if (now == seen) return false;
            seen = now;
            std::lock_guard<std::mutex> check(mutex_);
            return ready(events_);
          },
          std::min(wait, std::chrono::duration_cast<std::chrono::microseconds>(kHandOffSpin)));
      lock.lock();
      const auto left = wait - std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - started);
      if (left.count() > 0) changed_.wait_for(lock, left, [&] { return ready(events_); });
    }
    js_waiting_ = false;
  }
  std::vector<QueuedEvent> out(std::make_move_iterator(events_.begin()),
                               std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

}  // namespace vmm
