// COM1 as a 16550A: output goes to the console sink at once (the
// transmitter is always empty), input is what user space feeds in
// (receive()), and the interrupt line follows IER, IIR and MCR's OUT2 as on
// a PC (IRQ 4). Its registers are those of a 16550A with its FIFOs; no
// baud rate is kept to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace vmm {

class Uart16550 {
 public:
  static constexpr size_t kInputLimit = 65536;

  // `transmit` gets each byte the guest sends; `set_irq` the interrupt line's
  // level after every change that may move it (called with the UART's lock
  // held, from the vCPU thread or from receive()'s caller).
  Uart16550(std::function<void(uint8_t)> transmit, std::function<void(bool)> set_irq)
      : transmit_(std::move(transmit)), set_irq_(std::move(set_irq)) {}

  void out(uint16_t offset, uint8_t value);
  uint8_t in(uint16_t offset);
  // Bytes for the guest to read; past kInputLimit unread bytes the rest is
  // dropped and the overrun bit set, as a real FIFO would.
  void receive(const uint8_t* data, size_t len);

 private:
  uint8_t interruptId() const;
  void updateIrq();

  std::function<void(uint8_t)> transmit_;
  std::function<void(bool)> set_irq_;
  std::mutex mutex_;
  std::deque<uint8_t> input_;
  bool overrun_ = false;
  bool thre_pending_ = false;  // "transmitter empty" interrupt not yet acknowledged
  bool irq_level_ = false;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0, dlm_ = 0, fcr_ = 0;
};

}  // namespace vmm
