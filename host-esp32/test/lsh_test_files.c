/* File helpers for the native runners (test and bench). */
#include "lsh_test_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *lsh_file_read(const char *path, size_t *size_out) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) return NULL;
    size_t capacity = 4096;
    size_t size = 0;
    uint8_t *buffer = malloc(capacity);
    while (buffer != NULL) {
        const size_t got = fread(buffer + size, 1, capacity - size, file);
        size += got;
        if (got == 0) break;
        if (size == capacity) {
            uint8_t *grown = realloc(buffer, capacity * 2);
            if (grown == NULL) { free(buffer); buffer = NULL; break; }
            buffer = grown;
            capacity *= 2;
        }
    }
    fclose(file);
    if (buffer != NULL) *size_out = size;
    return buffer;
}

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int lsh_file_read_hex(const char *path, uint8_t *buffer, size_t size) {
    size_t text_size = 0;
    uint8_t *text = lsh_file_read(path, &text_size);
    if (text == NULL) return 0;
    size_t count = 0;
    int high = -1;
    int ok = 1;
    for (size_t i = 0; i < text_size && ok; i++) {
        if (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t') continue;
        const int v = hex_value(text[i]);
        if (v < 0) { ok = 0; break; }
        if (high < 0) { high = v; continue; }
        if (count >= size) { ok = 0; break; }
        buffer[count++] = (uint8_t)(high * 16 + v);
        high = -1;
    }
    free(text);
    return ok && high < 0 && count == size;
}

size_t lsh_file_vector_names(const char *index_path, char **names_out, size_t capacity) {
    size_t text_size = 0;
    uint8_t *text = lsh_file_read(index_path, &text_size);
    if (text == NULL) return 0;
    char *json = realloc(text, text_size + 1);
    if (json == NULL) { free(text); return 0; }
    json[text_size] = '\0';
    static const char key[] = "\"name\": \"";
    size_t count = 0;
    for (char *at = strstr(json, key); at != NULL && count < capacity; at = strstr(at, key)) {
        at += sizeof(key) - 1;
        char *end = strchr(at, '"');
        if (end == NULL) break;
        const size_t len = (size_t)(end - at);
        names_out[count] = malloc(len + 1);
        if (names_out[count] == NULL) break;
        memcpy(names_out[count], at, len);
        names_out[count][len] = '\0';
        count++;
        at = end;
    }
    free(json);
    return count;
}

void lsh_file_free_names(char **names, size_t count) {
    for (size_t i = 0; i < count; i++) free(names[i]);
}
