// Times compute() of the release module translated to C by wasm2c and compiled with gcc -O2:
// the practical lower bound for running this module on this machine. Follows
// bench/engines/timing-plan.md; one input block per process.
//   lsh_bench_native INPUT_BIN WARMUP_NS SAMPLE_TARGET_NS SAMPLES
// The wasm2c symbol names differ between wabt releases (Z_loadsharingZ_compute in 1.0.32,
// w2c_loadsharing_compute later); bench/engines/native.mjs reads them from the generated
// header and passes them in as the LSH_W2C_* macros below.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wasm-rt-impl.h"
#include "loadsharing.h"
#include "lsh_abi.h"

#if !defined(LSH_W2C_INSTANCE) || !defined(LSH_W2C_COMPUTE) || !defined(LSH_W2C_INPUT_PTR) || \
    !defined(LSH_W2C_OUTPUT_PTR) || !defined(LSH_W2C_MEMORY) || !defined(LSH_W2C_INSTANTIATE)
#error "build through bench/engines/native.mjs: it defines the LSH_W2C_* symbol names"
#endif

enum { samples_max = 1000 };

static uint64_t clock_ns(clockid_t clock) {
  struct timespec now;
  clock_gettime(clock, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

// volatile: the compiler must not drop calls whose result we otherwise ignore.
static volatile uint32_t sink;

// Both clocks per batch: wall time, and the process's CPU time, which leaves out the time
// this process waited for a core another job had (see timing-plan.md).
typedef struct {
  uint64_t wall_ns;
  uint64_t cpu_ns;
} lsh_batch_time_t;

// What one timed call is. compute: compute() on the input block already in linear memory
// (the figure the engines are compared on). call: the whole call as a host makes it: copy the
// input block in, compute(), copy the output block out (the ESP32 host's lsh_runtime_compute).
static int call_mode;
static const uint8_t *call_input;
static uint8_t *call_memory;
static uint32_t call_input_at;
static uint32_t call_output_at;
static uint32_t call_carry_at;
static uint8_t call_output[LSH_OUT_SIZE];

static lsh_batch_time_t time_calls(LSH_W2C_INSTANCE *instance, uint64_t calls) {
  uint64_t cpu_start = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  uint64_t wall_start = clock_ns(CLOCK_MONOTONIC);
  // ABI 4: the module works in its input and carry blocks during a call, so every call starts
  // from the same state: the input block written again and a zero carry.
  if (call_mode) {
    for (uint64_t i = 0; i < calls; i++) {
      memcpy(call_memory + call_input_at, call_input, LSH_IN_SIZE);
      memset(call_memory + call_carry_at, 0, LSH_CARRY_SIZE);
      sink ^= LSH_W2C_COMPUTE(instance);
      memcpy(call_output, call_memory + call_output_at, LSH_OUT_SIZE);
      sink ^= call_output[0];
    }
  } else {
    for (uint64_t i = 0; i < calls; i++) {
      memcpy(call_memory + call_input_at, call_input, LSH_IN_SIZE);
      memset(call_memory + call_carry_at, 0, LSH_CARRY_SIZE);
      sink ^= LSH_W2C_COMPUTE(instance);
    }
  }
  lsh_batch_time_t elapsed;
  elapsed.wall_ns = clock_ns(CLOCK_MONOTONIC) - wall_start;
  elapsed.cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
  return elapsed;
}

static int read_input(const char *path, uint8_t *input_out) {
  FILE *file = fopen(path, "rb");
  if (!file) return -1;
  size_t got = fread(input_out, 1, LSH_IN_SIZE, file);
  int extra = fgetc(file);
  fclose(file);
  return got == LSH_IN_SIZE && extra == EOF ? 0 : -1;
}

static void print_hex(const uint8_t *bytes, size_t count) {
  for (size_t i = 0; i < count; i++) printf("%02x", bytes[i]);
}

int main(int argc, char **argv) {
  static uint8_t input[LSH_IN_SIZE];
  static uint8_t first_output[LSH_OUT_SIZE];
  static double ns_per_call[samples_max];
  static double wall_ns_per_call[samples_max];
  if (argc != 5 && !(argc == 6 && (strcmp(argv[5], "compute") == 0 || strcmp(argv[5], "call") == 0))) {
    fprintf(stderr, "usage: %s INPUT_BIN WARMUP_NS SAMPLE_TARGET_NS SAMPLES [compute|call]\n", argv[0]);
    return 2;
  }
  if (read_input(argv[1], input) != 0) {
    fprintf(stderr, "%s: input must be exactly %d bytes\n", argv[1], LSH_IN_SIZE);
    return 2;
  }
  uint64_t warmup_ns = strtoull(argv[2], NULL, 10);
  uint64_t sample_target_ns = strtoull(argv[3], NULL, 10);
  long samples = strtol(argv[4], NULL, 10);
  if (sample_target_ns == 0 || samples < 1 || samples > samples_max) {
    fprintf(stderr, "sample target must be > 0 ns and samples 1..%d\n", samples_max);
    return 2;
  }

  wasm_rt_init();
#ifdef LSH_W2C_INIT_MODULE
  LSH_W2C_INIT_MODULE();
#endif
  static LSH_W2C_INSTANCE instance;
  LSH_W2C_INSTANTIATE(&instance);
  wasm_rt_memory_t *memory = LSH_W2C_MEMORY(&instance);
  uint32_t input_at = LSH_W2C_INPUT_PTR(&instance);
  uint32_t output_at = LSH_W2C_OUTPUT_PTR(&instance);
  if ((uint64_t)input_at + LSH_IN_SIZE > memory->size || (uint64_t)output_at + LSH_OUT_SIZE > memory->size) {
    fprintf(stderr, "module blocks lie outside its memory\n");
    return 3;
  }
  memcpy(memory->data + input_at, input, LSH_IN_SIZE);
  call_mode = argc == 6 && strcmp(argv[5], "call") == 0;
  call_input = input;
  call_memory = memory->data;
  call_input_at = input_at;
  call_output_at = output_at;
  call_carry_at = LSH_W2C_CARRY_PTR(&instance);

  // A trap in the module lands here instead of aborting: report it as an error.
  wasm_rt_trap_t trap = wasm_rt_impl_try();
  if (trap != WASM_RT_TRAP_NONE) {
    fprintf(stderr, "module trapped: %s\n", wasm_rt_strerror(trap));
    return 3;
  }
  LSH_W2C_COMPUTE(&instance);
  memcpy(first_output, memory->data + output_at, LSH_OUT_SIZE);

  uint64_t calls = 1;
  for (uint64_t warm_ns = 0; warm_ns < warmup_ns; calls = calls < (1u << 24) ? calls * 2 : calls) {
    warm_ns += time_calls(&instance, calls).wall_ns;
  }
  // Calibrate: double until a batch is long enough to measure, then scale to the target.
  uint64_t batch = 1;
  uint64_t elapsed_ns = time_calls(&instance, batch).wall_ns;
  while (elapsed_ns < sample_target_ns / 8) {
    batch *= 2;
    elapsed_ns = time_calls(&instance, batch).wall_ns;
  }
  uint64_t calls_per_sample = (uint64_t)((double)batch * (double)sample_target_ns / (double)elapsed_ns + 0.5);
  if (calls_per_sample < 1) calls_per_sample = 1;
  for (long s = 0; s < samples; s++) {
    lsh_batch_time_t elapsed = time_calls(&instance, calls_per_sample);
    ns_per_call[s] = (double)elapsed.cpu_ns / (double)calls_per_sample;
    wall_ns_per_call[s] = (double)elapsed.wall_ns / (double)calls_per_sample;
  }
  int stable = memcmp(first_output, memory->data + output_at, LSH_OUT_SIZE) == 0;

  printf("{\"calls_per_sample\":%" PRIu64 ",\"ns_per_call\":[", calls_per_sample);
  for (long s = 0; s < samples; s++) printf("%s%.3f", s ? "," : "", ns_per_call[s]);
  printf("],\"wall_ns_per_call\":[");
  for (long s = 0; s < samples; s++) printf("%s%.3f", s ? "," : "", wall_ns_per_call[s]);
  printf("],\"output_hex\":\"");
  print_hex(first_output, LSH_OUT_SIZE);
  printf("\",\"stable\":%s}\n", stable ? "true" : "false");
#ifdef LSH_W2C_FREE
  LSH_W2C_FREE(&instance);
#endif
  wasm_rt_free();
  return 0;
}
