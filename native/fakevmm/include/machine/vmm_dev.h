/*
 * Fake vmm (Linux): the argument structures of FreeBSD's <machine/vmm_dev.h>
 * that libvmmapi's calls expose. There is no /dev/vmm here, so no ioctl
 * numbers are defined.
 */
#ifndef FAKEVMM_MACHINE_VMM_DEV_H
#define FAKEVMM_MACHINE_VMM_DEV_H

#include <machine/vmm.h>

/* Argument of vm_run(): where to store the exit and the vCPU set. */
struct vm_run {
  int cpuid;
  cpuset_t* cpuset; /* storage for a vCPU set some exits report; may be NULL */
  size_t cpusetsize;
  struct vm_exit* vm_exit; /* filled in by vm_run(); must not be NULL */
};

struct vm_register {
  int cpuid;
  int regnum;
  uint64_t regval;
};

struct vm_seg_desc {
  int cpuid;
  int regnum;
  struct seg_desc desc;
};

struct vm_register_set {
  int cpuid;
  unsigned int count;
  const int* regnums;
  uint64_t* regvals;
};

struct vm_exception {
  int cpuid;
  int vector;
  uint32_t error_code;
  int error_code_valid;
  int restart_instruction;
};

struct vm_lapic_irq {
  int cpuid;
  int vector;
};

struct vm_capability {
  int cpuid;
  enum vm_cap_type captype;
  int capval;
  int allcpus;
};

struct vm_suspend {
  enum vm_suspend_how how;
};

struct vm_gla2gpa {
  int vcpuid;
  int prot;
  uint64_t gla;
  struct vm_guest_paging paging;
  int fault;
  uint64_t gpa;
};

struct vm_activate_cpu {
  int vcpuid;
};

struct vm_cpuset {
  int which;
  int cpusetsize;
  cpuset_t* cpus;
};
#define VM_ACTIVE_CPUS 0
#define VM_SUSPENDED_CPUS 1
#define VM_DEBUG_CPUS 2

struct vm_intinfo {
  int vcpuid;
  uint64_t info1;
  uint64_t info2;
};

#endif /* FAKEVMM_MACHINE_VMM_DEV_H */
