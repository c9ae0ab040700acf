/* Controller supervision over RAPI (OpenEVSE's `$SY`): the charge controller drops its pilot to
 * a heartbeat current by itself when the WiFi side stops pulsing, so a charger whose engine or
 * firmware dies (a hang, a crash, a reboot loop) draws at most that current within
 *   interval + the car's response (ev_response)  <=  the reserve hold its peers keep for it
 *   (ev_response + seen_grace + message_delay_max),
 * i.e. interval <= seen_grace + message_delay_max (5 s with the defaults), and never longer than
 * heartbeat_timeout. The current is the failsafe current (0 A in `disable` mode). Both come from
 * the config in force: lsh_supervisor_configure re-sets them on every config change, and
 * lsh_supervisor_pulse is sent after every tick that completed (as the Node host heartbeats its
 * simulated controller only after a completed tick). A missed pulse that the controller reports
 * (its reply's trigger field 2) is acknowledged with `$SY 165` at the next good pulse, which lets
 * the controller restore its ampacity; the engine's own limit still applies.
 *
 * The platform supplies one call that sends a RAPI line (the checksum is added here) and returns
 * the controller's reply. OpenEVSE WiFi: RapiSender::sendCmd on the controller's serial port. */
#ifndef LSH_SUPERVISE_H
#define LSH_SUPERVISE_H

#include <stddef.h>
#include <stdint.h>

#include "lsh_engine.h"

typedef struct lsh_rapi {
    void *context;
    /* Sends one command line (e.g. "$SY 5 6^2D") and writes the reply ("$OK 5 6 0^..") into
     * reply (NUL-terminated); returns 0 when the controller answered. */
    int (*send)(void *context, const char *line, char *reply, size_t reply_size);
} lsh_rapi_t;

typedef struct lsh_supervisor {
    lsh_rapi_t rapi;
    uint32_t interval_s;      /* what was set last (0: not yet) */
    uint32_t current_a;
    int configured;           /* the controller accepted the last $SY interval current */
    int missed;               /* the controller reported a missed pulse, not yet acknowledged */
} lsh_supervisor_t;

/* The supervision interval (s) and heartbeat current (A) for a config. */
void lsh_supervisor_settings(const lsh_group_config_t *config, uint32_t *interval_s, uint32_t *current_a);

void lsh_supervisor_init(lsh_supervisor_t *supervisor, const lsh_rapi_t *rapi);

/* Sends `$SY interval current` for this config (every call: a config change re-sets it even when
 * the figures are equal, so a controller that was reset in between gets them again). */
void lsh_supervisor_configure(lsh_supervisor_t *supervisor, const lsh_group_config_t *config);

/* One heartbeat pulse (`$SY`); re-sends the settings first when the controller had refused them,
 * and acknowledges a missed pulse (`$SY 165`) that the controller reported. */
void lsh_supervisor_pulse(lsh_supervisor_t *supervisor, const lsh_group_config_t *config);

/* The RAPI line with its XOR checksum: "$SY 5 6" -> "$SY 5 6^2D". out: at least strlen + 4 bytes. */
void lsh_rapi_with_checksum(const char *command, char *out, size_t out_size);

#endif /* LSH_SUPERVISE_H */
