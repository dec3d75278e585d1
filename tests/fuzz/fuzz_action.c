/*
 * fuzz_action.c - libFuzzer target for the action JSON read back from the outbox
 * (xf_action_from_json): the input is one stored value, as a damaged or hostile file would
 * hold it.
 *
 * The one thing to know: an action that parses must write back to JSON that parses again
 * into the same JSON (a round trip is stable), and every string in it must be terminated
 * within its field, since the loop and the connectors use them as C strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xf/response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xf_action a, b;
    struct xf_buf j1, j2;

    memset(&a, 0x5a, sizeof(a));
    if (xf_action_from_json((const char *)data, size, &a) != 0)
        return 0;
    if (!memchr(a.id, 0, sizeof(a.id)) || !memchr(a.incident, 0, sizeof(a.incident)) ||
        !memchr(a.host, 0, sizeof(a.host)) || !memchr(a.connector, 0, sizeof(a.connector)) ||
        !memchr(a.requested_by, 0, sizeof(a.requested_by)) ||
        !memchr(a.reason, 0, sizeof(a.reason)) || !memchr(a.device_id, 0, sizeof(a.device_id)) ||
        !memchr(a.remote_id, 0, sizeof(a.remote_id)) ||
        !memchr(a.last_error, 0, sizeof(a.last_error)))
        abort();
    xf_buf_init(&j1);
    xf_buf_init(&j2);
    if (xf_action_to_json(&a, &j1) != 0)
        abort();
    if (xf_action_from_json(j1.data, j1.len, &b) != 0)
        abort();
    if (xf_action_to_json(&b, &j2) != 0 || j1.len != j2.len || memcmp(j1.data, j2.data, j1.len))
        abort();
    xf_buf_close(&j1);
    xf_buf_close(&j2);
    return 0;
}
