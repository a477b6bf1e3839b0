/*
 * libFuzzer target for queue/evrec.c: an event record as read back from Redis (the events API and the worker's
 * retries read what is stored in wh:evb:*; a bug elsewhere, a restore from a foreign dump, or a tampered Redis can
 * put anything there).
 *
 * Input: the whole input is read as a record (header line + stored body) and as a stored body alone; then the
 * input is stored as a body and read back.
 *
 * Invariants checked (abort on violation): a body that reads is NUL-terminated and at most WH_EVREC_MAX_BODY;
 * whatever is stored reads back byte for byte, and is never stored larger than itself plus the marker byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../queue/evrec.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    json_t *header;
    char *body;
    size_t len;
    wh_argv_t a;

    if (wh_evrec_split(in, size, &header, &body, &len)) {
        fuzz_check(json_is_object(json_object_get(header, "s")) && json_is_array(json_object_get(header, "a")));
        fuzz_check(len <= WH_EVREC_MAX_BODY && body[len] == '\0');
        json_decref(header);
        free(body);
    }
    if (wh_evrec_body(in, size, &body, &len)) {
        fuzz_check(len <= WH_EVREC_MAX_BODY && body[len] == '\0');
        free(body);
    }
    wh_argv_init(&a);
    wh_argv_begin(&a);
    wh_evrec_put_body(&a, in, size);
    wh_argv_end(&a);
    fuzz_check(a.lens[0] <= size + 1);
    /* a body is JSON (it starts with '{'); only such inputs are guaranteed to read back as themselves */
    if (size != 0 && in[0] == '{') {
        fuzz_check(wh_evrec_body(wh_argv_ptrs(&a)[0], a.lens[0], &body, &len));
        fuzz_check(len == size && memcmp(body, in, size) == 0);
        free(body);
    }
    wh_argv_dispose(&a);
    return 0;
}
