/* Controller supervision over RAPI $SY (lsh_supervise.h). */
#include "lsh_supervise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lsh_rapi_with_checksum(const char *command, char *out, size_t out_size) {
    unsigned x = 0;
    for (const char *p = command; *p != '\0'; p++) x ^= (unsigned char)*p;
    snprintf(out, out_size, "%s^%02X", command, x & 0xFFu);
}

void lsh_supervisor_settings(const lsh_group_config_t *c, uint32_t *interval_s, uint32_t *current_a) {
    const double grace_ms = c->seen_grace_ms > 0.0 ? c->seen_grace_ms : 3000.0;
    const double delay_ms = c->message_delay_max_ms > 0.0 ? c->message_delay_max_ms : 2000.0;
    double seconds = floor((grace_ms + delay_ms) / 1000.0);
    if (c->heartbeat_timeout_s > 0.0 && c->heartbeat_timeout_s < seconds) seconds = floor(c->heartbeat_timeout_s);
    if (!(seconds >= 1.0)) seconds = 1.0;
    if (seconds > 255.0) seconds = 255.0;
    *interval_s = (uint32_t)seconds;
    /* Whole amps, rounded down: the controller may never be allowed more than the failsafe,
     * held to an equal part of the limit over the members (as the module holds a degraded
     * charger's, rule 11): if every member crashed, their cars would still fit the limit
     * (campaign seed 3004527, docs/protocol.md assumption 3). */
    double amps = c->failsafe_mode == LSH_FAILSAFE_MODE_DISABLE || !(c->failsafe_safe_current_a > 0.0)
                      ? 0.0 : floor(c->failsafe_safe_current_a);
    const double members = c->member_count > 0 ? (double)c->member_count : 1.0;
    const double equal_part_a = floor(c->group_max_current_a * c->safety_factor / members);
    if (equal_part_a >= 0.0 && equal_part_a < amps) amps = equal_part_a;
    *current_a = amps > 255.0 ? 255u : (uint32_t)amps;
}

void lsh_supervisor_init(lsh_supervisor_t *supervisor, const lsh_rapi_t *rapi) {
    memset(supervisor, 0, sizeof(*supervisor));
    supervisor->rapi = *rapi;
}

static int send_line(lsh_supervisor_t *s, const char *command, char *reply, size_t reply_size) {
    char line[48];
    reply[0] = '\0';
    if (s->rapi.send == NULL) return -1;
    lsh_rapi_with_checksum(command, line, sizeof(line));
    return s->rapi.send(s->rapi.context, line, reply, reply_size);
}

static int reply_ok(const char *reply) {
    return strncmp(reply, "$OK", 3) == 0;
}

void lsh_supervisor_configure(lsh_supervisor_t *s, const lsh_group_config_t *config) {
    char command[32];
    char reply[64];
    lsh_supervisor_settings(config, &s->interval_s, &s->current_a);
    snprintf(command, sizeof(command), "$SY %u %u", (unsigned)s->interval_s, (unsigned)s->current_a);
    s->configured = send_line(s, command, reply, sizeof(reply)) == 0 && reply_ok(reply);
}

void lsh_supervisor_pulse(lsh_supervisor_t *s, const lsh_group_config_t *config) {
    char reply[64];
    uint32_t interval_s = 0, current_a = 0;
    lsh_supervisor_settings(config, &interval_s, &current_a);
    /* The members changed (the heartbeat current's equal part): set it again. */
    if (interval_s != s->interval_s || current_a != s->current_a) s->configured = 0;
    if (!s->configured) lsh_supervisor_configure(s, config);
    if (s->missed) {
        if (send_line(s, "$SY 165", reply, sizeof(reply)) == 0 && reply_ok(reply)) s->missed = 0;
    }
    if (send_line(s, "$SY", reply, sizeof(reply)) != 0 || !reply_ok(reply)) return;
    /* "$OK interval current trigger^CK": trigger 2 = a pulse was missed and the controller is
     * still holding the heartbeat current; acknowledged at the next pulse. */
    unsigned interval = 0, current = 0, trigger = 0;
    if (sscanf(reply, "$OK %u %u %u", &interval, &current, &trigger) == 3) {
        if (trigger == 2) s->missed = 1;
        /* A controller that lost its settings (a reset) gets them again. */
        if (interval != s->interval_s || current != s->current_a) s->configured = 0;
    }
}
