/*
 * The synced cache's write side as the worker sees it: the arguments of one
 * apply (cache/scripts/apply.lua). Values are stored as JSON text, one hash
 * field per unified field; provider properties without a unified name are
 * flattened to "additional.<name>" so each one has its own version.
 */
#ifndef WH_CACHE_H
#define WH_CACHE_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    const char **argv;
    size_t *len;
    char **owned; /* dumped JSON values and flattened names, freed by dispose */
    size_t n, cap, nowned, owned_cap;
} wh_cache_args_t;

void wh_cache_args_init(wh_cache_args_t *a);
void wh_cache_args_dispose(wh_cache_args_t *a);
/* Appends a borrowed argument (valid until the command is sent). */
void wh_cache_args_add(wh_cache_args_t *a, const char *s, size_t len);
/* Appends field/value pairs for every member of `fields` (JSON values dumped; "additional" flattened). */
void wh_cache_args_add_fields(wh_cache_args_t *a, const json_t *fields);

#endif
