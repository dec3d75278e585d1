/*
 * listen.c - parses the listen address of the HTTP listener into a socket address.
 *
 * Only numeric addresses (and "localhost") are accepted, so starting the listener never waits
 * on DNS. What a reader must know: ":PORT" binds every IPv4 interface, not IPv6; write
 * "[::]:PORT" for that.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

static int parse_port(const char *s, uint16_t *out)
{
    char *end = NULL;
    long v;

    if (*s < '0' || *s > '9')
        return XF_EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end != '\0' || v < 0 || v > 65535)
        return XF_EINVAL;
    *out = (uint16_t)v;
    return 0;
}

int xf_api_listen_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port_s;
    size_t hlen;
    uint16_t port = 0;
    int v6 = 0;
    int rc = XF_EINVAL;

    memset(ss, 0, sizeof(*ss));
    *len = 0;
    if (!listen)
        goto out;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');

        if (!close || close[1] != ':')
            goto out;
        hlen = (size_t)(close - listen - 1);
        port_s = close + 2;
        listen++;
        v6 = 1;
    } else {
        const char *colon = strrchr(listen, ':');

        if (!colon)
            goto out;
        hlen = (size_t)(colon - listen);
        port_s = colon + 1;
    }
    if (hlen >= sizeof(host))
        goto out;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    if (parse_port(port_s, &port))
        goto out;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            goto out;
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;

        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        if (hlen == 0)
            a->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (strcmp(host, "localhost") == 0)
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            goto out;
        *len = sizeof(*a);
    }
    rc = 0;
out:
    if (rc)
        memset(ss, 0, sizeof(*ss));
    return rc;
}
