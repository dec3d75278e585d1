/*
 * cmd_run.c - `xdrflow run` (being built; see the issue tracker).
 */
#include <stdio.h>

#include "cli.h"

int xf_cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xdrflow run: not available in this build yet\n");
    return 2;
}
