/*
 * render.c - human (text timeline) and Graphviz views of an incident, from its JSON.
 *
 * The one thing to know: it works from the incident JSON alone (jansson), so stored
 * incidents render exactly like live ones.
 */
#include <jansson.h>
#include <string.h>

#include "xf/correlate.h"

int xf_incident_render_text(const char *json, size_t len, struct xf_buf *out)
{
    (void)json;
    (void)len;
    (void)out;
    return XF_EPARSE;
}

int xf_incident_render_dot(const char *json, size_t len, struct xf_buf *out)
{
    (void)json;
    (void)len;
    (void)out;
    return XF_EPARSE;
}
