/*
 * fuzz_links.c - libFuzzer target for the join-spec loader (rules/links.yaml) and for the
 * spec evaluation it drives: each input is a links file; when it loads, a fixed set of events
 * of every category runs through a correlator built from it and the incidents are rendered.
 *
 * The one thing to know: it goes through the public API (a temporary file and
 * xf_correlator_create), so what is fuzzed is exactly what the engine loads.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xf/correlate.h"

static char path[64];
static struct xf_event evs[8];
static size_t n_evs;

static void ev(enum xf_category cat, const char *id, int64_t t, const char *const *kv)
{
    struct xf_event *e = &evs[n_evs++];

    xf_event_init(e);
    e->category = cat;
    e->time = t;
    xf_event_set_id(e, id);
    for (; kv[0]; kv += 2) {
        int f = xf_field_lookup(kv[0]);
        if (f < 0)
            continue;
        if (xf_field_is_multi((enum xf_field)f))
            xf_event_add(e, (enum xf_field)f, kv[1], (size_t)-1);
        else
            xf_event_set(e, (enum xf_field)f, kv[1], (size_t)-1);
    }
}

static void setup(void)
{
    const int64_t t0 = 1795251600000LL;

    snprintf(path, sizeof(path), "/tmp/fuzz_links.%d.yaml", (int)getpid());
    ev(XF_CAT_EMAIL, "m1", t0,
       (const char *const[]){"MessageId", "<m@x>", "Recipient", "bob@corp", "AttachmentName",
                             "a.doc", "AttachmentSha256", "aa", "Url", "http://u@h.test:8/x",
                             NULL});
    ev(XF_CAT_FILE, "f1", t0 + 1000,
       (const char *const[]){"Hostname", "WS1.corp", "ProcessGuid", "{O}", "TargetFilename",
                             "C:\\u\\a.doc", "User", "CORP\\bob", "Hashes", "SHA256=aa", NULL});
    ev(XF_CAT_PROCESS, "p1", t0 + 2000,
       (const char *const[]){"Hostname", "ws1", "ProcessGuid", "{W}", "ParentProcessGuid", "{O}",
                             "Image", "C:\\o\\WINWORD.EXE", "CommandLine",
                             "\"C:\\o\\WINWORD.EXE\" /n \"C:\\u\\a.doc\" x:\\ \\\\s\\x,1 \"",
                             "User", "CORP\\bob", "LogonId", "0x99", NULL});
    ev(XF_CAT_PROCESS, "p2", t0 + 3000,
       (const char *const[]){"Hostname", "ws1", "ProcessGuid", "{P}", "ParentProcessGuid", "{M}",
                             "ParentImage", "C:\\wbem\\WmiPrvSE.exe", "Image", "C:\\powershell.exe",
                             "CommandLine", "%COMSPEC% /c %windir%", "User", "CORP\\bob", NULL});
    ev(XF_CAT_NETWORK, "n1", t0 + 4000,
       (const char *const[]){"Hostname", "ws1", "ProcessGuid", "{P}", "Initiated", "true",
                             "SourceIp", "10.0.0.1", "DestinationIp", "10.0.0.2", "DestinationPort",
                             "445", "Url", "http://h.test/x", NULL});
    ev(XF_CAT_LOGON, "l1", t0 + 5000,
       (const char *const[]){"Hostname", "ws2", "LogonType", "3", "IpAddress", "10.0.0.1",
                             "TargetUserName", "bob", "TargetLogonId", "0x7", NULL});
    ev(XF_CAT_SERVICE, "s1", t0 + 6000,
       (const char *const[]){"Hostname", "ws2", "ServiceName", "X", "ImagePath", "%COMSPEC% /c \"",
                             NULL});
    ev(XF_CAT_ALERT, "a1", t0 + 7000,
       (const char *const[]){"Hostname", "ws1", "ProcessGuid", "{P}", "AlertRule", "r",
                             "AlertSeverity", "95", NULL});
}

static int render(const struct xf_incident_view *v, void *ud)
{
    struct xf_buf b;

    (void)ud;
    xf_buf_init(&b);
    xf_incident_render_text(v->json, v->len, &b);
    xf_buf_reset(&b);
    xf_incident_render_dot(v->json, v->len, &b);
    xf_buf_close(&b);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xf_correlator *c = NULL;
    FILE *f;

    if (!n_evs)
        setup();
    f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct xf_correlate_opts o = {.links_path = path, .hub_cap = 3};
    if (xf_correlator_create(&o, &c) == 0) {
        for (size_t i = 0; i < n_evs; i++)
            xf_correlator_add(c, &evs[i]);
        xf_correlator_flush(c, render, render, NULL);
        xf_correlator_drain_edges(c, NULL, NULL);
        xf_correlator_incidents(c, render, NULL);
        xf_correlator_destroy(c);
    }
    unlink(path);
    return 0;
}
