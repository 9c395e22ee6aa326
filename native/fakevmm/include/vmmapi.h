/*
 * Fake vmm (Linux): FreeBSD's libvmmapi API (the calls FreeBSD 14 and 15
 * share, amd64, with the 'struct vcpu *' handles), implemented on the Unicorn
 * CPU emulator. Non-FreeBSD extensions are in <fakevmm.h>.
 *
 * Every call returns -1 (or NULL) with errno set on failure, as libvmmapi does.
 */
#ifndef FAKEVMM_VMMAPI_H
#define FAKEVMM_VMMAPI_H

#include <machine/vmm.h>
#include <machine/vmm_dev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/cpuset.h>
#include <sys/param.h>

#define VMMAPI_VERSION 0200

struct vcpu;
struct vmctx;

enum vm_mmap_style {
  VM_MMAP_NONE,
  VM_MMAP_ALL,
  VM_MMAP_SPARSE,
};

#define VM_MEM_F_INCORE 0x01
#define VM_MEM_F_WIRED 0x02

enum {
  VM_SYSMEM,
  VM_BOOTROM,
  VM_FRAMEBUFFER,
  VM_PCIROM,
};

#ifdef __cplusplus
extern "C" {
#endif

/* VM lifecycle. VMs live in an in-process registry keyed by name. */
int vm_create(const char* name);
struct vmctx* vm_open(const char* name);
void vm_close(struct vmctx* ctx);
void vm_destroy(struct vmctx* ctx);
struct vcpu* vm_vcpu_open(struct vmctx* ctx, int vcpuid);
void vm_vcpu_close(struct vcpu* vcpu);
int vcpu_id(struct vcpu* vcpu);
const char* vm_get_name(struct vmctx* ctx);

/* Guest memory: low memory at GPA 0 up to 3 GiB, the rest from 4 GiB. */
int vm_parse_memsize(const char* optarg, size_t* memsize);
int vm_setup_memory(struct vmctx* ctx, size_t len, enum vm_mmap_style s);
void* vm_map_gpa(struct vmctx* ctx, vm_paddr_t gaddr, size_t len);
vm_paddr_t vm_rev_map_gpa(struct vmctx* ctx, void* addr);
uint32_t vm_get_lowmem_limit(struct vmctx* ctx);
void vm_set_memflags(struct vmctx* ctx, int flags);
int vm_get_memflags(struct vmctx* ctx);
size_t vm_get_lowmem_size(struct vmctx* ctx);
size_t vm_get_highmem_size(struct vmctx* ctx);

/* Guest-linear to guest-physical translation through the guest page tables. */
int vm_gla2gpa(struct vcpu* vcpu, struct vm_guest_paging* paging, uint64_t gla, int prot,
               uint64_t* gpa, int* fault);
int vm_gla2gpa_nofault(struct vcpu* vcpu, struct vm_guest_paging* paging, uint64_t gla, int prot,
                       uint64_t* gpa, int* fault);

/* Registers. Only while the vCPU is outside vm_run() (EBUSY otherwise). */
int vm_set_desc(struct vcpu* vcpu, int reg, uint64_t base, uint32_t limit, uint32_t access);
int vm_get_desc(struct vcpu* vcpu, int reg, uint64_t* base, uint32_t* limit, uint32_t* access);
int vm_get_seg_desc(struct vcpu* vcpu, int reg, struct seg_desc* seg_desc);
int vm_set_register(struct vcpu* vcpu, int reg, uint64_t val);
int vm_get_register(struct vcpu* vcpu, int reg, uint64_t* retval);
int vm_set_register_set(struct vcpu* vcpu, unsigned int count, const int* regnums,
                        uint64_t* regvals);
int vm_get_register_set(struct vcpu* vcpu, unsigned int count, const int* regnums,
                        uint64_t* regvals);
int vcpu_reset(struct vcpu* vcpu);

/* Running. */
int vm_run(struct vcpu* vcpu, struct vm_run* vmrun);
int vm_suspend(struct vmctx* ctx, enum vm_suspend_how how);
int vm_reinit(struct vmctx* ctx);
int vm_restart_instruction(struct vcpu* vcpu);

/* Events. */
int vm_apicid2vcpu(struct vmctx* ctx, int apicid);
int vm_inject_exception(struct vcpu* vcpu, int vector, int errcode_valid, uint32_t errcode,
                        int restart_instruction);
int vm_lapic_irq(struct vcpu* vcpu, int vector);
int vm_lapic_local_irq(struct vcpu* vcpu, int vector);
int vm_isa_assert_irq(struct vmctx* ctx, int atpic_irq, int ioapic_irq);
int vm_isa_deassert_irq(struct vmctx* ctx, int atpic_irq, int ioapic_irq);
int vm_isa_pulse_irq(struct vmctx* ctx, int atpic_irq, int ioapic_irq);
int vm_inject_nmi(struct vcpu* vcpu);
int vm_get_intinfo(struct vcpu* vcpu, uint64_t* i1, uint64_t* i2);
int vm_set_intinfo(struct vcpu* vcpu, uint64_t exit_intinfo);
int vm_get_x2apic_state(struct vcpu* vcpu, enum x2apic_state* s);
int vm_set_x2apic_state(struct vcpu* vcpu, enum x2apic_state s);

/* Capabilities. */
int vm_capability_name2type(const char* capname);
const char* vm_capability_type2name(int type);
int vm_get_capability(struct vcpu* vcpu, enum vm_cap_type cap, int* retval);
int vm_set_capability(struct vcpu* vcpu, enum vm_cap_type cap, int val);

/* vCPU sets: active, suspended (halted for good), and debug (paused). */
int vm_active_cpus(struct vmctx* ctx, cpuset_t* cpus);
int vm_suspended_cpus(struct vmctx* ctx, cpuset_t* cpus);
int vm_debug_cpus(struct vmctx* ctx, cpuset_t* cpus);
int vm_activate_cpu(struct vcpu* vcpu);
int vm_suspend_all_cpus(struct vmctx* ctx);
int vm_suspend_cpu(struct vcpu* vcpu);
int vm_resume_all_cpus(struct vmctx* ctx);
int vm_resume_cpu(struct vcpu* vcpu);

/* Topology. */
int vm_set_topology(struct vmctx* ctx, uint16_t sockets, uint16_t cores, uint16_t threads,
                    uint16_t maxcpus);
int vm_get_topology(struct vmctx* ctx, uint16_t* sockets, uint16_t* cores, uint16_t* threads,
                    uint16_t* maxcpus);

#ifdef __cplusplus
}
#endif

#endif /* FAKEVMM_VMMAPI_H */
