/*
 * fuzz_decode.c - libFuzzer target for every decoder: the first byte picks the format
 * (auto, ecs, sysmon, winevt, proto, by value modulo 5), the rest is one record.
 *
 * Whatever the bytes, xf_decode must return 0 or an error with a non-empty reason, never
 * crash, read out of bounds or leak; a decoded event must be self-consistent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xf/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum xf_format fmts[] = {XF_FMT_AUTO, XF_FMT_ECS, XF_FMT_SYSMON, XF_FMT_WINEVT,
                                          XF_FMT_PROTO};
    struct xf_event ev;
    char err[XF_ERRMSG_MAX];
    enum xf_format used = XF_FMT_AUTO;
    char *rec;
    int rc;

    if (size < 1)
        return 0;
    /* a private copy so out-of-bounds reads past the record are caught exactly */
    rec = malloc(size - 1 ? size - 1 : 1);
    if (!rec)
        return 0;
    memcpy(rec, data + 1, size - 1);
    xf_event_init(&ev);
    rc = xf_decode(fmts[data[0] % 5], rec, size - 1, &ev, &used, err);
    if (rc != 0 && err[0] == '\0')
        abort(); /* every failure must say why */
    if (rc == 0) {
        if (ev.id[0] == '\0' || (unsigned)ev.category >= XF_CAT__COUNT)
            abort();
        for (unsigned f = 0; f < XF_F__COUNT; f++)
            for (size_t i = 0; i < xf_event_count(&ev, (enum xf_field)f); i++)
                if (!xf_event_get_nth(&ev, (enum xf_field)f, i))
                    abort();
    }
    xf_event_close(&ev);
    free(rec);
    return 0;
}
