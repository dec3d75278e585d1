/*
 * cmd_demo.c - `xdrflow demo` (being built; see the issue tracker).
 */
#include <stdio.h>

#include "cli.h"

int xf_cmd_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "xdrflow demo: not available in this build yet\n");
    return 2;
}
