/* Platform shims the firmware glue uses around the engine: wall-clock time, logging and a small
 * key-value store (for the installed module, its manifest and the last good module's slot).
 * The engine itself never calls these for time: it takes now_ms from its caller, so tests run
 * on virtual time. One implementation per platform: lsh_platform_posix.c (tests, CLI) and
 * lsh_platform_esp.c (ESP-IDF: esp_timer/gettimeofday, ESP_LOGx, NVS). */
#ifndef LSH_PLATFORM_H
#define LSH_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_result.h"

typedef enum lsh_log_level {
    LSH_LOG_ERROR = 0,
    LSH_LOG_WARN = 1,
    LSH_LOG_INFO = 2,
    LSH_LOG_DEBUG = 3,
} lsh_log_level_t;

/* Milliseconds since the Unix epoch (the core aligns rotation to wall-clock epochs). */
double lsh_platform_now_ms(void);

/* Monotonic milliseconds since an arbitrary start, for measuring durations. */
double lsh_platform_monotonic_ms(void);

void lsh_platform_log(lsh_log_level_t level, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Keys: 1..15 characters of [a-z0-9_] (NVS key rules). read: lsh_err_store when absent or
 * larger than capacity_bytes. write: replaces the value atomically. */
lsh_result_t lsh_platform_store_read(const char *key, uint8_t *buffer, size_t capacity_bytes, size_t *size_out);
lsh_result_t lsh_platform_store_write(const char *key, const uint8_t *data, size_t size_bytes);

/* Module slots for lsh_slots.c: one whole signed package per slot (0 = A, 1 = B).
 * read: lsh_err_store when empty, unreadable or larger than capacity_bytes.
 * write: a failed or torn write may leave the slot unreadable or not verifying, never
 * verifying with other contents (the package's signature and hash are checked on every read);
 * the slot manager writes a slot only when no state refers to it.
 * POSIX: the store keys "mod_slot_a" / "mod_slot_b" (files, written atomically).
 * ESP-IDF: the data partitions "lsh_slot_a" / "lsh_slot_b" (a u32 length, then the package):
 * packages are larger than an NVS partition should hold. */
lsh_result_t lsh_platform_slot_read(unsigned slot, uint8_t *buffer, size_t capacity_bytes, size_t *size_out);
lsh_result_t lsh_platform_slot_write(unsigned slot, const uint8_t *data, size_t size_bytes);

#endif /* LSH_PLATFORM_H */
