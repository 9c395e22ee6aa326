// Fake vmm: the 8259A interrupt controller pair (ports 0x20/0x21, 0xA0/0xA1),
// the 8254 timer (ports 0x40-0x43) and port 0x61 (channel 2's gate and
// output), handled inside the shim like bhyve's in-kernel vatpic/vatpit. The
// PIT runs on wall-clock time at 1.193182 MHz; channel 0's IRQ0 goes to the
// master PIC, whose output goes to vCPU 0. Channel 1 counts but drives
// nothing. All functions run with ctx->mu held.
#include <errno.h>

#include <chrono>

#include "fakevmm_impl.h"

namespace {

constexpr uint64_t kPitHz = 1193182;

uint64_t pit_period(const fakevmm::Pit8254& pit) { return pit.reload == 0 ? 65536 : pit.reload; }

uint64_t pit_clocks_since(const fakevmm::Pit8254& pit, fakevmm::Clock::time_point now) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - pit.start).count();
  if (ns <= 0) {
    return 0;
  }
  // ns * kPitHz / 1e9 without overflow for any realistic uptime.
  uint64_t n = static_cast<uint64_t>(ns);
  return (n / 1000000000ull) * kPitHz + (n % 1000000000ull) * kPitHz / 1000000000ull;
}

uint16_t pit_count(const fakevmm::Pit8254& pit, fakevmm::Clock::time_point now) {
  if (!pit.armed) {
    return static_cast<uint16_t>(pit.reload);
  }
  uint64_t period = pit_period(pit);
  uint64_t elapsed = pit_clocks_since(pit, now);
  if (pit.mode == 0 || pit.mode == 1) {
    return elapsed >= period ? 0 : static_cast<uint16_t>(period - elapsed);
  }
  return static_cast<uint16_t>(period - elapsed % period);
}

void pit_arm(fakevmm::Pit8254& pit) {
  pit.armed = true;
  pit.start = fakevmm::Clock::now();
  pit.ticks_seen = 0;
}

// Channel 2 counts only while its gate (port 0x61 bit 0) is high; a count
// written while it is low starts when it rises.
void pit_arm_if_gated(vmctx* ctx, int channel) {
  fakevmm::Pit8254& pit = ctx->pit[channel];
  if (pit.loaded && (channel != 2 || (ctx->port61 & 1))) {
    pit_arm(pit);
  }
}

// The channel's OUT pin now: mode 0 and 1 go high at terminal count, mode 3
// is high for the first half of each period, the others are high but for
// the last clock of each period.
bool pit_out(const fakevmm::Pit8254& pit, fakevmm::Clock::time_point now) {
  if (!pit.armed) {
    return pit.mode != 0;
  }
  uint64_t period = pit_period(pit), elapsed = pit_clocks_since(pit, now);
  switch (pit.mode) {
    case 0:
    case 1:
      return elapsed >= period;
    case 3:
      return elapsed % period < (period + 1) / 2;
    default:
      return elapsed % period != period - 1;
  }
}

// Port 0x61: bits 0-3 as written, bit 4 the DRAM refresh toggle (flips
// every 15.085 us), bit 5 channel 2's OUT.
uint8_t port61_read(vmctx* ctx, fakevmm::Clock::time_point now) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  bool refresh = (ns / 15085) & 1;
  return static_cast<uint8_t>((ctx->port61 & 0x0f) | (refresh ? 0x10 : 0) |
                              (pit_out(ctx->pit[2], now) ? 0x20 : 0));
}

void port61_write(vmctx* ctx, uint8_t b) {
  bool rising = (b & 1) && !(ctx->port61 & 1);
  ctx->port61 = static_cast<uint8_t>(b & 0x0f);
  if (rising) {
    pit_arm_if_gated(ctx, 2);
  }
}

void pit_latch(fakevmm::Pit8254& pit) {
  if (!pit.latched) {
    pit.latched = true;
    pit.latch_value = pit_count(pit, fakevmm::Clock::now());
    pit.read_hi_next = false;
  }
}

bool pit_port(vmctx* ctx, uint16_t port, bool in, uint32_t* val) {
  if (port == 0x43) {
    if (in) {
      *val = 0xff;
      return true;
    }
    uint8_t cmd = static_cast<uint8_t>(*val);
    int channel = cmd >> 6;
    if (channel == 3) {  // read-back: only its count latches are modelled
      if (!(cmd & 0x20)) {
        for (int c = 0; c < 3; c++) {
          if (cmd & (2 << c)) {
            pit_latch(ctx->pit[c]);
          }
        }
      }
      return true;
    }
    fakevmm::Pit8254& pit = ctx->pit[channel];
    int access = (cmd >> 4) & 3;
    if (access == 0) {
      pit_latch(pit);
      return true;
    }
    pit.access = static_cast<uint8_t>(access);
    pit.mode = static_cast<uint8_t>((cmd >> 1) & 7);
    if (pit.mode > 5) {
      pit.mode -= 4;  // modes 6 and 7 alias 2 and 3
    }
    pit.write_hi_next = false;
    pit.read_hi_next = false;
    pit.latched = false;
    pit.armed = false;
    pit.loaded = false;
    return true;
  }
  const int channel = port - 0x40;
  fakevmm::Pit8254& pit = ctx->pit[channel];
  if (in) {
    uint16_t count = pit.latched ? pit.latch_value : pit_count(pit, fakevmm::Clock::now());
    bool hi = pit.access == 2 || (pit.access == 3 && pit.read_hi_next);
    *val = hi ? (count >> 8) : (count & 0xff);
    if (pit.access == 3) {
      pit.read_hi_next = !pit.read_hi_next;
      if (!pit.read_hi_next) {
        pit.latched = false;
      }
    } else {
      pit.latched = false;
    }
    return true;
  }
  uint8_t b = static_cast<uint8_t>(*val);
  bool complete = true;
  if (pit.access == 1) {
    pit.reload = static_cast<uint16_t>((pit.reload & 0xff00) | b);
  } else if (pit.access == 2) {
    pit.reload = static_cast<uint16_t>((pit.reload & 0x00ff) | (b << 8));
  } else if (!pit.write_hi_next) {
    pit.reload = static_cast<uint16_t>((pit.reload & 0xff00) | b);
    pit.write_hi_next = true;
    complete = false;
  } else {
    pit.reload = static_cast<uint16_t>((pit.reload & 0x00ff) | (b << 8));
    pit.write_hi_next = false;
  }
  if (complete) {
    pit.loaded = true;
    pit.armed = false;
    pit_arm_if_gated(ctx, channel);
  }
  return true;
}

// Lowest pending, unmasked IRQ that is not blocked by one in service of
// equal or higher priority; -1 if none.
int pic_best_irq(const fakevmm::Pic8259& pic, uint8_t extra_irr) {
  uint8_t req = static_cast<uint8_t>((pic.irr | extra_irr) & ~pic.imr);
  for (int irq = 0; irq < 8; irq++) {
    if (pic.isr & (1u << irq)) {
      return -1;
    }
    if (req & (1u << irq)) {
      return irq;
    }
  }
  return -1;
}

bool pic_port(vmctx* ctx, uint16_t port, bool in, uint32_t* val) {
  fakevmm::Pic8259& pic = ctx->pic[(port & 0x80) ? 1 : 0];
  bool data = (port & 1) != 0;
  if (in) {
    *val = data ? pic.imr : (pic.read_isr ? pic.isr : pic.irr);
    return true;
  }
  uint8_t b = static_cast<uint8_t>(*val);
  if (!data) {
    if (b & 0x10) {  // ICW1
      pic.init_step = 2;
      pic.icw4_needed = (b & 1) != 0;
      pic.single = (b & 2) != 0;
      pic.imr = 0;
      pic.isr = 0;
      pic.irr = 0;
      pic.auto_eoi = false;
      pic.read_isr = false;
    } else if (b & 0x08) {  // OCW3
      if (b & 0x02) {
        pic.read_isr = (b & 1) != 0;
      }
    } else {  // OCW2
      int cmd = b >> 5;
      if (cmd == 1) {  // non-specific EOI: clear the highest-priority ISR bit
        for (int irq = 0; irq < 8; irq++) {
          if (pic.isr & (1u << irq)) {
            pic.isr = static_cast<uint8_t>(pic.isr & ~(1u << irq));
            break;
          }
        }
      } else if (cmd == 3) {  // specific EOI
        pic.isr = static_cast<uint8_t>(pic.isr & ~(1u << (b & 7)));
      }
    }
    return true;
  }
  switch (pic.init_step) {
    case 2:
      pic.vector_base = static_cast<uint8_t>(b & 0xf8);
      pic.init_step = pic.single ? (pic.icw4_needed ? 4 : 0) : 3;
      break;
    case 3:
      pic.init_step = pic.icw4_needed ? 4 : 0;
      break;
    case 4:
      pic.auto_eoi = (b & 2) != 0;
      pic.init_step = 0;
      break;
    default:
      pic.imr = b;  // OCW1
      break;
  }
  return true;
}

}  // namespace

namespace fakevmm {

bool atpic_port(vmctx* ctx, uint16_t port, bool in, int bytes, uint32_t* val) {
  (void)bytes;
  switch (port) {
    case 0x20:
    case 0x21:
    case 0xa0:
    case 0xa1:
      return pic_port(ctx, port, in, val);
    case 0x40:
    case 0x41:
    case 0x42:
    case 0x43:
      return pit_port(ctx, port, in, val);
    case 0x61:
      if (in) {
        *val = port61_read(ctx, Clock::now());
      } else {
        port61_write(ctx, static_cast<uint8_t>(*val));
      }
      return true;
    default:
      return false;
  }
}

void atpit_update(vmctx* ctx, Clock::time_point now) {
  Pit8254& pit = ctx->pit[0];
  if (!pit.armed) {
    return;
  }
  uint64_t periods = pit_clocks_since(pit, now) / pit_period(pit);
  if (periods > pit.ticks_seen) {
    pit.ticks_seen = periods;
    ctx->pic[0].irr |= 1;  // edge on IRQ0; ticks missed meanwhile merge into one
    if (pit.mode == 0 || pit.mode == 1) {
      pit.armed = false;
    }
  }
}

int atpic_pending_vector(vmctx* ctx) {
  int slave_irq = pic_best_irq(ctx->pic[1], 0);
  uint8_t cascade = slave_irq >= 0 ? 0x04 : 0;
  int irq = pic_best_irq(ctx->pic[0], cascade);
  if (irq < 0) {
    return -1;
  }
  if (irq == 2 && cascade) {
    return ctx->pic[1].vector_base + slave_irq;
  }
  return ctx->pic[0].vector_base + irq;
}

void atpic_acknowledge(vmctx* ctx) {
  int slave_irq = pic_best_irq(ctx->pic[1], 0);
  uint8_t cascade = slave_irq >= 0 ? 0x04 : 0;
  int irq = pic_best_irq(ctx->pic[0], cascade);
  if (irq < 0) {
    return;
  }
  Pic8259& m = ctx->pic[0];
  m.irr = static_cast<uint8_t>(m.irr & ~(1u << irq));
  if (!m.auto_eoi) {
    m.isr = static_cast<uint8_t>(m.isr | (1u << irq));
  }
  if (irq == 2 && cascade) {
    Pic8259& s = ctx->pic[1];
    s.irr = static_cast<uint8_t>(s.irr & ~(1u << slave_irq));
    if (!s.auto_eoi) {
      s.isr = static_cast<uint8_t>(s.isr | (1u << slave_irq));
    }
  }
}

}  // namespace fakevmm

namespace fakevmm {

void atpic_set_irq_level(VmCtx* ctx, int irq, bool level) {
  const uint16_t bit = static_cast<uint16_t>(1u << irq);
  const bool was = (ctx->isa_irq_level & bit) != 0;
  ctx->isa_irq_level =
      static_cast<uint16_t>(level ? (ctx->isa_irq_level | bit) : (ctx->isa_irq_level & ~bit));
  if (level && !was) {
    Pic8259& pic = ctx->pic[irq < 8 ? 0 : 1];
    pic.irr = static_cast<uint8_t>(pic.irr | (1u << (irq & 7)));
    if (ctx->vcpus[0] != nullptr) {
      kick_locked(ctx->vcpus[0]);  // the PIC's output goes to vCPU 0
    }
  }
}

}  // namespace fakevmm

namespace {

int set_isa_irq(vmctx* ctx, int atpic_irq, bool level, bool pulse) {
  // The I/O APIC pin is not modelled: the fake vmm has no I/O APIC.
  if (ctx == nullptr || atpic_irq < 0 || atpic_irq > 15 || atpic_irq == 2) {
    errno = EINVAL;
    return -1;
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  fakevmm::atpic_set_irq_level(ctx, atpic_irq, level);
  if (pulse) {
    fakevmm::atpic_set_irq_level(ctx, atpic_irq, false);
  }
  return 0;
}

}  // namespace

extern "C" {

int vm_isa_assert_irq(struct vmctx* ctx, int atpic_irq, int ioapic_irq) {
  (void)ioapic_irq;
  return set_isa_irq(ctx, atpic_irq, true, false);
}

int vm_isa_deassert_irq(struct vmctx* ctx, int atpic_irq, int ioapic_irq) {
  (void)ioapic_irq;
  return set_isa_irq(ctx, atpic_irq, false, false);
}

int vm_isa_pulse_irq(struct vmctx* ctx, int atpic_irq, int ioapic_irq) {
  (void)ioapic_irq;
  return set_isa_irq(ctx, atpic_irq, true, true);
}

}  // extern "C"
