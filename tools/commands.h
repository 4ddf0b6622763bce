/* The subcommands of `tpfuse`. Each returns the process exit status. */
#ifndef TPF_TOOLS_COMMANDS_H
#define TPF_TOOLS_COMMANDS_H

#include "harness.h"

int cmd_demo(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_id(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints one line per rank and a verdict; returns 0 if the case passed. */
int print_result(const rs_case_t *c, const rs_result_t *r);

/* "--name=value" or "--name value": the value of option `name` at argv[*i]
 * (advancing *i past a separate value), or NULL if argv[*i] is not it. */
const char *option_value(int argc, char **argv, int *i, const char *name);

/* Parses fp16|bf16|fp32; -1 if none. */
int parse_dtype(const char *text);

/* "threads" -> 0, "shm" -> 1 (forked processes); -1 (and a message) else. */
int parse_transport(const char *text);

/* 1 if argv has -h or --help. */
int wants_help(int argc, char **argv);

#endif
