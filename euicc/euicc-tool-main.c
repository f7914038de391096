/*
 * euicc-tool - create and inspect simulated eUICC state files.
 *   euicc-tool create --state FILE --pki DIR [--cert C --key K] [--default-dp ADDR]
 *   euicc-tool show --state FILE
 */
#include <stdio.h>
#include <string.h>

#include "euicc.h"
#include "rsp_err.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: euicc-tool create --state FILE --pki DIR [--cert C --key K]\n"
            "                         [--default-dp ADDR]\n"
            "       euicc-tool show --state FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct euicc_identity id;
    const char *state = NULL;
    struct euicc *e = NULL;
    int rc;

    if (argc < 2)
        return usage();
    memset(&id, 0, sizeof(id));
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (!strcmp(argv[i], "--state"))
            state = v;
        else if (!strcmp(argv[i], "--pki"))
            id.pki_dir = v;
        else if (!strcmp(argv[i], "--cert"))
            id.euicc_cert_path = v;
        else if (!strcmp(argv[i], "--key"))
            id.euicc_key_path = v;
        else if (!strcmp(argv[i], "--default-dp"))
            id.default_dp = v;
        else
            return usage();
        i++;
    }
    if (!state)
        return usage();
    if (!strcmp(argv[1], "create")) {
        if (!id.pki_dir || !id.euicc_cert_path != !id.euicc_key_path)
            return usage();
        rc = euicc_create(state, &id);
        if (rc == 0)
            rc = euicc_open(state, &e);
    } else if (!strcmp(argv[1], "show")) {
        rc = euicc_open(state, &e);
    } else {
        return usage();
    }
    if (rc == 0)
        rc = euicc_state_print(e, stdout);
    euicc_free(e);
    if (rc) {
        fprintf(stderr, "euicc-tool: %s: %s\n", state, rsp_strerror(rc));
        return 1;
    }
    return 0;
}
