// Fake vmm: VM registry and lifecycle, guest memory, vCPU handles, vCPU sets,
// topology, vm_code_modified and the per-VM ticker thread.
#include <errno.h>
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>

#include "fakevmm_impl.h"
#include "uc_internal.h"

using fakevmm::Clock;
using fakevmm::VmCtx;

namespace {

std::mutex g_registry_mu;
std::map<std::string, vmctx*>& registry() {
  static std::map<std::string, vmctx*> r;
  return r;
}

template <typename T>
T fail(int err, T value) {
  errno = err;
  return value;
}

// Guest-physical ranges between RAM and 4 GiB read as all ones and ignore
// writes, like an empty PCI hole.
uint64_t hole_read(uc_engine*, uint64_t, unsigned, void*) { return ~0ull; }
void hole_write(uc_engine*, uint64_t, unsigned, uint64_t, void*) {}

uint64_t lapic_mmio_read(uc_engine*, uint64_t offset, unsigned, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  std::lock_guard<std::mutex> lk(v->ctx->mu);
  return fakevmm::lapic_read(v, static_cast<uint32_t>(offset));
}

void lapic_mmio_write(uc_engine*, uint64_t offset, unsigned, uint64_t value, void* user) {
  vcpu* v = static_cast<vcpu*>(user);
  std::lock_guard<std::mutex> lk(v->ctx->mu);
  fakevmm::lapic_write(v, static_cast<uint32_t>(offset), static_cast<uint32_t>(value));
}

void ticker_main(VmCtx* ctx) {
  std::unique_lock<std::mutex> lk(ctx->mu);
  while (!ctx->ticker_stop) {
    ctx->ticker_cv.wait_for(lk, std::chrono::microseconds(1000));
    if (ctx->ticker_stop) {
      break;
    }
    Clock::time_point now = Clock::now();
    fakevmm::atpit_update(ctx, now);
    for (vcpu* v : ctx->vcpus) {
      if (v == nullptr) {
        continue;
      }
      fakevmm::lapic_timer_update(v, now);
      bool pending = fakevmm::lapic_pending_vector(v) >= 0 || v->nmi_pending ||
                     (v->id == 0 && fakevmm::atpic_pending_vector(ctx) >= 0);
      if (v->in_emu) {
        bool slice_over =
            !ctx->run_queue.empty() && now - v->slice_start > std::chrono::microseconds(2000);
        bool budget_spent = now >= v->run_deadline;
        if (v->kick || slice_over || budget_spent || (pending && !v->caps[VM_CAP_MASK_HWINTR])) {
          // Also retries a stop that raced with the start of uc_emu_start.
          fakevmm::kick_locked(v);
        }
      } else if (pending && v->halted) {
        v->cv.notify_all();
      }
    }
  }
}

}  // namespace

namespace fakevmm {

uint8_t* gpa_ptr(VmCtx* ctx, uint64_t gpa, size_t len) {
  if (ctx->mem == nullptr) {
    return nullptr;
  }
  if (gpa < ctx->lowmem && len <= ctx->lowmem - gpa) {
    return ctx->mem + gpa;
  }
  if (gpa >= kHighmemBase && gpa - kHighmemBase < ctx->highmem &&
      len <= ctx->highmem - (gpa - kHighmemBase)) {
    return ctx->mem + ctx->lowmem + (gpa - kHighmemBase);
  }
  return nullptr;
}

bool map_ram_into(VmCtx* ctx, uc_engine* uc) {
  if (uc_mem_map_ptr(uc, 0, ctx->lowmem, UC_PROT_ALL, ctx->mem) != UC_ERR_OK) {
    return false;
  }
  if (ctx->highmem > 0 && uc_mem_map_ptr(uc, kHighmemBase, ctx->highmem, UC_PROT_ALL,
                                         ctx->mem + ctx->lowmem) != UC_ERR_OK) {
    return false;
  }
  if (ctx->lowmem < kLapicBase && uc_mmio_map(uc, ctx->lowmem, kLapicBase - ctx->lowmem, hole_read,
                                              nullptr, hole_write, nullptr) != UC_ERR_OK) {
    return false;
  }
  uint64_t above = kLapicBase + kPageSize;
  if (uc_mmio_map(uc, above, kHighmemBase - above, hole_read, nullptr, hole_write, nullptr) !=
      UC_ERR_OK) {
    return false;
  }
  return true;
}

int host_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  return n < 1 ? 1 : n > FAKEVMM_MAXCPU ? FAKEVMM_MAXCPU : n;
}

namespace {

// Above this many bytes one write drops all translated code: cheaper than
// looking up every page (and such writes load images, before code runs).
constexpr uint64_t kExactInvalidateMax = 1ull << 20;

// Drops the blocks translated from `len` bytes at `offset` in ctx->mem, and
// the engine's mark on the pages where none is left.
void drop_code_piece(vcpu* v, size_t offset, size_t len) {
  fvi_invalidate_code(v->uc, v->ctx->mem + offset, len);
  forget_own_code(v, offset, len);
}

// Drops the blocks translated from the guest RAM in [gpa, gpa + len); the
// rest of the range has no RAM, so no code was translated from it.
void drop_code_range(vcpu* v, uint64_t gpa, uint64_t len) {
  VmCtx* ctx = v->ctx;
  const uint64_t end = gpa + len < gpa ? ~0ull : gpa + len;
  if (gpa < ctx->lowmem) {
    drop_code_piece(v, gpa, std::min<uint64_t>(end, ctx->lowmem) - gpa);
  }
  const uint64_t high_begin = std::max(gpa, kHighmemBase);
  const uint64_t high_end = std::min(end, kHighmemBase + ctx->highmem);
  if (high_begin < high_end) {
    drop_code_piece(v, ctx->lowmem + (high_begin - kHighmemBase), high_end - high_begin);
  }
}

}  // namespace

void drop_stale_code(vcpu* v) {
  VmCtx* ctx = v->ctx;
  const uint64_t gen = ctx->code_gen;
  bool flush = gen - v->code_gen_seen > kCodeWriteLog;  // the ring lost some
  for (uint64_t g = v->code_gen_seen; g < gen && !flush; g++) {
    const CodeWrite& w = ctx->code_writes[g % kCodeWriteLog];
    if (w.writer == v->id) {
      continue;  // this engine's own write: QEMU dropped its blocks as it wrote
    }
    flush = w.len > kExactInvalidateMax;
    if (!flush) {
      drop_code_range(v, w.gpa, w.len);
    }
  }
  if (flush) {
    uc_ctl_flush_tb(v->uc);
    forget_all_own_code(v);
  }
  v->code_gen_seen = gen;
}

void start_ticker(VmCtx* ctx) {
  if (!ctx->ticker_started) {
    ctx->ticker_started = true;
    ctx->ticker = std::thread(ticker_main, ctx);
  }
}

}  // namespace fakevmm

extern "C" {

int vm_create(const char* name) {
  if (name == nullptr || name[0] == '\0') {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(g_registry_mu);
  if (registry().count(name) != 0) {
    return fail(EEXIST, -1);
  }
  vmctx* ctx = new vmctx();
  ctx->name = name;
  ctx->run_slots = fakevmm::host_cpus();
  registry()[name] = ctx;
  return 0;
}

struct vmctx* vm_open(const char* name) {
  if (name == nullptr) {
    return fail(EINVAL, static_cast<vmctx*>(nullptr));
  }
  std::lock_guard<std::mutex> lk(g_registry_mu);
  auto it = registry().find(name);
  if (it == registry().end()) {
    return fail(ENOENT, static_cast<vmctx*>(nullptr));
  }
  return it->second;
}

void vm_close(struct vmctx*) {
  // Handles are the VM itself; closing one keeps the VM (vm_destroy ends it).
}

void vm_destroy(struct vmctx* ctx) {
  if (ctx == nullptr) {
    return;
  }
  {
    std::lock_guard<std::mutex> lk(g_registry_mu);
    registry().erase(ctx->name);
  }
  {
    std::lock_guard<std::mutex> lk(ctx->mu);
    ctx->destroyed = true;
    ctx->ticker_stop = true;
    if (ctx->suspend_how == VM_SUSPEND_NONE) {
      ctx->suspend_how = VM_SUSPEND_DESTROY;
    }
    for (vcpu* v : ctx->vcpus) {
      if (v != nullptr) {
        fakevmm::kick_locked(v);
      }
    }
    ctx->ticker_cv.notify_all();
  }
  if (ctx->ticker.joinable()) {
    ctx->ticker.join();
  }
  for (vcpu*& v : ctx->vcpus) {
    if (v != nullptr) {
      uc_close(v->uc);
      delete v;
      v = nullptr;
    }
  }
  if (ctx->mem != nullptr) {
    munmap(ctx->mem, ctx->mem_len);
  }
  delete ctx;
}

struct vcpu* vm_vcpu_open(struct vmctx* ctx, int vcpuid) {
  if (ctx == nullptr || vcpuid < 0 || vcpuid >= FAKEVMM_MAXCPU) {
    return fail(EINVAL, static_cast<vcpu*>(nullptr));
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  if (ctx->vcpus[vcpuid] != nullptr) {
    return ctx->vcpus[vcpuid];
  }
  vcpu* v = new vcpu();
  v->ctx = ctx;
  v->id = vcpuid;
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &v->uc) != UC_ERR_OK) {
    delete v;
    return fail(ENOMEM, static_cast<vcpu*>(nullptr));
  }
  // Unicorn's default code buffer is 1 GiB per engine, and translated code is
  // reclaimed only when the buffer is full: every breakpoint hit retranslates
  // the blocks its lift and plant invalidate, so RSS climbed toward 1 GiB per
  // vCPU. 32 MiB (QEMU's default before 5.2) bounds it; a full buffer flushes.
  bool ok = uc_ctl_set_tcg_buffer_size(v->uc, 32u << 20) == UC_ERR_OK &&
            uc_ctl_exits_enable(v->uc) == UC_ERR_OK &&
            uc_mmio_map(v->uc, fakevmm::kLapicBase, fakevmm::kPageSize, lapic_mmio_read, v,
                        lapic_mmio_write, v) == UC_ERR_OK &&
            (ctx->mem == nullptr || fakevmm::map_ram_into(ctx, v->uc)) &&
            fakevmm::install_hooks(v) && fakevmm::offer_tsc_frequency(v);
  if (!ok) {
    uc_close(v->uc);
    delete v;
    return fail(ENOMEM, static_cast<vcpu*>(nullptr));
  }
  // APIC ID == vCPU id: packages, cores and threads as vm_set_topology says,
  // APIC IDs numbered through them (one package of cores by default).
  fvi_set_cpu_identity(v->uc, static_cast<uint32_t>(vcpuid), ctx->cores, ctx->threads);
  v->code_gen_seen = ctx->code_gen;  // a new engine has translated nothing
  fakevmm::attach_code_record(v);
  fakevmm::reset_registers(v);
  ctx->vcpus[vcpuid] = v;
  ctx->vcpu_count++;
  return v;
}

void vm_vcpu_close(struct vcpu*) {
  // The vCPU lives as long as its VM; the handle stays valid until vm_destroy.
}

int vcpu_id(struct vcpu* vcpu) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  return vcpu->id;
}

const char* vm_get_name(struct vmctx* ctx) {
  if (ctx == nullptr) {
    return fail(EINVAL, static_cast<const char*>(nullptr));
  }
  return ctx->name.c_str();
}

int vm_parse_memsize(const char* optarg, size_t* memsize) {
  if (optarg == nullptr || memsize == nullptr) {
    return fail(EINVAL, -1);
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long n = strtoull(optarg, &end, 0);
  if (errno != 0 || end == optarg) {
    return fail(EINVAL, -1);
  }
  unsigned long long shift = 0;
  if (*end != '\0') {
    switch (tolower(static_cast<unsigned char>(*end))) {
      case 'k':
        shift = 10;
        break;
      case 'm':
        shift = 20;
        break;
      case 'g':
        shift = 30;
        break;
      case 't':
        shift = 40;
        break;
      default:
        return fail(EINVAL, -1);
    }
    if (end[1] != '\0' && !(tolower(static_cast<unsigned char>(end[1])) == 'b' && end[2] == '\0')) {
      return fail(EINVAL, -1);
    }
  } else if (n < 1024 * 1024) {
    shift = 20;  // a bare small number is in MiB, as in bhyve
  }
  if (shift > 0 && n > (~0ull >> shift)) {
    return fail(ERANGE, -1);
  }
  *memsize = static_cast<size_t>(n << shift);
  return 0;
}

int vm_setup_memory(struct vmctx* ctx, size_t len, enum vm_mmap_style s) {
  if (ctx == nullptr || len == 0 || s != VM_MMAP_ALL) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  if (ctx->mem != nullptr) {
    return fail(EEXIST, -1);
  }
  len = (len + fakevmm::kPageSize - 1) & ~(fakevmm::kPageSize - 1);
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) {
    return fail(ENOMEM, -1);
  }
  ctx->mem = static_cast<uint8_t*>(p);
  ctx->mem_len = len;
  ctx->lowmem = len < fakevmm::kLowmemLimit ? len : fakevmm::kLowmemLimit;
  ctx->highmem = len - ctx->lowmem;
  fakevmm::init_code_pages(ctx);
  for (vcpu* v : ctx->vcpus) {
    if (v != nullptr && !fakevmm::map_ram_into(ctx, v->uc)) {
      return fail(ENOMEM, -1);
    }
  }
  return 0;
}

void* vm_map_gpa(struct vmctx* ctx, vm_paddr_t gaddr, size_t len) {
  if (ctx == nullptr) {
    return fail(EINVAL, static_cast<void*>(nullptr));
  }
  uint8_t* p = fakevmm::gpa_ptr(ctx, gaddr, len);
  if (p == nullptr) {
    return fail(EFAULT, static_cast<void*>(nullptr));
  }
  return p;
}

vm_paddr_t vm_rev_map_gpa(struct vmctx* ctx, void* addr) {
  if (ctx == nullptr || ctx->mem == nullptr) {
    return fail(EINVAL, static_cast<vm_paddr_t>(-1));
  }
  uint8_t* p = static_cast<uint8_t*>(addr);
  if (p >= ctx->mem && p < ctx->mem + ctx->lowmem) {
    return static_cast<vm_paddr_t>(p - ctx->mem);
  }
  if (p >= ctx->mem + ctx->lowmem && p < ctx->mem + ctx->mem_len) {
    return fakevmm::kHighmemBase + static_cast<vm_paddr_t>(p - ctx->mem - ctx->lowmem);
  }
  return fail(EFAULT, static_cast<vm_paddr_t>(-1));
}

uint32_t vm_get_lowmem_limit(struct vmctx*) { return static_cast<uint32_t>(fakevmm::kLowmemLimit); }

void vm_set_memflags(struct vmctx* ctx, int flags) {
  if (ctx != nullptr) {
    ctx->memflags = flags;
  }
}

int vm_get_memflags(struct vmctx* ctx) { return ctx == nullptr ? 0 : ctx->memflags; }

size_t vm_get_lowmem_size(struct vmctx* ctx) { return ctx == nullptr ? 0 : ctx->lowmem; }

size_t vm_get_highmem_size(struct vmctx* ctx) { return ctx == nullptr ? 0 : ctx->highmem; }

int vm_active_cpus(struct vmctx* ctx, cpuset_t* cpus) {
  if (ctx == nullptr || cpus == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  CPU_ZERO(cpus);
  for (vcpu* v : ctx->vcpus) {
    if (v != nullptr && v->active) {
      CPU_SET(v->id, cpus);
    }
  }
  return 0;
}

int vm_suspended_cpus(struct vmctx* ctx, cpuset_t* cpus) {
  if (ctx == nullptr || cpus == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  *cpus = ctx->suspended_set;
  return 0;
}

int vm_debug_cpus(struct vmctx* ctx, cpuset_t* cpus) {
  if (ctx == nullptr || cpus == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  *cpus = ctx->debug_set;
  return 0;
}

int vm_activate_cpu(struct vcpu* vcpu) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  if (vcpu->active) {
    return fail(EBUSY, -1);
  }
  vcpu->active = true;
  return 0;
}

int vm_suspend_cpu(struct vcpu* vcpu) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  CPU_SET(vcpu->id, &vcpu->ctx->debug_set);
  fakevmm::kick_locked(vcpu);
  return 0;
}

int vm_suspend_all_cpus(struct vmctx* ctx) {
  if (ctx == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  for (vcpu* v : ctx->vcpus) {
    if (v != nullptr && v->active) {
      CPU_SET(v->id, &ctx->debug_set);
      fakevmm::kick_locked(v);
    }
  }
  return 0;
}

int vm_resume_cpu(struct vcpu* vcpu) {
  if (vcpu == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(vcpu->ctx->mu);
  if (!CPU_ISSET(vcpu->id, &vcpu->ctx->debug_set)) {
    return fail(EINVAL, -1);
  }
  CPU_CLR(vcpu->id, &vcpu->ctx->debug_set);
  vcpu->cv.notify_all();
  return 0;
}

int vm_resume_all_cpus(struct vmctx* ctx) {
  if (ctx == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  CPU_ZERO(&ctx->debug_set);
  for (vcpu* v : ctx->vcpus) {
    if (v != nullptr) {
      v->cv.notify_all();
    }
  }
  return 0;
}

int vm_set_topology(struct vmctx* ctx, uint16_t sockets, uint16_t cores, uint16_t threads,
                    uint16_t maxcpus) {
  if (ctx == nullptr || sockets == 0 || cores == 0 || threads == 0 ||
      static_cast<int>(sockets) * cores * threads > FAKEVMM_MAXCPU || maxcpus > FAKEVMM_MAXCPU) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  ctx->sockets = sockets;
  ctx->cores = cores;
  ctx->threads = threads;
  for (vcpu* v : ctx->vcpus) {
    if (v != nullptr) {
      fvi_set_cpu_identity(v->uc, static_cast<uint32_t>(v->id), cores, threads);
    }
  }
  ctx->maxcpus = maxcpus == 0 ? FAKEVMM_MAXCPU : maxcpus;
  return 0;
}

int vm_get_topology(struct vmctx* ctx, uint16_t* sockets, uint16_t* cores, uint16_t* threads,
                    uint16_t* maxcpus) {
  if (ctx == nullptr || sockets == nullptr || cores == nullptr || threads == nullptr ||
      maxcpus == nullptr) {
    return fail(EINVAL, -1);
  }
  std::lock_guard<std::mutex> lk(ctx->mu);
  *sockets = ctx->sockets;
  *cores = ctx->cores;
  *threads = ctx->threads;
  *maxcpus = ctx->maxcpus;
  return 0;
}

int vm_reinit(struct vmctx*) { return fail(ENOSYS, -1); }

void vm_code_modified(struct vmctx* ctx, uint64_t gpa, size_t len) {
  if (ctx == nullptr || len == 0) {
    return;
  }
  // Translated code belongs to the engines, each used by its own vCPU's
  // thread: record the write, and each vCPU drops the blocks over it before
  // it next runs (a running one is kicked out of the emulator first).
  std::lock_guard<std::mutex> lk(ctx->mu);
  ctx->code_writes[ctx->code_gen % fakevmm::kCodeWriteLog] = fakevmm::CodeWrite{gpa, len};
  ctx->code_gen++;
  for (vcpu* v : ctx->vcpus) {
    if (v != nullptr && v->in_emu) {
      fakevmm::kick_locked(v);
    }
  }
}

}  // extern "C"
