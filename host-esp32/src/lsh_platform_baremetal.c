/* Bare-metal platform shims (LSH_PLATFORM_BAREMETAL): the rv32 build under QEMU
 * (host-esp32/rv32/), standing in for an ESP32-C3 without ESP-IDF. No OS and no file system:
 *
 * - Time: the machine timer (CLINT mtime, 10 MHz on QEMU's virt machine). Wall-clock time is
 *   that plus an epoch the firmware sets (SNTP on a board): lsh_platform_baremetal_set_epoch_ms.
 * - Logs: stdout (semihosting under QEMU), filtered by a level.
 * - Storage: flash emulated in RAM with flash's rules, laid out as lsh_platform_esp.c lays out
 *   the board's: the module slots are two 20 KiB "partitions" (erased in 4 KiB sectors to 0xff,
 *   programmed by clearing bits only; "LSLT", u32le length, the package; body first, header
 *   last) and the key-value store is a small table of blobs, replaced whole on each write as
 *   an NVS commit is. The RAM sits in its own region outside the 400 KB of SRAM (the linker
 *   script's flash_emulated), as the board's flash does.
 *
 * Test seams (named, used by the rv32 test runner only): erase everything, and make writes fail.
 * Not part of the ESP-IDF or PlatformIO builds (library.json excludes this file). */
#ifdef LSH_PLATFORM_BAREMETAL

#include "lsh_platform.h"
#include "lsh_platform_baremetal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- time ---- */

#define MTIME_LO ((volatile uint32_t *)0x0200bff8u)
#define MTIME_HI ((volatile uint32_t *)0x0200bffcu)
#define MTIME_TICKS_PER_MS 10000.0

static double epoch_ms = 0.0;

static double mtime_ms(void) {
    uint32_t hi, lo, hi2;
    do {
        hi = *MTIME_HI;
        lo = *MTIME_LO;
        hi2 = *MTIME_HI;
    } while (hi != hi2);
    return (double)(((uint64_t)hi << 32) | lo) / MTIME_TICKS_PER_MS;
}

void lsh_platform_baremetal_set_epoch_ms(double now_ms) { epoch_ms = now_ms - mtime_ms(); }

double lsh_platform_now_ms(void) { return epoch_ms + (double)(uint64_t)mtime_ms(); }

double lsh_platform_monotonic_ms(void) { return mtime_ms(); }

/* ---- logs ---- */

static lsh_log_level_t log_threshold = LSH_LOG_INFO;

void lsh_platform_baremetal_set_log_level(lsh_log_level_t most_verbose) { log_threshold = most_verbose; }

void lsh_platform_log(lsh_log_level_t level, const char *format, ...) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > log_threshold) return;
    va_list args;
    va_start(args, format);
    printf("loadshare %s: ", (unsigned)level < 4u ? names[level] : "log");
    vprintf(format, args);
    putchar('\n');
    va_end(args);
}

/* ---- emulated flash ---- */

#define SECTOR_BYTES 4096u
#define KV_ENTRIES_MAX 8u
#define KV_VALUE_BYTES_MAX 1024u
#define KV_KEY_BYTES_MAX 15u

typedef struct kv_entry {
    char key[KV_KEY_BYTES_MAX + 1u]; /* "" = free */
    uint32_t size_bytes;
    uint8_t value[KV_VALUE_BYTES_MAX];
} kv_entry_t;

typedef struct emulated_flash {
    uint32_t formatted; /* FLASH_MAGIC once erased: the region is zeros at power-on */
    kv_entry_t kv[KV_ENTRIES_MAX];
    uint8_t slots[2][LSH_BAREMETAL_SLOT_PARTITION_BYTES];
} emulated_flash_t;

#define FLASH_MAGIC 0x464c5348u /* "FLSH" */

_Static_assert(LSH_BAREMETAL_SLOT_PARTITION_BYTES % SECTOR_BYTES == 0, "a partition is whole sectors");

static emulated_flash_t flash __attribute__((section(".flash_emulated")));
static unsigned fail_mask = 0;

void lsh_platform_baremetal_flash_erase_all(void) {
    memset(flash.kv, 0, sizeof(flash.kv));
    memset(flash.slots, 0xff, sizeof(flash.slots));
    flash.formatted = FLASH_MAGIC;
    fail_mask = 0;
}

void lsh_platform_baremetal_flash_fail(unsigned mask) { fail_mask = mask; }

static void flash_ready(void) {
    if (flash.formatted != FLASH_MAGIC) lsh_platform_baremetal_flash_erase_all();
}

static int key_valid(const char *key) {
    const size_t len = key != NULL ? strlen(key) : 0;
    if (len == 0 || len > KV_KEY_BYTES_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        const char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

static kv_entry_t *kv_find(const char *key) {
    for (size_t i = 0; i < KV_ENTRIES_MAX; i++) {
        if (strcmp(flash.kv[i].key, key) == 0) return &flash.kv[i];
    }
    return NULL;
}

lsh_result_t lsh_platform_store_read(const char *key, uint8_t *buffer, size_t capacity_bytes, size_t *size_out) {
    if (buffer == NULL || size_out == NULL || !key_valid(key)) return lsh_err_argument;
    flash_ready();
    const kv_entry_t *entry = kv_find(key);
    if (entry == NULL || entry->size_bytes > capacity_bytes) return lsh_err_store;
    memcpy(buffer, entry->value, entry->size_bytes);
    *size_out = entry->size_bytes;
    return lsh_ok;
}

lsh_result_t lsh_platform_store_write(const char *key, const uint8_t *data, size_t size_bytes) {
    if ((data == NULL && size_bytes > 0) || !key_valid(key)) return lsh_err_argument;
    flash_ready();
    if ((fail_mask & LSH_BAREMETAL_FAIL_STORE) != 0 || size_bytes > KV_VALUE_BYTES_MAX) return lsh_err_store;
    kv_entry_t *entry = kv_find(key);
    if (entry == NULL) entry = kv_find("");
    if (entry == NULL) return lsh_err_store; /* the store is full */
    /* Whole or not at all, as an NVS commit: nothing below can fail half-way. */
    memcpy(entry->value, data, size_bytes);
    entry->size_bytes = (uint32_t)size_bytes;
    strcpy(entry->key, key);
    return lsh_ok;
}

/* Flash rules: an erase sets whole sectors to 0xff; a write can only clear bits. */
static void partition_erase(uint8_t *part, size_t bytes) { memset(part, 0xff, bytes); }

static void partition_write(uint8_t *part, size_t offset, const uint8_t *data, size_t size) {
    for (size_t i = 0; i < size; i++) part[offset + i] &= data[i];
}

lsh_result_t lsh_platform_slot_read(unsigned slot, uint8_t *buffer, size_t capacity_bytes, size_t *size_out) {
    if (slot > 1u || buffer == NULL || size_out == NULL) return lsh_err_argument;
    flash_ready();
    const uint8_t *part = flash.slots[slot];
    if (memcmp(part, "LSLT", 4) != 0) return lsh_err_store;
    const size_t size = (size_t)part[4] | ((size_t)part[5] << 8) | ((size_t)part[6] << 16) | ((size_t)part[7] << 24);
    if (size > capacity_bytes || size > LSH_BAREMETAL_SLOT_PARTITION_BYTES - 8u) return lsh_err_store;
    memcpy(buffer, part + 8, size);
    *size_out = size;
    return lsh_ok;
}

lsh_result_t lsh_platform_slot_write(unsigned slot, const uint8_t *data, size_t size_bytes) {
    if (slot > 1u || (data == NULL && size_bytes > 0)) return lsh_err_argument;
    flash_ready();
    if (size_bytes > LSH_BAREMETAL_SLOT_PARTITION_BYTES - 8u) return lsh_err_store;
    if ((fail_mask & (slot == 0u ? LSH_BAREMETAL_FAIL_SLOT_A : LSH_BAREMETAL_FAIL_SLOT_B)) != 0) {
        /* A write that fails after the erase leaves an empty slot, as on the board. */
        partition_erase(flash.slots[slot], SECTOR_BYTES);
        return lsh_err_store;
    }
    const size_t erase_bytes = (size_bytes + 8u + SECTOR_BYTES - 1u) & ~(size_t)(SECTOR_BYTES - 1u);
    const uint8_t header[8] = {'L', 'S', 'L', 'T', (uint8_t)size_bytes, (uint8_t)(size_bytes >> 8), (uint8_t)(size_bytes >> 16),
                               (uint8_t)(size_bytes >> 24)};
    /* Body first, header last: a write torn before the header leaves an empty slot. */
    partition_erase(flash.slots[slot], erase_bytes);
    partition_write(flash.slots[slot], sizeof(header), data, size_bytes);
    partition_write(flash.slots[slot], 0, header, sizeof(header));
    return lsh_ok;
}

#endif /* LSH_PLATFORM_BAREMETAL */
