/*
 * error.c - xf_strerror(), generated from the one XF_ERRNO_MAP list so codes and messages
 * cannot drift apart.
 */
#include "xf/core.h"

const char *xf_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define XF_ERR_CASE(name, val, msg)                                                                \
    case XF_E##name:                                                                               \
        return msg;
        XF_ERRNO_MAP(XF_ERR_CASE)
#undef XF_ERR_CASE
    default:
        return "unknown error";
    }
}
