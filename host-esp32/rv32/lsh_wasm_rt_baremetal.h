/* The bare-metal wasm2c runtime's one extra call (see lsh_wasm_rt_baremetal.c). */
#ifndef LSH_WASM_RT_BAREMETAL_H
#define LSH_WASM_RT_BAREMETAL_H

/* Runs fn(arg); returns 0 when it returned, or the wasm_rt_trap_t it trapped with. */
int lsh_wasm_rt_try(void (*fn)(void *), void *arg);

#endif /* LSH_WASM_RT_BAREMETAL_H */
