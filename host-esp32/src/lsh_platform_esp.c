/* ESP-IDF platform shims: wall clock from gettimeofday (set by SNTP in the firmware),
 * monotonic time from esp_timer, logs through ESP_LOGx, storage in the NVS namespace "loadshare"
 * (nvs_flash_init must have run; OpenEVSE's firmware does that at boot). Not compiled natively:
 * verified only on a board (docs/esp32.md). */
#ifdef ESP_PLATFORM

#include "lsh_platform.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>

#include "esp_log.h"
#include "esp_timer.h"
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

#endif /* ESP_PLATFORM */
