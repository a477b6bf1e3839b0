/*
 * libFuzzer target for queue/outbox.c's entry reader: an outbox entry as read back from Redis (written by wharf's
 * own scripts; a bug elsewhere, a restore from a foreign dump or a tampered Redis can put anything there).
 *
 * Invariants checked (abort on violation): an entry that reads is an XADD to a partition stream with an odd number
 * of arguments after "*" (field value pairs), every argument within the parsed JSON, and never more arguments
 * than the bound given.
 */
#include <stdint.h>
#include <string.h>
#include "../../queue/outbox.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *argv[16];
    size_t argvlen[16];
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    int n;

    if (j == NULL)
        return 0;
    n = wh_outbox_entry_argv(j, argv, argvlen, 16);
    fuzz_check(n == -1 || (n >= 5 && n <= 16 && n % 2 == 1));
    if (n > 0) {
        fuzz_check(strcmp(argv[0], "XADD") == 0 && strncmp(argv[1], "wh:q:{p", 7) == 0 && strcmp(argv[2], "*") == 0);
        for (int i = 0; i != n; ++i)
            fuzz_check(argv[i] != NULL && strlen(argv[i]) <= argvlen[i]);
    }
    json_decref(j);
    return 0;
}
