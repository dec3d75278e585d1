/*
 * json.c - the JSON the listener writes itself: string escaping and the error body.
 *
 * Error messages may echo a request path, which is attacker-controlled bytes; escaping here
 * replaces invalid UTF-8 so every body we send parses as JSON.
 */
#include <stdint.h>
#include <string.h>

#include "api_int.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the byte at s does not start one. */
static size_t utf8_seq_len(const unsigned char *s)
{
    size_t n;
    size_t i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
        cp > 0x10ffff)
        return 0;
    return n;
}

int xf_api_json_escape(struct xf_buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc = 0;

    while (*p && !rc) {
        size_t n = utf8_seq_len(p);

        if (n == 0) {
            rc = xf_buf_appends(out, "\\ufffd");
            p++;
        } else if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};

            rc = xf_buf_append(out, esc, 2);
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            rc = xf_buf_appendf(out, "\\u%04x", *p);
            p++;
        } else {
            rc = xf_buf_append(out, p, n);
            p += n;
        }
    }
    return rc;
}

int xf_http_error(struct xf_http_response *resp, int status, const char *code, const char *message)
{
    int rc;

    if (!resp || !code || !message)
        return XF_EINVAL;
    xf_buf_reset(&resp->body);
    resp->status = status;
    resp->content_type = "application/json";
    rc = xf_buf_appends(&resp->body, "{\"error\":{\"code\":\"");
    if (!rc)
        rc = xf_api_json_escape(&resp->body, code);
    if (!rc)
        rc = xf_buf_appends(&resp->body, "\",\"message\":\"");
    if (!rc)
        rc = xf_api_json_escape(&resp->body, message);
    if (!rc)
        rc = xf_buf_appends(&resp->body, "\"}}");
    return rc;
}
