/* smdp-admin: manage the SM-DP+ database (see smdp_admin.h, --help). */
#include "smdp_admin.h"

int main(int argc, char **argv)
{
    return smdp_admin_run(argc, argv);
}
