/*
 * Fake vmm (Linux): the FreeBSD <sys/cpuset.h> names that libvmmapi users need.
 *
 * cpuset_t is glibc's cpu_set_t (1024 bits), so the glibc CPU_* macros and the
 * FreeBSD ones, which take the same arguments, are one and the same here.
 */
#ifndef FAKEVMM_SYS_CPUSET_H
#define FAKEVMM_SYS_CPUSET_H

#include <sched.h>

typedef cpu_set_t cpuset_t;

#ifndef CPU_SETSIZE
#define CPU_SETSIZE __CPU_SETSIZE
#endif
#ifndef CPU_SET
#define CPU_SET(n, p) __CPU_SET_S((n), sizeof(cpuset_t), (p))
#endif
#ifndef CPU_CLR
#define CPU_CLR(n, p) __CPU_CLR_S((n), sizeof(cpuset_t), (p))
#endif
#ifndef CPU_ISSET
#define CPU_ISSET(n, p) __CPU_ISSET_S((n), sizeof(cpuset_t), (p))
#endif
#ifndef CPU_ZERO
#define CPU_ZERO(p) __CPU_ZERO_S(sizeof(cpuset_t), (p))
#endif
#ifndef CPU_COUNT
#define CPU_COUNT(p) __CPU_COUNT_S(sizeof(cpuset_t), (p))
#endif
#ifndef CPU_EMPTY
#define CPU_EMPTY(p) (CPU_COUNT(p) == 0)
#endif

#endif /* FAKEVMM_SYS_CPUSET_H */
