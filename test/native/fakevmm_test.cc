// Tests for the fake vmm: each test builds a tiny guest (hand-encoded x86
// machine code in guest RAM), runs it through the libvmmapi API and checks
// the exits and the guest's effects. Prints PASS/FAIL per check; exits
// non-zero if any check failed.
#include <fakevmm.h>
#include <sys/mman.h>
#include <vmmapi.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

namespace {

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what.c_str());
  if (ok) {
    g_passed++;
  } else {
    g_failed++;
  }
}

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof(b), "0x%" PRIx64, v);
  return b;
}

using Clock = std::chrono::steady_clock;
using Bytes = std::initializer_list<uint8_t>;

constexpr uint64_t kGdt = 0x500, kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000;
constexpr uint64_t kPdHigh = 0x7000, kIdt = 0x8000, kCode = 0x10000, kHandler = 0x11000;
constexpr uint64_t kData = 0x30000, kStack = 0x90000;
constexpr size_t kMemSize = 64ull << 20;

// A VM with identity-mapped long-mode page tables, a GDT and an IDT.
struct Guest {
  vmctx* ctx = nullptr;
  vcpu* cpu[2] = {};
  uint8_t* mem = nullptr;

  explicit Guest(const char* name) {
    vm_destroy(vm_open(name));
    if (vm_create(name) != 0 || (ctx = vm_open(name)) == nullptr) {
      std::printf("FAIL: cannot create VM %s\n", name);
      std::exit(2);
    }
    cpu[0] = vm_vcpu_open(ctx, 0);
    cpu[1] = vm_vcpu_open(ctx, 1);
    if (cpu[0] == nullptr || cpu[1] == nullptr ||
        vm_setup_memory(ctx, kMemSize, VM_MMAP_ALL) != 0) {
      std::printf("FAIL: cannot set up VM %s\n", name);
      std::exit(2);
    }
    mem = static_cast<uint8_t*>(vm_map_gpa(ctx, 0, kMemSize));
    build_tables();
    long_mode(cpu[0], kCode);
    vm_activate_cpu(cpu[0]);
  }
  ~Guest() { vm_destroy(ctx); }

  void put(uint64_t gpa, Bytes b) { std::memcpy(mem + gpa, b.begin(), b.size()); }
  void put64(uint64_t gpa, uint64_t v) { std::memcpy(mem + gpa, &v, 8); }
  void put32(uint64_t gpa, uint32_t v) { std::memcpy(mem + gpa, &v, 4); }
  uint64_t get64(uint64_t gpa) {
    uint64_t v;
    std::memcpy(&v, mem + gpa, 8);
    return v;
  }
  volatile uint64_t* counter(uint64_t gpa) {
    return reinterpret_cast<volatile uint64_t*>(mem + gpa);
  }

  void build_tables() {
    put64(kGdt + 0x08, 0x00af9a000000ffffull);  // 64-bit code
    put64(kGdt + 0x10, 0x00cf92000000ffffull);  // data
    put64(kGdt + 0x18, 0x00cf9a000000ffffull);  // 32-bit code
    put64(kPml4, kPdpt | 3);
    put64(kPdpt, kPd | 3);
    put64(kPdpt + 3 * 8, kPdHigh | 3);
    put64(kPd, 0x000000 | 0x83);       // 0-2M: 2M page
    put64(kPd + 8, kPt | 3);           // 2M-4M: 4K pages
    put64(kPd + 16, 0x600000 | 0x83);  // 4M-6M -> 6M (2M page)
    // PD[3] not present.
    for (int i = 4; i < 512; i++) {
      put64(kPd + 8 * i, (static_cast<uint64_t>(i) << 21) | 0x83);
    }
    put64(kPt + 0, 0x5000 | 3);  // 0x200000 -> 0x5000
    // PT[1] not present.
    put64(kPt + 16, 0x6000 | 1);                              // read-only
    put64(kPdHigh + 0x1f7 * 8, 0xfee00000ull | 0x83 | 0x10);  // local APIC page
  }

  void set_gate(int vector, uint64_t handler) {
    uint64_t lo =
        (handler & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | (((handler >> 16) & 0xffff) << 48);
    put64(kIdt + 16 * vector, lo);
    put64(kIdt + 16 * vector + 8, handler >> 32);
  }

  void long_mode(vcpu* c, uint64_t rip) {
    vm_set_register(c, VM_REG_GUEST_CR4, 0x620);
    vm_set_register(c, VM_REG_GUEST_CR3, kPml4);
    vm_set_register(c, VM_REG_GUEST_EFER, 0xd00);
    vm_set_register(c, VM_REG_GUEST_CR0, 0x80010033);
    vm_set_desc(c, VM_REG_GUEST_CS, 0, 0xffffffff, 0xa09b);
    vm_set_register(c, VM_REG_GUEST_CS, 0x08);
    for (int seg :
         {VM_REG_GUEST_SS, VM_REG_GUEST_DS, VM_REG_GUEST_ES, VM_REG_GUEST_FS, VM_REG_GUEST_GS}) {
      vm_set_desc(c, seg, 0, 0xffffffff, 0xc093);
      vm_set_register(c, seg, 0x10);
    }
    vm_set_desc(c, VM_REG_GUEST_TR, 0, 0x67, 0x8b);
    vm_set_desc(c, VM_REG_GUEST_LDTR, 0, 0, 0x10000);
    vm_set_desc(c, VM_REG_GUEST_GDTR, kGdt, 0x1f, 0);
    vm_set_desc(c, VM_REG_GUEST_IDTR, kIdt, 0xfff, 0);
    vm_set_register(c, VM_REG_GUEST_RFLAGS, 2);
    vm_set_register(c, VM_REG_GUEST_RSP, kStack);
    vm_set_register(c, VM_REG_GUEST_RIP, rip);
  }

  vm_exit run(int i = 0) {
    vm_exit e{};
    struct vm_run r {};
    r.cpuid = i;
    r.vm_exit = &e;
    if (vm_run(cpu[i], &r) != 0) {
      e.exitcode = VM_EXITCODE_MAX;
    }
    return e;
  }

  uint64_t reg(int r, int i = 0) {
    uint64_t v = 0;
    vm_get_register(cpu[i], r, &v);
    return v;
  }
};

// The host writes one byte of code, as a debugger's breakpoint does.
void write_code(Guest& g, uint64_t at, uint8_t byte) {
  g.mem[at] = byte;
  vm_code_modified(g.ctx, at, 1);
}

void test_single_step() {
  Guest g("t-step");
  g.put(kCode, {0xeb, 0x02, 0x90, 0x90,                       // jmp +2
                0xe8, 0x05, 0x00, 0x00, 0x00,                 // call +5
                0x90, 0x90, 0x90, 0x90, 0x90,                 //
                0xb9, 0x03, 0x00, 0x00, 0x00,                 // mov ecx, 3
                0x48, 0xbe, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0,  // mov rsi, 0x20000
                0x48, 0xbf, 0x00, 0x10, 0x02, 0, 0, 0, 0, 0,  // mov rdi, 0x21000
                0xf3, 0xa4,                                   // rep movsb
                0xf4});                                       // hlt
  g.put(0x20000, {0x11, 0x22, 0x33});
  vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 1);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_MTRAP && g.reg(VM_REG_GUEST_RIP) == kCode + 4,
        "step over jmp lands on its target (rip " + hex(g.reg(VM_REG_GUEST_RIP)) + ")");
  e = g.run();
  check(e.exitcode == VM_EXITCODE_MTRAP && g.reg(VM_REG_GUEST_RIP) == kCode + 0xe &&
            g.reg(VM_REG_GUEST_RSP) == kStack - 8 && g.get64(kStack - 8) == kCode + 9,
        "step over call: one instruction, return address pushed");
  for (int i = 0; i < 3; i++) {
    g.run();
  }
  check(g.reg(VM_REG_GUEST_RIP) == kCode + 0x27, "three movs stepped one at a time");
  e = g.run();
  check(e.exitcode == VM_EXITCODE_MTRAP && g.reg(VM_REG_GUEST_RIP) == kCode + 0x27 &&
            g.reg(VM_REG_GUEST_RCX) == 2 && g.mem[0x21000] == 0x11 && g.mem[0x21001] == 0,
        "step over rep movsb runs one iteration (rcx 3 -> 2, one byte copied)");
  e = g.run();
  check(g.reg(VM_REG_GUEST_RCX) == 1 && g.mem[0x21001] == 0x22 && g.mem[0x21002] == 0,
        "next step runs the second iteration");
  vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 0);
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && e.rip == kCode + 0x29 && e.inst_length == 1 &&
            g.mem[0x21002] == 0x33,
        "continue finishes rep movsb and exits on hlt (rip " + hex(e.rip) + ")");
}

void test_bpt_and_io() {
  Guest g("t-bpt");
  g.put(kCode, {0x90, 0xcc, 0x90, 0xf4});
  vm_set_capability(g.cpu[0], VM_CAP_BPT_EXIT, 1);
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_BPT && e.rip == kCode + 1 && e.inst_length == 1 &&
            e.u.bpt.inst_length == 1 && g.reg(VM_REG_GUEST_RIP) == kCode + 1,
        "int3 gives a BPT exit at the int3's address (rip " + hex(e.rip) + ")");
  e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && e.rip == kCode + 3,
        "vm_run after BPT resumes past the int3 (nextrip rule)");

  Guest h("t-io");
  h.put(kCode, {0xb0, 0x41,                                // mov al, 0x41
                0x66, 0xba, 0xf8, 0x03,                    // mov dx, 0x3f8
                0xee,                                      // out dx, al
                0xec,                                      // in al, dx
                0x88, 0x04, 0x25, 0x00, 0x00, 0x03, 0x00,  // mov [0x30000], al
                0xf4});
  vm_set_capability(h.cpu[0], VM_CAP_HALT_EXIT, 1);
  e = h.run();
  check(e.exitcode == VM_EXITCODE_INOUT && !e.u.inout.in && e.u.inout.port == 0x3f8 &&
            e.u.inout.bytes == 1 && (e.u.inout.eax & 0xff) == 0x41 && e.rip == kCode + 6 &&
            e.inst_length == 1,
        "OUT exit: port 0x3f8, value 0x41, rip of the out");
  e = h.run();
  check(e.exitcode == VM_EXITCODE_INOUT && e.u.inout.in && e.u.inout.port == 0x3f8 &&
            e.u.inout.bytes == 1 && e.rip == kCode + 7 && e.inst_length == 1,
        "IN exit: port 0x3f8, rip of the in");
  uint64_t rax = h.reg(VM_REG_GUEST_RAX);
  vm_set_register(h.cpu[0], VM_REG_GUEST_RAX, (rax & ~0xffull) | 0x5a);
  e = h.run();
  check(e.exitcode == VM_EXITCODE_HLT && h.mem[kData] == 0x5a,
        "the value user space put in RAX is what the guest's IN read");

  Guest k("t-cli-hlt");
  k.put(kCode, {0xfa, 0xf4});
  e = k.run();
  check(e.exitcode == VM_EXITCODE_SUSPENDED && e.u.suspended.how == VM_SUSPEND_HALT,
        "cli; hlt on the only vCPU suspends the VM (VM_SUSPEND_HALT)");
}

void test_pause_resume() {
  Guest g("t-pause");
  g.put(kCode, {0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x03, 0x00,  // inc qword [0x30000]
                0xeb, 0xf6});                                    // jmp back
  std::atomic<int> debug_exits{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> exit_ns{0};
  std::thread t([&] {
    while (!stop) {
      vm_exit e = g.run();
      if (e.exitcode == VM_EXITCODE_DEBUG) {
        if (debug_exits == 0) {  // the time first, then the count the main thread waits for
          exit_ns =
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
                  .count();
        }
        debug_exits++;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else if (e.exitcode != VM_EXITCODE_DEBUG) {
        break;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  uint64_t c0 = *g.counter(kData);
  int64_t t0 =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  vm_suspend_cpu(g.cpu[0]);
  while (debug_exits == 0) {
    std::this_thread::yield();
  }
  double us = (exit_ns - t0) / 1000.0;
  check(c0 > 1000, "guest loop runs (counter " + std::to_string(c0) + ")");
  // How long it took is measured, not judged (it depends on the host's load).
  std::printf("info: vm_suspend_cpu -> DEBUG exit in %.0f us\n", us);
  check(debug_exits >= 1, "vm_suspend_cpu ends vm_run with a DEBUG exit");
  cpuset_t set;
  vm_debug_cpus(g.ctx, &set);
  check(CPU_ISSET(0, &set), "vm_debug_cpus reports the paused vCPU");
  uint64_t c1 = *g.counter(kData);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  uint64_t c2 = *g.counter(kData);
  check(c1 == c2, "counter stands still while paused");
  vm_resume_cpu(g.cpu[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  uint64_t c3 = *g.counter(kData);
  check(c3 > c2, "counter advances after vm_resume_cpu");
  stop = true;
  vm_suspend_cpu(g.cpu[0]);
  t.join();

  // Many pause/resume cycles: each one ends in a DEBUG exit; the latency is
  // printed for the record (the benchmark measures it, tests do not judge it).
  std::vector<double> lat;
  int paused = 0;
  for (int i = 0; i < 20; i++) {
    vm_resume_all_cpus(g.ctx);
    std::atomic<bool> done{false};
    std::thread r([&] {
      vm_exit e = g.run();
      done = e.exitcode == VM_EXITCODE_DEBUG;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    auto a = Clock::now();
    vm_suspend_all_cpus(g.ctx);
    r.join();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    paused += done ? 1 : 0;
  }
  std::sort(lat.begin(), lat.end());
  check(paused == 20, "20 pause/resume cycles, each ended by a DEBUG exit");
  std::printf("info: median pause latency %.0f us (max %.0f us)\n", lat[lat.size() / 2],
              lat.back());
}

void test_page_walk_and_pf() {
  Guest g("t-walk");
  vm_guest_paging pg{kPml4, 0, CPU_MODE_64BIT, PAGING_MODE_64};
  uint64_t gpa = 0;
  int fault = -1;
  int r = vm_gla2gpa_nofault(g.cpu[0], &pg, 0x400123, PROT_READ, &gpa, &fault);
  check(r == 0 && fault == 0 && gpa == 0x600123, "2M page: 0x400123 -> " + hex(gpa));
  r = vm_gla2gpa_nofault(g.cpu[0], &pg, 0x200abc, PROT_READ, &gpa, &fault);
  check(r == 0 && fault == 0 && gpa == 0x5abc, "4K page: 0x200abc -> " + hex(gpa));
  gpa = 0x1234;
  r = vm_gla2gpa_nofault(g.cpu[0], &pg, 0x201000, PROT_READ, &gpa, &fault);
  check(r == 0 && fault == 1, "non-present PTE: fault, no address");
  r = vm_gla2gpa_nofault(g.cpu[0], &pg, 0x600000, PROT_READ, &gpa, &fault);
  check(r == 0 && fault == 1, "non-present PDE: fault");
  r = vm_gla2gpa_nofault(g.cpu[0], &pg, 0x202000, PROT_WRITE, &gpa, &fault);
  check(r == 0 && fault == 1, "write to a read-only page with CR0.WP: fault");
  r = vm_gla2gpa_nofault(g.cpu[0], &pg, 0x800000000000ull, PROT_READ, &gpa, &fault);
  check(r == 0 && fault == 1, "non-canonical address: fault");

  // #PF through the 64-bit IDT: the handler stores CR2 and the error code.
  g.set_gate(14, kHandler);
  g.put(kCode, {0x48, 0x8b, 0x04, 0x25, 0x00, 0x10, 0x20, 0x00,  // mov rax, [0x201000]
                0xf4});
  g.put(kHandler, {0x0f, 0x20, 0xd0,                                // mov rax, cr2
                   0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x03, 0x00,  // mov [0x30000], rax
                   0x58,                                            // pop rax (error code)
                   0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0x03, 0x00,  // mov [0x30008], rax
                   0xf4});
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && e.rip == kHandler + 20 && g.get64(kData) == 0x201000 &&
            g.get64(kData + 8) == 0 && g.get64(kStack - 40) == kCode,
        "#PF delivered through the IDT (CR2 " + hex(g.get64(kData)) + ", error code " +
            hex(g.get64(kData + 8)) + ", saved rip " + hex(g.get64(kStack - 40)) + ")");

  // A #UD with an empty IDT escalates to a triple fault.
  Guest u("t-triple");
  vm_set_desc(u.cpu[0], VM_REG_GUEST_IDTR, 0, 0, 0);
  u.put(kCode, {0x0f, 0x0b});  // ud2
  e = u.run();
  check(e.exitcode == VM_EXITCODE_SUSPENDED && e.u.suspended.how == VM_SUSPEND_TRIPLEFAULT,
        "ud2 without an IDT: triple fault -> SUSPENDED/TRIPLEFAULT");
}

// Channel 2 as Linux calibrates the TSC with it: gate on through port 0x61,
// mode 0, then poll 0x61 until OUT2 (bit 5) goes high at terminal count.
void test_pit_channel2() {
  Guest g("t-pit2");
  g.put(kCode, {0xb0, 0x01, 0xe6, 0x61,                    // gate on, speaker off
                0xb0, 0xb0, 0xe6, 0x43,                    // ch2, lo/hi, mode 0
                0xb0, 0x00, 0xe6, 0x42,                    // count 0x4000 (13.7 ms)
                0xb0, 0x40, 0xe6, 0x42,                    //
                0xe4, 0x61,                                // in al, 0x61
                0x88, 0x04, 0x25, 0x00, 0x00, 0x03, 0x00,  // mov [0x30000], al
                0xe4, 0x61, 0xa8, 0x20, 0x74, 0xfa,        // poll until bit 5
                0x88, 0x04, 0x25, 0x01, 0x00, 0x03, 0x00,  // mov [0x30001], al
                0xf4});
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT, "channel 2 reaches terminal count");
  check((g.mem[kData] & 0x21) == 0x01, "port 0x61 right after the count: gate high, OUT2 low");
  check((g.mem[kData + 1] & 0x21) == 0x21, "then OUT2 high, gate still high");
}

void test_pit_timer() {
  Guest g("t-pit");
  g.set_gate(0x20, kHandler);
  g.put(kCode, {0xb0, 0x11, 0xe6, 0x20,  // ICW1
                0xb0, 0x20, 0xe6, 0x21,  // ICW2: vector base 0x20
                0xb0, 0x04, 0xe6, 0x21,  // ICW3
                0xb0, 0x01, 0xe6, 0x21,  // ICW4
                0xb0, 0xfe, 0xe6, 0x21,  // unmask IRQ0
                0xb0, 0x34, 0xe6, 0x43,  // PIT ch0, lo/hi, mode 2
                0xb0, 0xa9, 0xe6, 0x40,  // 1193 -> 1 kHz
                0xb0, 0x04, 0xe6, 0x40,  //
                0xfb,                    // sti
                // loop (kCode + 0x21): inc qword [0x30008]; jmp loop
                0x48, 0xff, 0x04, 0x25, 0x08, 0x00, 0x03, 0x00, 0xeb, 0xf6});
  const uint64_t loop_lo = kCode + 0x21, loop_hi = kCode + 0x2b;
  g.put(kHandler, {0x50,                                            // push rax
                   0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x03, 0x00,  // inc qword [0x30000]
                   0xb0, 0x20, 0xe6, 0x20,                          // EOI
                   0x58,                                            // pop rax
                   0x48, 0xcf});                                    // iretq
  std::thread t([&] {
    for (;;) {
      vm_exit e = g.run();
      if (e.exitcode == VM_EXITCODE_DEBUG) {
        break;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  vm_suspend_cpu(g.cpu[0]);
  t.join();
  uint64_t ticks = g.get64(kData);
  check(ticks >= 20 && ticks <= 200, "PIT at 1 kHz interrupts the guest through the IDT (" +
                                         std::to_string(ticks) + " ticks in 100 ms)");
  check(g.get64(kData + 8) > 1000, "the guest loop ran between ticks");
  vm_resume_cpu(g.cpu[0]);

  // Bring the vCPU to the loop with interrupts enabled (it may have been
  // paused inside the handler), stepping with interrupts masked.
  vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 1);
  vm_set_capability(g.cpu[0], VM_CAP_MASK_HWINTR, 1);
  for (int i = 0; i < 20; i++) {
    uint64_t rip = g.reg(VM_REG_GUEST_RIP);
    if (rip >= loop_lo && rip < loop_hi && (g.reg(VM_REG_GUEST_RFLAGS) & 0x200)) {
      break;
    }
    g.run();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // ticks latch meanwhile
  vm_exit e = g.run();
  uint64_t rip = g.reg(VM_REG_GUEST_RIP);
  check(e.exitcode == VM_EXITCODE_MTRAP && rip >= loop_lo && rip < loop_hi,
        "with MASK_HWINTR a step after a pause stays in the loop (rip " + hex(rip) + ")");
  vm_set_capability(g.cpu[0], VM_CAP_MASK_HWINTR, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  uint64_t before = g.get64(kData);
  e = g.run();
  rip = g.reg(VM_REG_GUEST_RIP);
  check(e.exitcode == VM_EXITCODE_MTRAP && rip == kHandler && g.get64(kData) == before,
        "without it the step lands on the handler's first instruction, none of it run (rip " +
            hex(rip) + ")");
}

void test_smp_startup() {
  Guest g("t-smp");
  // BSP: INIT, STARTUP, STARTUP to APIC id 1, vector 0x0a (0xA000), then hlt.
  g.put(kCode, {0x48, 0xbb, 0x00, 0x00, 0xe0, 0xfe, 0,    0,    0,    0,     // mov rbx, 0xfee00000
                0xc7, 0x83, 0x10, 0x03, 0,    0,    0x00, 0x00, 0x00, 0x01,  // ICR hi = 1 << 24
                0xc7, 0x83, 0x00, 0x03, 0,    0,    0x00, 0x45, 0x00, 0x00,  // INIT
                0xc7, 0x83, 0x00, 0x03, 0,    0,    0x0a, 0x46, 0x00, 0x00,  // STARTUP 0x0a
                0xc7, 0x83, 0x00, 0x03, 0,    0,    0x0a, 0x46, 0x00, 0x00,  // STARTUP again
                0xf4});
  // AP trampoline at 0xA000: 16-bit real mode -> 32-bit protected -> long mode.
  g.put(0xa000, {0xfa,                                           // cli
                 0x0f, 0x01, 0x16, 0x00, 0xa1,                   // lgdt [0xa100]
                 0x0f, 0x20, 0xc0,                               // mov eax, cr0
                 0x66, 0x83, 0xc8, 0x01,                         // or eax, 1
                 0x0f, 0x22, 0xc0,                               // mov cr0, eax
                 0x66, 0xea, 0x20, 0xa0, 0,    0, 0x18, 0x00});  // jmp dword 0x18:0xa020
  g.put(0xa020, {0x66, 0xb8, 0x10, 0x00,                         // mov ax, 0x10
                 0x8e, 0xd8,                                     // mov ds, ax
                 0x8e, 0xd0,                                     // mov ss, ax
                 0x0f, 0x20, 0xe0,                               // mov eax, cr4
                 0x83, 0xc8, 0x20,                               // or eax, PAE
                 0x0f, 0x22, 0xe0,                               // mov cr4, eax
                 0xb8, 0x00, 0x10, 0x00, 0x00,                   // mov eax, 0x1000
                 0x0f, 0x22, 0xd8,                               // mov cr3, eax
                 0xb9, 0x80, 0x00, 0x00, 0xc0,                   // mov ecx, EFER
                 0x0f, 0x32,                                     // rdmsr
                 0x0d, 0x00, 0x01, 0x00, 0x00,                   // or eax, LME
                 0x0f, 0x30,                                     // wrmsr
                 0x0f, 0x20, 0xc0,                               // mov eax, cr0
                 0x0d, 0x00, 0x00, 0x00, 0x80,                   // or eax, PG
                 0x0f, 0x22, 0xc0,                               // mov cr0, eax
                 0xea, 0x60, 0xa0, 0x00, 0x00, 0x08, 0x00});     // jmp 0x08:0xa060
  g.put(0xa060, {0xc7, 0x04, 0x25, 0x10, 0x00, 0x03, 0x00, 0xef, 0xbe, 0xad, 0xde,  // mov [0x30010]
                 0xf4});
  g.put(0xa100, {0x1f, 0x00, 0x00, 0x05, 0x00, 0x00});  // GDT pseudo-descriptor
  uint64_t rip = 0;
  vm_get_register(g.cpu[1], VM_REG_GUEST_RIP, &rip);
  uint64_t cs_base = 0;
  uint32_t lim = 0, acc = 0;
  vm_get_desc(g.cpu[1], VM_REG_GUEST_CS, &cs_base, &lim, &acc);
  check(rip == 0xfff0 && cs_base == 0xffff0000ull, "an AP that has not started reads as reset");
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  vm_exit e = g.run();
  check(
      e.exitcode == VM_EXITCODE_SPINUP_AP && e.u.spinup_ap.vcpu == 1 && e.u.spinup_ap.rip == 0xa000,
      "INIT-SIPI: the sender gets SPINUP_AP for vCPU 1 at 0xa000");
  e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT, "the second STARTUP is ignored; the BSP reaches its hlt");

  vcpu* ap = g.cpu[1];
  vm_set_desc(ap, VM_REG_GUEST_CS, 0xa000, 0xffff, 0x9b);
  vm_set_register(ap, VM_REG_GUEST_CS, 0x0a00);
  vm_set_register(ap, VM_REG_GUEST_RIP, 0);
  vm_set_capability(ap, VM_CAP_HALT_EXIT, 1);
  vm_activate_cpu(ap);
  vm_exit ae{};
  std::thread t([&] { ae = g.run(1); });
  t.join();
  uint64_t efer = g.reg(VM_REG_GUEST_EFER, 1);
  uint64_t base = 0;
  vm_get_desc(ap, VM_REG_GUEST_CS, &base, &lim, &acc);
  check(ae.exitcode == VM_EXITCODE_HLT && ae.rip == 0xa06b && (efer & 0x400) && (acc & 0x2000) &&
            g.get64(kData + 0x10) == 0xdeadbeef,
        "the AP ran real mode -> protected mode -> long mode (efer " + hex(efer) + ", rip " +
            hex(ae.rip) + ")");
}

void test_code_modified() {
  Guest g("t-code");
  g.put(kCode, {0xb8, 0x01, 0x00, 0x00, 0x00, 0xf4});  // mov eax, 1; hlt
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  g.run();
  check(g.reg(VM_REG_GUEST_RAX) == 1, "first run executes mov eax, 1");
  write_code(g, kCode + 1, 0x02);
  vm_set_register(g.cpu[0], VM_REG_GUEST_RIP, kCode);
  g.run();
  check(g.reg(VM_REG_GUEST_RAX) == 2, "after a host write + vm_code_modified the new code runs");
  g.mem[kCode] = 0xcc;  // a software breakpoint
  vm_code_modified(g.ctx, kCode, 1);
  vm_set_capability(g.cpu[0], VM_CAP_BPT_EXIT, 1);
  vm_set_register(g.cpu[0], VM_REG_GUEST_RIP, kCode);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_BPT && e.rip == kCode, "an inserted 0xCC breakpoint is hit");

  // Paused vCPU: vm_run returns DEBUG at once.
  vm_suspend_cpu(g.cpu[0]);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_DEBUG, "vm_run on a vCPU in the debug set returns DEBUG");
  vm_resume_cpu(g.cpu[0]);
  uint64_t v = 0;
  check(vm_get_register(g.cpu[0], 999, &v) == -1 && errno == EINVAL,
        "a bad register number is EINVAL");
  check(vm_map_gpa(g.ctx, kMemSize - 8, 16) == nullptr, "vm_map_gpa past RAM is NULL");

  fakevmm_fpu f{};
  // int3 with VM_CAP_BPT_EXIT off goes to the guest's vector 3 handler.
  Guest b("t-int3-guest");
  b.set_gate(3, kHandler);
  b.put(kCode, {0x90, 0xcc, 0x90, 0xf4});
  b.put(kHandler, {0xf4});
  vm_set_capability(b.cpu[0], VM_CAP_HALT_EXIT, 1);
  e = b.run();
  check(e.exitcode == VM_EXITCODE_HLT && e.rip == kHandler && b.get64(kStack - 40) == kCode + 2,
        "int3 without BPT_EXIT is delivered through the IDT (#BP, return rip after int3)");

  int fr = vm_get_fpu_state(g.cpu[0], &f);
  check(fr == 0 && f.mxcsr == 0x1f80 && f.fcw == 0x37f,
        "FPU state readable (fcw " + hex(f.fcw) + ", mxcsr " + hex(f.mxcsr) + ")");
  f.xmm[15][0] = 0xab;
  f.xmm[15][15] = 0xcd;
  f.st[0][7] = 0x80;  // 1.0: significand 0x8000000000000000, exponent 0x3fff
  f.st[0][8] = 0xff;
  f.st[0][9] = 0x3f;
  f.ftw = 0xfffc;  // physical register 0 (ST0 with TOP 0) valid
  f.mxcsr = 0x1fa0;
  vm_set_fpu_state(g.cpu[0], &f);
  fakevmm_fpu f2{};
  vm_get_fpu_state(g.cpu[0], &f2);
  check(f2.xmm[15][0] == 0xab && f2.xmm[15][15] == 0xcd && f2.st[0][7] == 0x80 &&
            f2.st[0][9] == 0x3f && f2.mxcsr == 0x1fa0 && (f2.ftw & 3) != 3,
        "FPU state round trip (xmm15, st0, mxcsr, tag word " + hex(f2.ftw) + ")");
}

// Debug slots (fakevmm.h): data slots stop after the accessing instruction,
// execute slots before the instruction; reads, writes and access apart.
void test_debug_slots() {
  Guest g("t-slots");
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  g.put(kCode, {0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // mov rax, imm64
                0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x03, 0x00,  // +10 mov [0x30000], rax
                0x48, 0x8b, 0x1c, 0x25, 0x08, 0x00, 0x03, 0x00,  // +18 mov rbx, [0x30008]
                0xff, 0x04, 0x25, 0x10, 0x00, 0x03, 0x00,        // +26 inc dword [0x30010]
                0xc6, 0x04, 0x25, 0x12, 0x00, 0x03, 0x00, 0x01,  // +33 mov byte [0x30012], 1
                0x90,                                            // +41 nop
                0xf4});                                          // +42 hlt
  fakevmm_debug_slot slots[4] = {
      {1, FAKEVMM_DEBUG_WRITE, kData, 8},
      {1, FAKEVMM_DEBUG_READ, kData + 8, 8},
      {1, FAKEVMM_DEBUG_ACCESS, kData + 0x10, 4},
      {1, FAKEVMM_DEBUG_EXEC, kCode + 41, 1},
  };
  check(vm_set_debug_slots(g.cpu[0], slots, 4) == 0, "vm_set_debug_slots takes four slots");
  fakevmm_debug_status st{};
  auto expect = [&](uint64_t rip, uint32_t hits, uint32_t access, const std::string& what) {
    vm_exit e = g.run();
    st = {};
    vm_get_debug_status(g.cpu[0], &st);
    check(e.exitcode == VM_EXITCODE_DB && e.inst_length == 0 && e.rip == rip &&
              g.reg(VM_REG_GUEST_RIP) == rip && st.hits == hits && st.access == access,
          what + " (exit " + std::to_string(e.exitcode) + ", rip " + hex(e.rip) + ", hits " +
              hex(st.hits) + ", access " + hex(st.access) + ")");
  };
  expect(kCode + 18, 1, FAKEVMM_ACCESS_WRITE, "write slot: stops after the store");
  check(g.get64(kData) == 0x1122334455667788ull, "the store completed before the stop");
  expect(kCode + 26, 2, FAKEVMM_ACCESS_READ, "read slot: stops after the load");
  check(g.reg(VM_REG_GUEST_RBX) == 0, "the load completed (rbx loaded)");
  expect(kCode + 33, 4, FAKEVMM_ACCESS_READ | FAKEVMM_ACCESS_WRITE,
         "access slot: inc reads and writes, one stop after it");
  expect(kCode + 41, 4, FAKEVMM_ACCESS_WRITE, "access slot: a 1-byte store inside the 4 bytes");
  expect(kCode + 41, 8, 0, "execute slot: stops before the instruction");
  fakevmm_debug_slot without_exec[4] = {slots[0], slots[1], slots[2], {}};
  vm_set_debug_slots(g.cpu[0], without_exec, 4);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && e.rip == kCode + 42,
        "with the execute slot off, the vCPU runs on to its hlt");

  // Lengths, overlap from below, adjacency, and a linear address through a 4K page.
  Guest h("t-slots2");
  vm_set_capability(h.cpu[0], VM_CAP_HALT_EXIT, 1);
  h.put(kCode,
        {0x66, 0xc7, 0x04, 0x25, 0x20, 0x00, 0x03, 0x00, 0x34, 0x12,        // mov word [0x30020]
         0xc7, 0x04, 0x25, 0x24, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00,  // +10 dword 0x30024
         0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x03, 0x00,  // +21 mov [0x30000], rax
         0x66, 0x8b, 0x04, 0x25, 0xb0, 0x0a, 0x20, 0x00,  // +29 mov ax, [0x200ab0]
         0xf4});                                          // +37 hlt
  h.put(0x5ab0, {0xcd, 0xab});
  fakevmm_debug_slot lens[4] = {
      {1, FAKEVMM_DEBUG_WRITE, kData + 0x21, 1},  // inside the word store
      {1, FAKEVMM_DEBUG_WRITE, kData + 0x28, 2},  // just past the dword store: no hit
      {1, FAKEVMM_DEBUG_READ, 0x200ab0, 2},       // linear 0x200ab0 -> physical 0x5ab0
      {1, FAKEVMM_DEBUG_READ, kData, 8},          // only written here: no hit
  };
  check(vm_set_debug_slots(h.cpu[0], lens, 4) == 0, "slots of lengths 1, 2 and 8");
  e = h.run();
  vm_get_debug_status(h.cpu[0], &st);
  check(e.exitcode == VM_EXITCODE_DB && e.rip == kCode + 10 && st.hits == 1,
        "a 2-byte store overlapping a 1-byte slot from below hits it (rip " + hex(e.rip) + ")");
  e = h.run();
  vm_get_debug_status(h.cpu[0], &st);
  check(e.exitcode == VM_EXITCODE_DB && e.rip == kCode + 37 && st.hits == 4 &&
            st.access == FAKEVMM_ACCESS_READ && h.reg(VM_REG_GUEST_RAX) == 0xabcd,
        "a read slot on a linear address hits through the page tables; the adjacent store and "
        "the store to a read slot do not (rip " +
            hex(e.rip) + ", hits " + hex(st.hits) + ")");
  e = h.run();
  check(e.exitcode == VM_EXITCODE_HLT, "then the vCPU reaches its hlt");

  fakevmm_debug_slot bad = {1, FAKEVMM_DEBUG_WRITE, kData + 4, 8};
  check(vm_set_debug_slots(h.cpu[0], &bad, 1) == -1 && errno == EINVAL,
        "an unaligned data slot is EINVAL");
  bad = {1, FAKEVMM_DEBUG_ACCESS, kData, 3};
  check(vm_set_debug_slots(h.cpu[0], &bad, 1) == -1 && errno == EINVAL, "length 3 is EINVAL");
  check(vm_set_debug_slots(h.cpu[0], lens, 5) == -1 && errno == EINVAL, "a fifth slot is EINVAL");
}
void set_rip(Guest& g, uint64_t rip, int i = 0) {
  vm_set_register(g.cpu[i], VM_REG_GUEST_RIP, rip);
}
void set_reg(Guest& g, int r, uint64_t v, int i = 0) { vm_set_register(g.cpu[i], r, v); }

// Steps and runs interleaved over the same code: each step is one
// instruction, each run goes to the hlt.
void test_step_run_cycles() {
  Guest g("f-cycle");
  // loop: inc rax; inc rbx; cmp rax, 1000; jne loop; hlt
  g.put(kCode,
        {0x48, 0xff, 0xc0, 0x48, 0xff, 0xc3, 0x48, 0x3d, 0xe8, 0x03, 0x00, 0x00, 0x75, 0xf2, 0xf4});
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  bool ok = true;
  for (int round = 0; round < 300 && ok; round++) {
    set_reg(g, VM_REG_GUEST_RAX, 0);
    set_reg(g, VM_REG_GUEST_RBX, 0);
    set_rip(g, kCode);
    vm_exit e = g.run();
    ok = ok && e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX) == 1000 &&
         g.reg(VM_REG_GUEST_RBX) == 1000;
    set_reg(g, VM_REG_GUEST_RAX, 5);
    set_reg(g, VM_REG_GUEST_RBX, 5);
    set_rip(g, kCode + 3 * (round % 2));
    vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 1);
    e = g.run();
    uint64_t want_rip = kCode + 3 * (round % 2) + 3;
    ok = ok && e.exitcode == VM_EXITCODE_MTRAP && g.reg(VM_REG_GUEST_RIP) == want_rip &&
         g.reg(VM_REG_GUEST_RAX) + g.reg(VM_REG_GUEST_RBX) == 11;
    if (round % 3 == 0) {
      e = g.run();  // a second step without a toggle
      ok = ok && e.exitcode == VM_EXITCODE_MTRAP &&
           g.reg(VM_REG_GUEST_RIP) == want_rip + (round % 2 ? 6 : 3);
    }
    vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 0);
    if (!ok) {
      std::printf("round %d: exit %d rip %s rax %s rbx %s\n", round, e.exitcode,
                  hex(g.reg(VM_REG_GUEST_RIP)).c_str(), hex(g.reg(VM_REG_GUEST_RAX)).c_str(),
                  hex(g.reg(VM_REG_GUEST_RBX)).c_str());
    }
  }
  check(ok, "300 rounds of run to hlt, then one or two single steps");
}

// Host writes reach both the step's blocks and the ordinary ones.
void test_write_then_step_and_run() {
  Guest g("f-write");
  g.put(kCode, {0xb8, 0x01, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0xf4});  // mov eax,1; mov ebx,2; hlt
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX) == 1, "first run");
  set_rip(g, kCode);
  vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 1);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_MTRAP && g.reg(VM_REG_GUEST_RAX) == 1, "step");
  write_code(g, kCode + 1, 7);
  set_rip(g, kCode);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_MTRAP && g.reg(VM_REG_GUEST_RAX) == 7,
        "a step after a write runs the new code");
  write_code(g, kCode + 1, 9);
  vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 0);
  set_rip(g, kCode);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX) == 9,
        "a run after a write runs the new code");
  write_code(g, kCode + 6, 5);
  set_rip(g, kCode);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RBX) == 5, "second instruction");
}

// A write to a block other blocks are chained to.
void test_write_chained() {
  Guest g("f-chain");
  g.put(kCode, {0xb9, 100, 0, 0, 0, 0xe9, 0x36, 0, 0, 0});  // mov ecx,100; jmp +0x40
  g.put(kCode + 0x40,
        {0x83, 0xc0, 0x01, 0xff, 0xc9, 0x75, 0xbe, 0xf4});  // add eax,1; dec ecx; jnz; hlt
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  set_reg(g, VM_REG_GUEST_RAX, 0);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX) == 100,
        "loop ran (eax " + hex(g.reg(VM_REG_GUEST_RAX)) + ")");
  write_code(g, kCode + 0x42, 2);
  set_reg(g, VM_REG_GUEST_RAX, 0);
  set_rip(g, kCode);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX) == 200,
        "the chained-to block was replaced (eax " + hex(g.reg(VM_REG_GUEST_RAX)) + ")");
}

// Code crossing a page boundary, written in its second page.
void test_write_cross_page() {
  Guest g("f-cross");
  uint64_t at = kCode + 0xffa;
  g.put(at, {0xb8, 0x01, 0, 0, 0, 0x90, 0xbb, 0x02, 0, 0, 0, 0xf4});
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  set_rip(g, at);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RBX) == 2, "cross-page run");
  write_code(g, kCode + 0x1001, 0x33);
  set_rip(g, at);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RBX) == 0x33,
        "a write to the second page of a block replaces it");
}

// More writes than the log holds: the oldest must still count.
void test_write_log() {
  for (int n : {63, 64, 65, 200}) {
    Guest g("f-log");
    g.put(kCode, {0xb8, 0x01, 0, 0, 0, 0xf4});
    vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
    g.run();
    write_code(g, kCode + 1, 3);
    for (int i = 1; i < n; i++) {
      vm_code_modified(g.ctx, kData + static_cast<uint64_t>(i) * 64, 8);
    }
    set_rip(g, kCode);
    vm_exit e = g.run();
    check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX) == 3,
          std::to_string(n) + " writes, the code change first");
  }
  Guest g("f-big");
  g.put(kCode, {0xb8, 0x01, 0, 0, 0, 0xf4});
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  g.run();
  g.mem[kCode + 1] = 4;
  vm_code_modified(g.ctx, 0, 8 << 20);
  set_rip(g, kCode);
  vm_exit e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX) == 4, "an 8 MiB write");
  g.mem[kCode + 1] = 5;
  vm_code_modified(g.ctx, 0, ~0ull);  // past RAM, wraps
  set_rip(g, kCode);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX) == 5, "a huge write");
  g.mem[kCode + 1] = 6;
  vm_code_modified(g.ctx, kCode, 1ull << 19);  // exact path, many pages
  set_rip(g, kCode);
  e = g.run();
  check(e.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX) == 6, "a 512 KiB write");
}

// A second vCPU that was parked while the host wrote.
void test_write_other_vcpu() {
  Guest g("f-smp");
  g.put(kCode, {0xb8, 0x01, 0, 0, 0, 0xf4});
  g.long_mode(g.cpu[1], kCode);
  vm_activate_cpu(g.cpu[1]);
  vm_set_capability(g.cpu[0], VM_CAP_HALT_EXIT, 1);
  vm_set_capability(g.cpu[1], VM_CAP_HALT_EXIT, 1);
  vm_exit e1{};
  std::thread([&] { e1 = g.run(1); }).join();
  g.run();
  write_code(g, kCode + 1, 8);
  set_rip(g, kCode);
  g.run();
  set_rip(g, kCode, 1);
  std::thread([&] { e1 = g.run(1); }).join();
  check(e1.exitcode == VM_EXITCODE_HLT && g.reg(VM_REG_GUEST_RAX, 1) == 8 &&
            g.reg(VM_REG_GUEST_RAX, 0) == 8,
        "both vCPUs run the new code");
}

// A planted int3 over code a step already translated; steps across it.
void test_breakpoint_cycle() {
  Guest g("f-bp");
  // loop: inc rax; inc rbx; jmp loop
  g.put(kCode, {0x48, 0xff, 0xc0, 0x48, 0xff, 0xc3, 0xeb, 0xf8});
  vm_set_capability(g.cpu[0], VM_CAP_BPT_EXIT, 1);
  bool ok = true;
  write_code(g, kCode + 3, 0xcc);
  for (int i = 0; i < 500 && ok; i++) {
    vm_exit e = g.run();
    ok = e.exitcode == VM_EXITCODE_BPT && e.rip == kCode + 3;
    set_rip(g, kCode + 3);
    uint64_t rbx = g.reg(VM_REG_GUEST_RBX);
    write_code(g, kCode + 3, 0x48);
    vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 1);
    e = g.run();
    ok = ok && e.exitcode == VM_EXITCODE_MTRAP && g.reg(VM_REG_GUEST_RIP) == kCode + 6 &&
         g.reg(VM_REG_GUEST_RBX) == rbx + 1;
    vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 0);
    write_code(g, kCode + 3, 0xcc);
    if (!ok) {
      std::printf("iteration %d: exit %d rip %s\n", i, e.exitcode, hex(e.rip).c_str());
    }
  }
  check(ok && g.reg(VM_REG_GUEST_RAX) == 500,
        "500 gdb breakpoint cycles (rax " + hex(g.reg(VM_REG_GUEST_RAX)) + ")");
}

// vm_set_step_over: the host swaps a breakpoint's byte without
// vm_code_modified around a step, and every step and run executes what the
// guest's memory holds at that moment: the original at the step over, the
// int3 after it, a breakpoint right behind the stepped-over one included.
void test_step_over_keeping_code() {
  Guest g("f-stepover");
  g.put(kCode, {0x48, 0xff, 0xc0,  // +0: inc rax
                0xeb, 0x00,        // +3: jmp +5 (breakpoint A), which ends its block
                0x48, 0xff, 0xc3,  // +5: inc rbx (breakpoint B)
                0xeb, 0xf6});      // +8: jmp +0
  vm_set_capability(g.cpu[0], VM_CAP_BPT_EXIT, 1);
  const uint64_t a = kCode + 3, b = kCode + 5;
  write_code(g, a, 0xcc);
  write_code(g, b, 0xcc);
  // Over the breakpoint at `at`, whose original byte is `original`: where the step stopped.
  auto step_over = [&](uint64_t at, uint8_t original) {
    set_rip(g, at);
    g.mem[at] = original;
    vm_set_step_over(g.cpu[0], 1);
    vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 1);
    vm_exit e = g.run();
    vm_set_capability(g.cpu[0], VM_CAP_MTRAP_EXIT, 0);
    vm_set_step_over(g.cpu[0], 0);
    g.mem[at] = 0xcc;
    return e.exitcode == VM_EXITCODE_MTRAP ? g.reg(VM_REG_GUEST_RIP) : ~uint64_t{0};
  };
  bool ok = true;
  int i = 0;
  for (; i < 300 && ok; i++) {
    vm_exit e = g.run();
    ok = e.exitcode == VM_EXITCODE_BPT && e.rip == a && step_over(a, 0xeb) == b;
    e = g.run();
    ok = ok && e.exitcode == VM_EXITCODE_BPT && e.rip == b && step_over(b, 0x48) == kCode + 8;
  }
  check(ok && g.reg(VM_REG_GUEST_RAX) == 300 && g.reg(VM_REG_GUEST_RBX) == 300,
        "300 steps over two breakpoints in a row, the bytes swapped without dropping code (" +
            std::to_string(i) + " rounds, rax " + hex(g.reg(VM_REG_GUEST_RAX)) + ")");
  // The instruction under A changes (jmp +5 -> nop; nop) through a write the
  // host reports: the step over A runs the new one.
  g.mem[a + 1] = 0x90;
  vm_code_modified(g.ctx, a + 1, 1);
  vm_exit e = g.run();
  uint64_t stopped = step_over(a, 0x90);
  check(e.exitcode == VM_EXITCODE_BPT && e.rip == a && stopped == a + 1,
        "a step over after the code under the breakpoint changed runs the new code (stopped at " +
            hex(stopped) + ")");
  check(vm_set_step_over(nullptr, 1) == -1 && errno == EINVAL, "vm_set_step_over(NULL) is EINVAL");
}

// vm_set_run_budget: a run ends with BOGUS once its budget is spent, from a
// busy loop and from a halt alike; an exit of the guest's comes first.
void test_run_budget() {
  Guest g("f-budget");
  g.put(kCode, {0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x03, 0x00,  // inc qword [0x30000]
                0xeb, 0xf6});                                    // jmp back
  vm_set_run_budget(g.cpu[0], 2000);
  vm_exit e = g.run();
  uint64_t rip = g.reg(VM_REG_GUEST_RIP);
  uint64_t c1 = *g.counter(kData);
  check(e.exitcode == VM_EXITCODE_BOGUS && e.inst_length == 0 && e.rip == rip &&
            (rip == kCode || rip == kCode + 8) && c1 > 0,
        "a busy loop's run ends with BOGUS at an instruction boundary (rip " + hex(rip) +
            ", counter " + std::to_string(c1) + ")");
  e = g.run();
  check(e.exitcode == VM_EXITCODE_BOGUS && *g.counter(kData) > c1,
        "the budget holds for the next run too, which goes on from there");

  Guest h("f-budget-hlt");
  h.put(kCode, {0xfb, 0xf4, 0xeb, 0xfd});  // sti; hlt; jmp back to the hlt
  vm_set_run_budget(h.cpu[0], 2000);
  e = h.run();
  check(e.exitcode == VM_EXITCODE_BOGUS,
        "a run halted with interrupts on (no HLT exits) ends with BOGUS (exit " +
            std::to_string(e.exitcode) + ")");

  Guest k("f-budget-bpt");
  k.put(kCode, {0x90, 0xcc, 0xf4});
  vm_set_capability(k.cpu[0], VM_CAP_BPT_EXIT, 1);
  vm_set_run_budget(k.cpu[0], 2000);
  e = k.run();
  check(e.exitcode == VM_EXITCODE_BPT && e.rip == kCode + 1,
        "an int3 within the budget exits as BPT");
  vm_set_run_budget(k.cpu[0], 0);
  vm_set_capability(k.cpu[0], VM_CAP_HALT_EXIT, 1);
  e = k.run();
  check(e.exitcode == VM_EXITCODE_HLT, "budget 0: the run goes on to the guest's next exit");
  check(vm_set_run_budget(nullptr, 1) == -1 && errno == EINVAL,
        "vm_set_run_budget(NULL) is EINVAL");
}

}  // namespace

int main() {
  auto start = Clock::now();
  test_single_step();
  test_bpt_and_io();
  test_pause_resume();
  test_page_walk_and_pf();
  test_pit_timer();
  test_pit_channel2();
  test_smp_startup();
  test_code_modified();
  test_debug_slots();
  test_step_run_cycles();
  test_write_then_step_and_run();
  test_write_chained();
  test_write_cross_page();
  test_write_log();
  test_write_other_vcpu();
  test_breakpoint_cycle();
  test_run_budget();
  test_step_over_keeping_code();
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("fakevmm: %d passed, %d failed (%.2f s)\n", g_passed, g_failed, s);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
