/*
 * cmd_devbroker.c - `xdrflow devbroker` (being built; see the issue tracker).
 */
#include <stdio.h>

#include "cli.h"

int xf_cmd_devbroker(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xdrflow devbroker: not available in this build yet\n");
    return 2;
}
