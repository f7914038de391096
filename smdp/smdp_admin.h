/*
 * smdp_admin.h - the `smdp-admin` command line (operators, profiles,
 * orders) over smdp_store.h. Exit codes: see SMDP_ADMIN_EXIT_* and --help.
 */
#ifndef SMDP_ADMIN_H
#define SMDP_ADMIN_H

#define SMDP_ADMIN_EXIT_OK       0
#define SMDP_ADMIN_EXIT_USAGE    1  /* bad command line */
#define SMDP_ADMIN_EXIT_NOTFOUND 2  /* operator, profile or order not found */
#define SMDP_ADMIN_EXIT_CONFLICT 3  /* duplicate, wrong state, none Available */
#define SMDP_ADMIN_EXIT_INPUT    4  /* malformed package, certificate, ICCID, EID */
#define SMDP_ADMIN_EXIT_STORE    5  /* database or internal error */

/* Run one command; returns the process exit code. */
int smdp_admin_run(int argc, char **argv);

#endif
