/*
 * cmd_produce.c - `xdrflow produce` (being built; see the issue tracker).
 */
#include <stdio.h>

#include "cli.h"

int xf_cmd_produce(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xdrflow produce: not available in this build yet\n");
    return 2;
}
