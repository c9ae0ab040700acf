/* The emulated board of the bare-metal rv32 build: QEMU's riscv32 `virt` machine standing in
 * for an ESP32-C3 (host-esp32/rv32/esp32c3.ld has the memory map). What a test or a
 * measurement needs from it: stopping QEMU with an exit code, the instruction counter, the
 * machine timer, the stack's high-water mark, the heap's size and a watchdog. */
#ifndef LSH_BOARD_H
#define LSH_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Flushes stdout and stderr and stops QEMU through the virt machine's test device (0x100000):
 * 0x5555 for code 0, (code << 16) | 0x3333 otherwise (QEMU exits with that code). */
void lsh_board_exit(int code) __attribute__((noreturn));

/* Instructions retired (the instret CSR). Under `qemu -icount shift=0` QEMU counts exactly one
 * per instruction executed; without -icount it returns host ticks instead. */
uint64_t lsh_board_instret(void);

/* The machine timer (CLINT mtime; 10 MHz on QEMU's virt machine). */
uint64_t lsh_board_mtime(void);
#define LSH_BOARD_MTIME_HZ 10000000u

/* Main stack: fill its unused part (below the current stack pointer) with a pattern, then
 * read how deep the stack has reached since: bytes from the stack's top to the deepest word
 * that was written. */
void lsh_board_stack_paint(void);
size_t lsh_board_stack_high_water_bytes(void);
size_t lsh_board_stack_size_bytes(void);

/* The fixed heap (the linker script's lsh_heap_fixed_bytes): its size, and how much of it
 * malloc has taken from the system so far (picolibc's malloc grows through sbrk and keeps
 * what it took: a high-water mark of the whole heap, allocator overhead included). */
size_t lsh_board_heap_size_bytes(void);
size_t lsh_board_heap_taken_bytes(void);

/* Runs fn(arg) with a watchdog: when fn has not returned after timeout_ms of machine time, a
 * timer interrupt abandons it (as a watchdog reset abandons the task on a board; nothing fn
 * allocated is freed). Returns 1 when the watchdog fired, 0 when fn returned. */
int lsh_board_run_with_watchdog(void (*fn)(void *), void *arg, uint32_t timeout_ms);

#endif /* LSH_BOARD_H */
