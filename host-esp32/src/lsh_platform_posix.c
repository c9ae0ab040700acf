/* POSIX platform shims (tests, the CLI runner, any Linux host). Storage: one file per key in
 * $LSH_STORE_DIR (default "."), written to a temporary file, fsynced, then renamed. */
#if !defined(ESP_PLATFORM) && !defined(LSH_PLATFORM_BAREMETAL)

#include "lsh_platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LSH_STORE_KEY_BYTES_MAX 15u
#define LSH_STORE_PATH_BYTES_MAX 512u

double lsh_platform_now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec * 1000.0 + (double)(now.tv_nsec / 1000000);
}

double lsh_platform_monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

void lsh_platform_log(lsh_log_level_t level, const char *format, ...) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    const char *quiet = getenv("LSH_LOG_QUIET");
    if (quiet != NULL && quiet[0] == '1' && level != LSH_LOG_ERROR) return;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "loadshare %s: ", (unsigned)level < 4u ? names[level] : "log");
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

static int store_path(const char *key, const char *suffix, char *path_out, size_t path_size) {
    const size_t len = key != NULL ? strlen(key) : 0;
    if (len == 0 || len > LSH_STORE_KEY_BYTES_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        const char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    const char *dir = getenv("LSH_STORE_DIR");
    const int written = snprintf(path_out, path_size, "%s/%s%s", dir != NULL && dir[0] != '\0' ? dir : ".", key, suffix);
    return written > 0 && (size_t)written < path_size;
}

lsh_result_t lsh_platform_store_read(const char *key, uint8_t *buffer, size_t capacity_bytes, size_t *size_out) {
    char path[LSH_STORE_PATH_BYTES_MAX];
    if (buffer == NULL || size_out == NULL || !store_path(key, "", path, sizeof(path))) return lsh_err_argument;
    FILE *file = fopen(path, "rb");
    if (file == NULL) return lsh_err_store;
    const size_t got = fread(buffer, 1, capacity_bytes, file);
    const int more = fgetc(file) != EOF;
    const int failed = ferror(file);
    fclose(file);
    if (failed || more) return lsh_err_store;
    *size_out = got;
    return lsh_ok;
}

lsh_result_t lsh_platform_store_write(const char *key, const uint8_t *data, size_t size_bytes) {
    char path[LSH_STORE_PATH_BYTES_MAX];
    char temp[LSH_STORE_PATH_BYTES_MAX];
    if ((data == NULL && size_bytes > 0) || !store_path(key, "", path, sizeof(path)) || !store_path(key, ".tmp", temp, sizeof(temp))) {
        return lsh_err_argument;
    }
    const int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return lsh_err_store;
    size_t done = 0;
    while (done < size_bytes) {
        const ssize_t n = write(fd, data + done, size_bytes - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    const int ok = done == size_bytes && fsync(fd) == 0;
    if (close(fd) != 0 || !ok || rename(temp, path) != 0) {
        unlink(temp);
        return lsh_err_store;
    }
    return lsh_ok;
}

lsh_result_t lsh_platform_slot_read(unsigned slot, uint8_t *buffer, size_t capacity_bytes, size_t *size_out) {
    if (slot > 1u) return lsh_err_argument;
    return lsh_platform_store_read(slot == 0u ? "mod_slot_a" : "mod_slot_b", buffer, capacity_bytes, size_out);
}

lsh_result_t lsh_platform_slot_write(unsigned slot, const uint8_t *data, size_t size_bytes) {
    if (slot > 1u) return lsh_err_argument;
    return lsh_platform_store_write(slot == 0u ? "mod_slot_a" : "mod_slot_b", data, size_bytes);
}

#endif /* ESP_PLATFORM */
