/* A minimal test harness: each check counts as one test; the runner prints
 * `esp32: N passed, N failed` last. */
#ifndef LSH_TEST_H
#define LSH_TEST_H

#include <stddef.h>
#include <stdint.h>

extern int lsh_test_passed;
extern int lsh_test_failed;

void lsh_test_check(int ok, const char *file, int line, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#define LSH_CHECK(cond, ...) lsh_test_check((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

/* Paths the tests read: the repository root and the generated test modules. */
extern const char *lsh_test_root;
extern const char *lsh_test_modules_dir;

void lsh_test_runtime(void);
void lsh_test_engine(void);
void lsh_test_facts(void);
void lsh_test_guard(void);
#ifdef LSH_TEST_HOT_SWAP
extern const char *lsh_test_packages_dir;
void lsh_test_package(void);
void lsh_test_slots(void);
/* Test files from build/esp32/packages: a PEM key NUL-terminated into out (1 on success); a
 * package's bytes (malloc'd, NULL when missing). */
int lsh_test_read_pem(const char *name, char *out, size_t capacity);
uint8_t *lsh_test_read_package(const char *name, size_t *size_out);
#endif

#ifdef LSH_TEST_MEMBER
/* The group member: HMAC signing against values Node computed, config order and validation,
 * sync (adoption, pushes with backoff), id binding, the status document, RAPI supervision. */
void lsh_test_member(void);
#endif

#endif /* LSH_TEST_H */
