/* The emulated board (see lsh_board.h): QEMU's riscv32 virt machine, machine mode, no OS. */
#include "lsh_board.h"

#include <setjmp.h>
#include <stdio.h>

/* QEMU virt: the SiFive test device stops the machine; the CLINT holds the machine timer. */
#define BOARD_TEST_DEVICE ((volatile uint32_t *)0x00100000u)
#define BOARD_MTIMECMP_LO ((volatile uint32_t *)0x02004000u)
#define BOARD_MTIMECMP_HI ((volatile uint32_t *)0x02004004u)
#define BOARD_MTIME_LO ((volatile uint32_t *)0x0200bff8u)
#define BOARD_MTIME_HI ((volatile uint32_t *)0x0200bffcu)

#define STACK_PAINT 0x5aa5c33cu

/* From the linker script (host-esp32/rv32/esp32c3.ld and picolibc.ld). */
extern char __stack[];
extern char __stack_size[];
extern char __heap_start[];
extern char __heap_end[];

/* The CSRs are named with the Zicsr extension: on for these instructions only, so the rest of
 * the program stays plain rv32imc. */
#define CSR_READ(name, out) __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, " #name "\n.option pop" : "=r"(out))
#define CSR_WRITE(name, value) __asm__ volatile(".option push\n.option arch, +zicsr\ncsrw " #name ", %0\n.option pop" : : "r"(value))
#define CSR_SET(name, bits) __asm__ volatile(".option push\n.option arch, +zicsr\ncsrs " #name ", %0\n.option pop" : : "r"(bits))
#define CSR_CLEAR(name, bits) __asm__ volatile(".option push\n.option arch, +zicsr\ncsrc " #name ", %0\n.option pop" : : "r"(bits))

void lsh_board_exit(int code) {
    fflush(stdout);
    fflush(stderr);
    *BOARD_TEST_DEVICE = code == 0 ? 0x5555u : (((uint32_t)code & 0xffffu) << 16) | 0x3333u;
    for (;;) {
    }
}

uint64_t lsh_board_instret(void) {
    uint32_t hi, lo, hi2;
    do {
        CSR_READ(instreth, hi);
        CSR_READ(instret, lo);
        CSR_READ(instreth, hi2);
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

uint64_t lsh_board_mtime(void) {
    uint32_t hi, lo, hi2;
    do {
        hi = *BOARD_MTIME_HI;
        lo = *BOARD_MTIME_LO;
        hi2 = *BOARD_MTIME_HI;
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

size_t lsh_board_stack_size_bytes(void) { return (size_t)__stack_size; }

static uint32_t *stack_bottom(void) { return (uint32_t *)(void *)(__stack - (size_t)__stack_size); }

void lsh_board_stack_paint(void) {
    uintptr_t sp = 0;
    __asm__ volatile("mv %0, sp" : "=r"(sp));
    /* Leave 256 bytes below this frame alone: the calls that paint are still using them. */
    const uintptr_t end = (sp - 256u) & ~(uintptr_t)3u;
    for (uintptr_t p = (uintptr_t)stack_bottom(); p < end; p += 4u) *(volatile uint32_t *)p = STACK_PAINT;
}

size_t lsh_board_stack_high_water_bytes(void) {
    const uint32_t *p = stack_bottom();
    while ((char *)p < __stack && *p == STACK_PAINT) p++;
    return (size_t)(__stack - (char *)p);
}

size_t lsh_board_heap_size_bytes(void) { return (size_t)(__heap_end - __heap_start); }

size_t lsh_board_heap_taken_bytes(void) {
    extern void *sbrk(ptrdiff_t increment);
    char *brk = sbrk(0);
    return brk == (char *)-1 ? 0 : (size_t)(brk - __heap_start);
}

/* ---- the watchdog: the machine timer interrupt jumps back out of the abandoned call ---- */

static jmp_buf watchdog_jump;

static void stop_timer(void) {
    CSR_CLEAR(mie, 1u << 7);     /* MTIE */
    CSR_CLEAR(mstatus, 1u << 3); /* MIE */
    *BOARD_MTIMECMP_HI = 0xffffffffu;
    *BOARD_MTIMECMP_LO = 0xffffffffu;
}

/* Taken with interrupts off (the hart clears MIE on a trap); it never returns to the
 * interrupted code, exactly as a watchdog reset never does. */
__attribute__((interrupt("machine"), aligned(4))) static void watchdog_trap(void) {
    uint32_t cause = 0;
    CSR_READ(mcause, cause);
    if (cause == 0x80000007u) {
        stop_timer();
        longjmp(watchdog_jump, 1);
    }
    /* Any other trap is a crash: say so and stop the machine. */
    uint32_t epc = 0;
    CSR_READ(mepc, epc);
    fprintf(stderr, "board: unexpected trap, mcause 0x%08lx at 0x%08lx\n", (unsigned long)cause, (unsigned long)epc);
    lsh_board_exit(99);
}

int lsh_board_run_with_watchdog(void (*fn)(void *), void *arg, uint32_t timeout_ms) {
    uint32_t saved_mtvec = 0;
    CSR_READ(mtvec, saved_mtvec);
    if (setjmp(watchdog_jump) != 0) {
        CSR_WRITE(mtvec, saved_mtvec);
        return 1;
    }
    CSR_WRITE(mtvec, (uint32_t)(uintptr_t)&watchdog_trap);
    const uint64_t deadline = lsh_board_mtime() + (uint64_t)timeout_ms * (LSH_BOARD_MTIME_HZ / 1000u);
    *BOARD_MTIMECMP_HI = 0xffffffffu; /* no spurious interrupt while the two halves are written */
    *BOARD_MTIMECMP_LO = (uint32_t)deadline;
    *BOARD_MTIMECMP_HI = (uint32_t)(deadline >> 32);
    CSR_SET(mie, 1u << 7);
    CSR_SET(mstatus, 1u << 3);
    fn(arg);
    stop_timer();
    CSR_WRITE(mtvec, saved_mtvec);
    return 0;
}
