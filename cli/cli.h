/*
 * cli.h - the subcommands of the xdrflow binary. main.c dispatches; each cmd_*.c parses its
 * own options (getopt_long), prints its own --help, and returns the process exit code:
 * 0 success, 1 failure, 2 usage error.
 */
#ifndef XF_CLI_H
#define XF_CLI_H

int xf_cmd_replay(int argc, char **argv);
int xf_cmd_incidents(int argc, char **argv);
int xf_cmd_rules(int argc, char **argv);
int xf_cmd_decode(int argc, char **argv);
int xf_cmd_run(int argc, char **argv);
int xf_cmd_demo(int argc, char **argv);
int xf_cmd_produce(int argc, char **argv);
int xf_cmd_devbroker(int argc, char **argv);
/* cmd_isolate.c: clients of a running daemon's response API */
int xf_cmd_isolate(int argc, char **argv);
int xf_cmd_release(int argc, char **argv);
int xf_cmd_actions(int argc, char **argv);

/* Applies --log-level/--log-format style values; returns 0 or 2 on a bad value. */
int xf_cli_set_log_level(const char *s);
int xf_cli_set_log_format(const char *s);

#endif
