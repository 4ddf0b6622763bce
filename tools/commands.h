/* The subcommands of `tpfuse`. Each returns the process exit status. */
#ifndef TPF_TOOLS_COMMANDS_H
#define TPF_TOOLS_COMMANDS_H

#include "harness.h"

int cmd_demo(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_id(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_rs(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_floor(int argc, char **argv);

/* Prints one line per rank and a verdict; returns 0 if the case passed. */
int print_result(const rs_case_t *c, const rs_result_t *r);

/* "--name=value" or "--name value": the value of option `name` at argv[*i]
 * (advancing *i past a separate value), or NULL if argv[*i] is not it. */
const char *option_value(int argc, char **argv, int *i, const char *name);

/* Parses fp16|bf16|fp32; -1 if none. */
int parse_dtype(const char *text);
/* fp16, bf16 or fp32. */
const char *dtype_text(tpf_dtype_t t);

/* A comma-separated list of up to `most` dtypes ("bf16,fp32") into types;
 * the count, or -1 after a message naming `command` and the bad item. */
int parse_dtype_list(const char *command, const char *text, tpf_dtype_t *types, int most);
/* A comma-separated list of up to `most` integers ("2,4") into values;
 * the count. */
int parse_int_list(const char *text, int *values, int most);

/* A comma-separated list of up to `most` sizes in bytes ("4096,64K,16M")
 * into sizes; the count, or -1 after a message naming `command`. */
int parse_size_list(const char *command, const char *text, int64_t *sizes, int most);

/* "threads" -> RS_THREADS, "shm" -> RS_SHM (forked processes), "mpi" ->
 * RS_MPI (built with MPI); -1 (and a message) else. */
int parse_transport(const char *text);
const char *transport_text(int transport);

/* 1 if argv asks for --transport mpi. */
int wants_mpi(int argc, char **argv);

/* Under --transport mpi: this process's rank and the number of processes
 * (0 and 1 without MPI). */
int mpi_rank(void);
int mpi_size(void);

/* 1 if argv has -h or --help. */
int wants_help(int argc, char **argv);

#endif
