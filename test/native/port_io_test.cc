// Tests of the seam's port I/O model (native/vmm/port_io.cc): COM1 always
// ready to transmit, unknown ports read as all ones and logged once.
#include "vmm/port_io.h"

#include <cstdio>
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
  vmm::PortIoBus bus(&sink);

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

  std::printf("port_io: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
