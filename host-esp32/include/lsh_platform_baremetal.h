/* Extra calls of the bare-metal platform (src/lsh_platform_baremetal.c, LSH_PLATFORM_BAREMETAL):
 * the rv32 build under QEMU. The firmware-facing calls are those of lsh_platform.h. */
#ifndef LSH_PLATFORM_BAREMETAL_H
#define LSH_PLATFORM_BAREMETAL_H

#include "lsh_platform.h"

/* One module slot "partition", bytes: the 20K of the partition table in docs/hot-swap.md. */
#define LSH_BAREMETAL_SLOT_PARTITION_BYTES 20480u

/* Wall-clock time from now on is now_ms plus the machine time since (SNTP sets it on a board). */
void lsh_platform_baremetal_set_epoch_ms(double now_ms);

/* Logs at most this verbose are printed (default LSH_LOG_INFO). */
void lsh_platform_baremetal_set_log_level(lsh_log_level_t most_verbose);

/* Test seams for the emulated flash: erase every slot and key (and clear any failure), and make
 * writes fail (a mask of LSH_BAREMETAL_FAIL_*; 0 = none): a failing slot write erases the
 * slot's first sector first, as a write that dies after its erase does. */
#define LSH_BAREMETAL_FAIL_STORE 1u
#define LSH_BAREMETAL_FAIL_SLOT_A 2u
#define LSH_BAREMETAL_FAIL_SLOT_B 4u
void lsh_platform_baremetal_flash_erase_all(void);
void lsh_platform_baremetal_flash_fail(unsigned mask);

#endif /* LSH_PLATFORM_BAREMETAL_H */
