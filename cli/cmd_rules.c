/*
 * cmd_rules.c - `xdrflow rules check DIR...`: load Sigma rules the way the engine does and
 * report every problem with file and line, so a detection engineer sees them before deploying.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "xf/rules.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: xdrflow rules check [PATH...]\n\n"
                 "Loads the Sigma rules under each PATH (files or directories; default: the\n"
                 "bundled pack) and prints FILE:LINE: problem for each rule that cannot be\n"
                 "used. Exit status: 0 all rules load, 1 some rules have problems, 2 usage.\n");
}

int xf_cmd_rules(int argc, char **argv)
{
    struct xf_ruleset *rs = NULL;
    struct xf_rule_errors errs = {0};
    const char *def[1];
    const char *const *paths;
    size_t n;
    int rc;

    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "check")) {
        fprintf(stderr, "xdrflow rules: unknown verb '%s' (check)\n", argv[1]);
        return 2;
    }
    if (argc > 2 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 2) {
        paths = (const char *const *)argv + 2;
        n = (size_t)(argc - 2);
    } else {
        def[0] = xf_rules_default_dir();
        paths = def;
        n = 1;
    }
    rc = xf_ruleset_load(paths, n, &rs, &errs);
    for (size_t i = 0; i < errs.count; i++) {
        if (errs.items[i].line > 0)
            printf("%s:%d: %s\n", errs.items[i].file, errs.items[i].line, errs.items[i].message);
        else
            printf("%s: %s\n", errs.items[i].file, errs.items[i].message);
    }
    if (rs)
        printf("%zu rule(s) loaded, %zu problem(s)\n", xf_ruleset_count(rs), errs.count);
    else
        printf("no rules loaded: %s\n", xf_strerror(rc));
    int status = (rc || errs.count) ? 1 : 0;
    xf_rule_errors_close(&errs);
    xf_ruleset_destroy(rs);
    return status;
}
