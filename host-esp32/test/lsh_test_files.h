/* File helpers shared by the test runner and the bench runner. */
#ifndef LSH_TEST_FILES_H
#define LSH_TEST_FILES_H

#include <stddef.h>
#include <stdint.h>

/* Reads a whole file into a malloc'd buffer; NULL when it cannot. */
uint8_t *lsh_file_read(const char *path, size_t *size_out);

/* Reads a hex file of exactly size bytes (whitespace ignored) into buffer; 1 on success. */
int lsh_file_read_hex(const char *path, uint8_t *buffer, size_t size);

/* The vector names of test/vectors/index.json, in order ("name": "..." entries); returns the
 * count (at most capacity); names are malloc'd, free with lsh_file_free_names. */
size_t lsh_file_vector_names(const char *index_path, char **names_out, size_t capacity);
void lsh_file_free_names(char **names, size_t count);

#endif /* LSH_TEST_FILES_H */
