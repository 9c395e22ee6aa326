// Tests of the seam's port I/O model (native/vmm/port_io.cc): COM1 (a
// 16550A with IRQ 4 and input), the RTC and CMOS, the i8042 reset, and
// unknown ports that read as all ones and are logged once.
#include "vmm/port_io.h"

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace {

class RecordingSink : public vmm::EventSink {
 public:
  void onStop(const vmm::StopEvent&) override {}
  void onStarted(int) override {}
  void onConsole(const uint8_t* data, size_t len) override {
    console.append(reinterpret_cast<const char*>(data), len);
  }
  void onLog(const std::string& line) override { logs.push_back(line); }

  std::string console;
  std::vector<std::string> logs;
};

int passed = 0, failed = 0;

void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
  (ok ? passed : failed)++;
}

}  // namespace

int main() {
  RecordingSink sink;
  std::vector<std::pair<int, bool>> irqs;  // every change of an ISA line
  vmm::PortIoBus bus(&sink, [&](int irq, bool level) { irqs.emplace_back(irq, level); });

  check(bus.in(0x3fd, 1) == 0x60, "COM1 LSR reports the transmitter empty");
  for (char c : std::string("hi\n")) bus.out(0x3f8, 1, static_cast<uint8_t>(c));
  check(sink.console == "hi\n", "bytes written to COM1 THR reach the console");

  bus.out(0x3fb, 1, 0x80);  // DLAB on: offsets 0 and 1 are the divisor latch
  bus.out(0x3f8, 1, 0x0c);
  bus.out(0x3f9, 1, 0x00);
  check(bus.in(0x3f8, 1) == 0x0c, "the divisor latch reads back with DLAB set");
  check(sink.console == "hi\n", "divisor writes do not reach the console");
  bus.out(0x3fb, 1, 0x03);
  bus.out(0x3ff, 1, 0x5a);
  check(bus.in(0x3ff, 1) == 0x5a, "the scratch register keeps its value");

  check(bus.in(0x1234, 1) == 0xff, "an unknown port reads 0xff (byte)");
  check(bus.in(0x1234, 2) == 0xffff, "an unknown port reads 0xffff (word)");
  check(bus.in(0x1234, 4) == 0xffffffffu, "an unknown port reads all ones (dword)");
  bus.out(0x1234, 1, 0);
  check(sink.logs.size() == 1, "an unknown port is logged once");
  check(sink.logs.size() == 1 && sink.logs[0].find("0x1234") != std::string::npos,
        "the log line names the port");
  bus.out(0x4321, 2, 0);
  check(sink.logs.size() == 2, "another unknown port gets its own line");
  bus.out(0x80, 1, 0x42);
  check(sink.logs.size() == 2, "POST codes on port 0x80 are not logged");

  // COM1's interrupt on IRQ 4: gated by OUT2, raised by IER's sources.
  irqs.clear();
  bus.out(0x3f9, 1, 0x01);  // IER: receive data available
  const uint8_t in1[] = {'a', 'b'};
  bus.serialInput(in1, 2);
  check(irqs.empty(), "without MCR OUT2 the UART does not drive IRQ 4");
  check((bus.in(0x3fd, 1) & 0x01) == 0x01, "LSR reports received data");
  bus.out(0x3fc, 1, 0x08);  // MCR: OUT2
  check(irqs.size() == 1 && irqs[0] == std::make_pair(4, true),
        "with OUT2 set, received data raises IRQ 4");
  check((bus.in(0x3fa, 1) & 0x0f) == 0x04, "IIR names received data");
  check(bus.in(0x3f8, 1) == 'a' && bus.in(0x3f8, 1) == 'b', "RBR returns the input in order");
  check(irqs.size() == 2 && irqs[1] == std::make_pair(4, false),
        "an empty receive buffer lowers IRQ 4");
  check((bus.in(0x3fd, 1) & 0x01) == 0, "LSR: no data left");
  bus.out(0x3f9, 1, 0x03);  // IER: receive and transmitter empty
  check(irqs.size() == 3 && irqs[2].second, "enabling the transmit interrupt raises IRQ 4");
  check((bus.in(0x3fa, 1) & 0x0f) == 0x02, "IIR names the empty transmitter");
  check(irqs.size() == 4 && !irqs[3].second && (bus.in(0x3fa, 1) & 0x0f) == 0x01,
        "reading IIR acknowledges it: IRQ 4 low, IIR says none");
  bus.out(0x3f8, 1, 'x');
  check(irqs.size() == 5 && irqs[4].second && sink.console.back() == 'x',
        "a sent byte reaches the console and the emptied transmitter interrupts again");
  bus.out(0x3f9, 1, 0x00);
  check(irqs.size() == 6 && !irqs[5].second, "IER 0 lowers IRQ 4");
  bus.out(0x3fa, 1, 0x01);  // FCR: FIFOs on
  check((bus.in(0x3fa, 1) & 0xc0) == 0xc0, "with FIFOs on, IIR says 16550A");

  // The RTC: BCD by default, binary after status B bit 2; status D valid.
  bus.out(0x70, 1, 0x0d);
  check(bus.in(0x71, 1) == 0x80, "RTC status D: the battery is good");
  bus.out(0x70, 1, 0x0a);
  check((bus.in(0x71, 1) & 0x80) == 0, "RTC status A: no update in progress");
  std::time_t t = std::time(nullptr);
  std::tm now{};
  gmtime_r(&t, &now);
  bus.out(0x70, 1, 0x09);
  const uint32_t year_bcd = bus.in(0x71, 1);
  check(year_bcd == static_cast<uint32_t>(((now.tm_year % 100) / 10) << 4 | (now.tm_year % 10)),
        "RTC year in BCD");
  bus.out(0x70, 1, 0x0b);
  bus.out(0x71, 1, 0x06);  // binary, 24-hour
  bus.out(0x70, 1, 0x08);
  check(bus.in(0x71, 1) == static_cast<uint32_t>(now.tm_mon + 1), "RTC month in binary");
  bus.out(0x70, 1, 0x40);
  bus.out(0x71, 1, 0x5a);
  check(bus.in(0x71, 1) == 0x5a, "CMOS RAM keeps what is written");

  // The i8042: no controller to talk to, but its reset command is honoured.
  check(bus.in(0x64, 1) == 0xff, "the i8042 status port reads as absent");
  check(!bus.takeResetRequest(), "no reset asked yet");
  bus.out(0x64, 1, 0xfe);
  check(bus.takeResetRequest() && !bus.takeResetRequest(),
        "0xFE to port 0x64 asks for a reset, once");

  std::printf("port_io: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
