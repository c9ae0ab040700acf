/* The bench's synthetic group (see lsh_bench_group.h). */
#include "lsh_bench_group.h"

#include <stdio.h>
#include <string.h>

const lsh_self_facts_t lsh_bench_self = {1, 3, 0, 16000, 230, 6, 32, -1, 32};

int lsh_bench_group_init(lsh_engine_t *engine, lsh_runtime_t *runtime, uint32_t members, double now_ms, const lsh_shaper_t *shaper) {
    static char ids[LSH_MEMBERS_MAX][16];
    const char *id_list[LSH_MEMBERS_MAX] = {NULL};
    if (members < 1 || members > LSH_MEMBERS_MAX) return 0;
    for (uint32_t i = 0; i < members; i++) {
        snprintf(ids[i], sizeof(ids[i]), "m%02u", (unsigned)i);
        id_list[i] = ids[i];
    }
    lsh_group_config_t config;
    memset(&config, 0, sizeof(config));
    config.group_id = "bench";
    config.group_max_current_a = 10.0 * members;
    config.safety_factor = 1.0;
    config.heartbeat_timeout_s = 30;
    config.failsafe_mode = LSH_FAILSAFE_MODE_SAFE_CURRENT;
    config.failsafe_safe_current_a = 6;
    config.failsafe_peer_assumed_current_a = 6;
    const lsh_shaper_t no_shaper = {NULL, NULL};
    if (lsh_engine_init(engine, runtime, &config, id_list[0], id_list, members, 1u, NULL, shaper != NULL ? shaper : &no_shaper) != lsh_ok) {
        return 0;
    }
    for (uint32_t i = 1; i < members; i++) {
        lsh_member_status_t s;
        memset(&s, 0, sizeof(s));
        s.id = id_list[i];
        s.vehicle = 1;
        s.state = 3;
        s.amp_ma = 16000;
        s.voltage_v = 230;
        s.min_current_a = 6;
        s.max_current_a = 32;
        s.demand = -1;
        s.has_seen = 1;
        s.seen_count = members;
        for (uint32_t j = 0; j < members; j++) s.seen_ids[j] = id_list[j];
        if (lsh_engine_handle_status(engine, &s, now_ms) != lsh_ok) return 0;
    }
    return 1;
}

int lsh_bench_group_input(lsh_engine_t *engine, lsh_runtime_t *runtime, uint32_t members, double now_ms, uint8_t input_out[LSH_IN_SIZE]) {
    return lsh_bench_group_init(engine, runtime, members, now_ms, NULL) && lsh_engine_build_input(engine, now_ms, now_ms, &lsh_bench_self, input_out) == lsh_ok;
}
