/*
 * Fake vmm (Linux): the user-visible part of FreeBSD's <machine/vmm.h> (amd64).
 *
 * Names, enum values and structure layouts follow FreeBSD 15 so that code
 * written for libvmmapi compiles unchanged. FreeBSD 14.2 differs in two
 * places, marked below: VM_SUSPEND_DESTROY (so VM_SUSPEND_LAST) and struct
 * vm_inout_str's cs_d and cs_base. scripts/freebsd-check.js compares every
 * value and layout here with both releases' headers. Nothing kernel-only is
 * declared.
 */
#ifndef FAKEVMM_MACHINE_VMM_H
#define FAKEVMM_MACHINE_VMM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/cpuset.h>

#ifndef FAKEVMM_VM_TYPES_DEFINED
#define FAKEVMM_VM_TYPES_DEFINED
typedef uint64_t vm_paddr_t;   /* guest-physical address */
typedef uint64_t vm_ooffset_t; /* offset into a memory segment */
#endif

struct vcpu;
struct vm_snapshot_meta;

/* Why a VM stopped running (VM_EXITCODE_SUSPENDED, vm_suspend()). */
enum vm_suspend_how {
  VM_SUSPEND_NONE,
  VM_SUSPEND_RESET,
  VM_SUSPEND_POWEROFF,
  VM_SUSPEND_HALT,
  VM_SUSPEND_TRIPLEFAULT,
  VM_SUSPEND_DESTROY, /* FreeBSD 15; 14.2 has none, and its VM_SUSPEND_LAST is 5 */
  VM_SUSPEND_LAST
};

/* Register numbers for vm_get_register() and friends. */
enum vm_reg_name {
  VM_REG_GUEST_RAX,
  VM_REG_GUEST_RBX,
  VM_REG_GUEST_RCX,
  VM_REG_GUEST_RDX,
  VM_REG_GUEST_RSI,
  VM_REG_GUEST_RDI,
  VM_REG_GUEST_RBP,
  VM_REG_GUEST_R8,
  VM_REG_GUEST_R9,
  VM_REG_GUEST_R10,
  VM_REG_GUEST_R11,
  VM_REG_GUEST_R12,
  VM_REG_GUEST_R13,
  VM_REG_GUEST_R14,
  VM_REG_GUEST_R15,
  VM_REG_GUEST_CR0,
  VM_REG_GUEST_CR3,
  VM_REG_GUEST_CR4,
  VM_REG_GUEST_DR7,
  VM_REG_GUEST_RSP,
  VM_REG_GUEST_RIP,
  VM_REG_GUEST_RFLAGS,
  VM_REG_GUEST_ES,
  VM_REG_GUEST_CS,
  VM_REG_GUEST_SS,
  VM_REG_GUEST_DS,
  VM_REG_GUEST_FS,
  VM_REG_GUEST_GS,
  VM_REG_GUEST_LDTR,
  VM_REG_GUEST_TR,
  VM_REG_GUEST_IDTR,
  VM_REG_GUEST_GDTR,
  VM_REG_GUEST_EFER,
  VM_REG_GUEST_CR2,
  VM_REG_GUEST_PDPTE0,
  VM_REG_GUEST_PDPTE1,
  VM_REG_GUEST_PDPTE2,
  VM_REG_GUEST_PDPTE3,
  VM_REG_GUEST_INTR_SHADOW,
  VM_REG_GUEST_DR0,
  VM_REG_GUEST_DR1,
  VM_REG_GUEST_DR2,
  VM_REG_GUEST_DR3,
  VM_REG_GUEST_DR6,
  VM_REG_GUEST_ENTRY_INST_LENGTH,
  VM_REG_GUEST_FS_BASE,
  VM_REG_GUEST_GS_BASE,
  VM_REG_GUEST_KGS_BASE,
  VM_REG_GUEST_TPR,
  VM_REG_LAST
};

enum x2apic_state { X2APIC_DISABLED, X2APIC_ENABLED, X2APIC_STATE_LAST };

/* Event-injection information (vm_get_intinfo / vm_set_intinfo). */
#define VM_INTINFO_VECTOR(info) ((info)&0xff)
#define VM_INTINFO_DEL_ERRCODE 0x800
#define VM_INTINFO_RSVD 0x7ffff000
#define VM_INTINFO_VALID 0x80000000
#define VM_INTINFO_TYPE 0x700
#define VM_INTINFO_HWINTR (0 << 8)
#define VM_INTINFO_NMI (2 << 8)
#define VM_INTINFO_HWEXCEPTION (3 << 8)
#define VM_INTINFO_SWINTR (4 << 8)

/* Optional per-vCPU behaviours (vm_get_capability / vm_set_capability). */
enum vm_cap_type {
  VM_CAP_HALT_EXIT,
  VM_CAP_MTRAP_EXIT,
  VM_CAP_PAUSE_EXIT,
  VM_CAP_UNRESTRICTED_GUEST,
  VM_CAP_ENABLE_INVPCID,
  VM_CAP_BPT_EXIT,
  VM_CAP_RDPID,
  VM_CAP_RDTSCP,
  VM_CAP_IPI_EXIT,
  VM_CAP_MASK_HWINTR,
  VM_CAP_RFLAGS_TF,
  VM_CAP_MAX
};

enum vm_intr_trigger { EDGE_TRIGGER, LEVEL_TRIGGER };

/*
 * A segment register's hidden part. 'access' uses the VMX access-rights
 * layout: type bits 0-3, S bit 4, DPL bits 5-6, P bit 7, AVL bit 12, L bit 13,
 * D/B bit 14, G bit 15, and bit 16 set when the segment is unusable.
 */
struct seg_desc {
  uint64_t base;
  uint32_t limit;
  uint32_t access;
};
#define SEG_DESC_TYPE(access) ((access)&0x001f)
#define SEG_DESC_DPL(access) (((access) >> 5) & 0x3)
#define SEG_DESC_PRESENT(access) (((access)&0x0080) ? 1 : 0)
#define SEG_DESC_DEF32(access) (((access)&0x4000) ? 1 : 0)
#define SEG_DESC_GRANULARITY(access) (((access)&0x8000) ? 1 : 0)
#define SEG_DESC_UNUSABLE(access) (((access)&0x10000) ? 1 : 0)

enum vm_cpu_mode {
  CPU_MODE_REAL,
  CPU_MODE_PROTECTED,
  CPU_MODE_COMPATIBILITY, /* long mode, CS.L clear */
  CPU_MODE_64BIT,         /* long mode, CS.L set */
};

enum vm_paging_mode {
  PAGING_MODE_FLAT,
  PAGING_MODE_32,
  PAGING_MODE_PAE,
  PAGING_MODE_64,
  PAGING_MODE_64_LA57,
};

/* What a linear-to-physical translation needs to know about the vCPU. */
struct vm_guest_paging {
  uint64_t cr3;
  int cpl;
  enum vm_cpu_mode cpu_mode;
  enum vm_paging_mode paging_mode;
};

/* Instruction-decoder state; only here because struct vm_exit embeds it. */
struct vie_op {
  uint8_t op_byte;
  uint8_t op_type;
  uint16_t op_flags;
};

#define VIE_INST_SIZE 15
struct vie {
  uint8_t inst[VIE_INST_SIZE];
  uint8_t num_valid;
  uint8_t num_processed;
  uint8_t addrsize : 4, opsize : 4;
  uint8_t rex_w : 1, rex_r : 1, rex_x : 1, rex_b : 1, rex_present : 1, repz_present : 1,
      repnz_present : 1, opsize_override : 1, addrsize_override : 1, segment_override : 1;
  uint8_t mod : 2, reg : 4, rm : 4;
  uint8_t ss : 2, vex_present : 1, vex_l : 1, index : 4, base : 4;
  uint8_t disp_bytes;
  uint8_t imm_bytes;
  uint8_t scale;
  uint8_t vex_reg : 4, vex_pp : 2, _sparebits : 2;
  uint8_t _sparebytes[2];
  int base_register;
  int index_register;
  int segment_register;
  int64_t displacement;
  int64_t immediate;
  uint8_t decoded;
  uint8_t _sparebyte;
  struct vie_op op;
};

/* Why vm_run() returned. */
enum vm_exitcode {
  VM_EXITCODE_INOUT,
  VM_EXITCODE_VMX,
  VM_EXITCODE_BOGUS,
  VM_EXITCODE_RDMSR,
  VM_EXITCODE_WRMSR,
  VM_EXITCODE_HLT,
  VM_EXITCODE_MTRAP,
  VM_EXITCODE_PAUSE,
  VM_EXITCODE_PAGING,
  VM_EXITCODE_INST_EMUL,
  VM_EXITCODE_SPINUP_AP,
  VM_EXITCODE_DEPRECATED1,
  VM_EXITCODE_RENDEZVOUS,
  VM_EXITCODE_IOAPIC_EOI,
  VM_EXITCODE_SUSPENDED,
  VM_EXITCODE_INOUT_STR,
  VM_EXITCODE_TASK_SWITCH,
  VM_EXITCODE_MONITOR,
  VM_EXITCODE_MWAIT,
  VM_EXITCODE_SVM,
  VM_EXITCODE_REQIDLE,
  VM_EXITCODE_DEBUG,
  VM_EXITCODE_VMINSN,
  VM_EXITCODE_BPT,
  VM_EXITCODE_IPI,
  VM_EXITCODE_DB,
  VM_EXITCODE_MAX
};

struct vm_inout {
  uint16_t bytes : 3; /* access size: 1, 2 or 4 */
  uint16_t in : 1;    /* 1 for IN, 0 for OUT */
  uint16_t string : 1;
  uint16_t rep : 1;
  uint16_t port;
  uint32_t eax; /* the value written, for OUT */
};

struct vm_inout_str {
  struct vm_inout inout;
  struct vm_guest_paging paging;
  uint64_t rflags;
  uint64_t cr0;
  uint64_t index;
  uint64_t count;
  int addrsize;
  enum vm_reg_name seg_name;
  struct seg_desc seg_desc;
  int cs_d; /* cs_d and cs_base: FreeBSD 15 (88 bytes in 14.2, 104 here) */
  uint64_t cs_base;
};

enum task_switch_reason { TSR_CALL, TSR_IRET, TSR_JMP, TSR_IDT_GATE };

struct vm_task_switch {
  uint16_t tsssel;
  int ext;
  uint32_t errcode;
  int errcode_valid;
  enum task_switch_reason reason;
  struct vm_guest_paging paging;
};

struct vm_exit {
  enum vm_exitcode exitcode;
  int inst_length; /* length of the instruction at 'rip'; 0 if none/unknown */
  uint64_t rip;
  union {
    struct vm_inout inout;
    struct vm_inout_str inout_str;
    struct {
      uint64_t gpa;
      int fault_type;
    } paging;
    struct {
      uint64_t gpa;
      uint64_t gla;
      uint64_t cs_base;
      int cs_d;
      struct vm_guest_paging paging;
      struct vie vie;
    } inst_emul;
    struct {
      int status;
      uint32_t exit_reason;
      uint64_t exit_qualification;
      int inst_type;
      int inst_error;
    } vmx;
    struct {
      uint64_t exitcode;
      uint64_t exitinfo1;
      uint64_t exitinfo2;
    } svm;
    struct {
      int inst_length;
    } bpt;
    struct {
      int trace_trap;
      int pushf_intercept;
      int tf_shadow_val;
      struct vm_guest_paging paging;
    } dbg;
    struct {
      uint32_t code;
      uint64_t wval;
    } msr;
    struct {
      int vcpu;
      uint64_t rip;
    } spinup_ap;
    struct {
      uint64_t rflags;
      uint64_t intr_status;
    } hlt;
    struct {
      int vector;
    } ioapic_eoi;
    struct {
      enum vm_suspend_how how;
    } suspended;
    struct {
      uint32_t mode;
      uint8_t vector;
    } ipi;
    struct vm_task_switch task_switch;
  } u;
};

#ifdef __cplusplus
static_assert(sizeof(struct vie) == 64, "struct vie layout");
static_assert(offsetof(struct vie, disp_bytes) == 22, "struct vie layout");
static_assert(offsetof(struct vie, base_register) == 28, "struct vie layout");
#endif

#endif /* FAKEVMM_MACHINE_VMM_H */
