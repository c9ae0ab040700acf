/* ESP-IDF platform shims: wall clock from gettimeofday (set by SNTP in the firmware),
 * monotonic time from esp_timer, logs through ESP_LOGx, storage in the NVS namespace "loadshare"
 * (nvs_flash_init must have run; OpenEVSE's firmware does that at boot), module slots in the
 * data partitions "lsh_slot_a" and "lsh_slot_b" (docs/hot-swap.md has the partition table lines). Not compiled natively:
 * verified only on a board (docs/esp32.md). */
#ifdef ESP_PLATFORM

#include "lsh_platform.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "esp_log.h"
#include "esp_timer.h"
#include "esp_partition.h"
#include "nvs.h"

static const char *const lsh_tag = "loadshare";

double lsh_platform_now_ms(void) {
    struct timeval now;
    gettimeofday(&now, NULL);
    return (double)now.tv_sec * 1000.0 + (double)(now.tv_usec / 1000);
}

double lsh_platform_monotonic_ms(void) {
    return (double)esp_timer_get_time() / 1000.0;
}

void lsh_platform_log(lsh_log_level_t level, const char *format, ...) {
    char line[192];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof(line), format, args);
    va_end(args);
    switch (level) {
    case LSH_LOG_ERROR: ESP_LOGE(lsh_tag, "%s", line); break;
    case LSH_LOG_WARN: ESP_LOGW(lsh_tag, "%s", line); break;
    case LSH_LOG_INFO: ESP_LOGI(lsh_tag, "%s", line); break;
    default: ESP_LOGD(lsh_tag, "%s", line); break;
    }
}

lsh_result_t lsh_platform_store_read(const char *key, uint8_t *buffer, size_t capacity_bytes, size_t *size_out) {
    if (key == NULL || buffer == NULL || size_out == NULL) return lsh_err_argument;
    nvs_handle_t handle;
    if (nvs_open("loadshare", NVS_READONLY, &handle) != ESP_OK) return lsh_err_store;
    size_t size = capacity_bytes;
    const esp_err_t err = nvs_get_blob(handle, key, buffer, &size);
    nvs_close(handle);
    if (err != ESP_OK) return lsh_err_store;
    *size_out = size;
    return lsh_ok;
}

lsh_result_t lsh_platform_store_write(const char *key, const uint8_t *data, size_t size_bytes) {
    if (key == NULL || (data == NULL && size_bytes > 0)) return lsh_err_argument;
    nvs_handle_t handle;
    if (nvs_open("loadshare", NVS_READWRITE, &handle) != ESP_OK) return lsh_err_store;
    esp_err_t err = nvs_set_blob(handle, key, data, size_bytes);
    if (err == ESP_OK) err = nvs_commit(handle); /* NVS commits are atomic per key */
    nvs_close(handle);
    return err == ESP_OK ? lsh_ok : lsh_err_store;
}

/* A slot partition holds "LSLT", a u32le length, then the package. */
static const esp_partition_t *slot_partition(unsigned slot) {
    return esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, slot == 0u ? "lsh_slot_a" : "lsh_slot_b");
}

lsh_result_t lsh_platform_slot_read(unsigned slot, uint8_t *buffer, size_t capacity_bytes, size_t *size_out) {
    if (slot > 1u || buffer == NULL || size_out == NULL) return lsh_err_argument;
    const esp_partition_t *part = slot_partition(slot);
    uint8_t header[8];
    if (part == NULL || esp_partition_read(part, 0, header, sizeof(header)) != ESP_OK || memcmp(header, "LSLT", 4) != 0) return lsh_err_store;
    const size_t size = (size_t)header[4] | ((size_t)header[5] << 8) | ((size_t)header[6] << 16) | ((size_t)header[7] << 24);
    if (size > capacity_bytes || size > part->size - sizeof(header)) return lsh_err_store;
    if (esp_partition_read(part, sizeof(header), buffer, size) != ESP_OK) return lsh_err_store;
    *size_out = size;
    return lsh_ok;
}

lsh_result_t lsh_platform_slot_write(unsigned slot, const uint8_t *data, size_t size_bytes) {
    if (slot > 1u || (data == NULL && size_bytes > 0)) return lsh_err_argument;
    const esp_partition_t *part = slot_partition(slot);
    if (part == NULL || size_bytes > part->size - 8u) return lsh_err_store;
    const size_t erase_bytes = (size_bytes + 8u + 4095u) & ~(size_t)4095u;
    const uint8_t header[8] = {'L', 'S', 'L', 'T', (uint8_t)size_bytes, (uint8_t)(size_bytes >> 8), (uint8_t)(size_bytes >> 16), (uint8_t)(size_bytes >> 24)};
    /* Body first, header last: a write torn before the header leaves an empty slot. */
    if (esp_partition_erase_range(part, 0, erase_bytes) != ESP_OK) return lsh_err_store;
    if (esp_partition_write(part, sizeof(header), data, size_bytes) != ESP_OK) return lsh_err_store;
    if (esp_partition_write(part, 0, header, sizeof(header)) != ESP_OK) return lsh_err_store;
    return lsh_ok;
}

#endif /* ESP_PLATFORM */
