/*
 * client.c - a small blocking HTTP client for the CLI (`xdrflow isolate`, `release`, `actions`).
 *
 * The CLI talks to a running daemon's /api/v1 with one easy-handle request per call; libcurl
 * stays inside response/ (the module that already owns it), so the CLI sees only our types.
 *
 * The one thing to know: a call that got ANY HTTP answer returns 0 with *status set (a 401 or a
 * 409 is an answer, not an error: the caller decides what it means); only "no answer" (refused,
 * timed out, reset, bad URL) returns XF_EIO, with libcurl's reason text in out so the CLI can
 * say why. The token is sent as a bearer header and never logged.
 */
#include <pthread.h>
#include <string.h>

#include <curl/curl.h>

#include "xf/core.h"
#include "xf/response.h"

#define CLIENT_MAX_ANSWER (16u << 20) /* an actions list is small; refuse to buffer a flood */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct xf_buf *out = ud;
    size_t len = size * n;

    if (out->len + len > CLIENT_MAX_ANSWER || xf_buf_append(out, data, len))
        return 0; /* libcurl turns a short count into CURLE_WRITE_ERROR */
    return len;
}

int xf_api_client_call(const char *base_url, const char *token, const char *method,
                       const char *path, const char *body, long *status, struct xf_buf *out)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL, *h;
    struct xf_buf url, auth;
    CURL *c = NULL;
    CURLcode cc;
    int rc = XF_EIO;

    xf_buf_init(&url);
    xf_buf_init(&auth);
    *status = 0;
    if (!base_url || !method || !path || !out)
        return XF_EINVAL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        rc = XF_EINTERNAL;
        goto out;
    }
    /* "http://h:p/" + "/api/v1/..." must not become "//api" (a different path to the server) */
    size_t blen = strlen(base_url);
    while (blen && base_url[blen - 1] == '/')
        blen--;
    if (xf_buf_append(&url, base_url, blen) || xf_buf_appends(&url, path)) {
        rc = XF_ENOMEM;
        goto out;
    }
    if (!(c = curl_easy_init())) {
        rc = XF_ENOMEM;
        goto out;
    }
    if (token && *token) {
        if (xf_buf_appendf(&auth, "Authorization: Bearer %s", token) ||
            !(h = curl_slist_append(hdrs, auth.data))) {
            rc = XF_ENOMEM;
            goto out;
        }
        hdrs = h;
    }
    if (body) {
        if (!(h = curl_slist_append(hdrs, "Content-Type: application/json"))) {
            rc = XF_ENOMEM;
            goto out;
        }
        hdrs = h;
    }
    if (!(h = curl_slist_append(hdrs, "Accept: application/json"))) {
        rc = XF_ENOMEM;
        goto out;
    }
    hdrs = h;
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    /* never follow a redirect with a bearer token in it */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        xf_buf_reset(out);
        xf_buf_appends(out, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = XF_EIO;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    /* the header held the token: do not leave it in freed heap memory */
    if (auth.data)
        memset(auth.data, 0, auth.cap);
    xf_buf_close(&auth);
    xf_buf_close(&url);
    return rc;
}
