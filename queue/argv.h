/*
 * An argument vector for one Redis command or script call, built piece by piece: every argument's bytes go into
 * one growing buffer (like curl's dynbuf), so building a call of thousands of arguments costs a few reallocations,
 * not a malloc per argument. Binary-safe; arguments are read back as pointer + length once the vector is complete.
 */
#ifndef WH_ARGV_H
#define WH_ARGV_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *buf; /* every argument's bytes, back to back */
    size_t len, cap;
    size_t *off, *lens; /* argument i: buf + off[i], lens[i] bytes */
    size_t n, ncap;
    size_t open;       /* wh_argv_begin: where the argument being built starts */
    const char **ptrs; /* filled by wh_argv_ptrs */
} wh_argv_t;

void wh_argv_init(wh_argv_t *a);
void wh_argv_dispose(wh_argv_t *a);
/* Empties `a`, keeping its memory for the next call. */
void wh_argv_reset(wh_argv_t *a);
/* Appends `len` bytes as one argument. Aborts on allocation failure or size overflow. */
void wh_argv_add(wh_argv_t *a, const void *s, size_t len);
/* Appends a NUL-terminated string (NULL: an empty argument). */
void wh_argv_adds(wh_argv_t *a, const char *s);
/* Appends a decimal integer. */
void wh_argv_addi(wh_argv_t *a, long long v);
/* Builds one argument from pieces: begin, put any number of times, end. Nothing else may be added in between. */
void wh_argv_begin(wh_argv_t *a);
void wh_argv_put(wh_argv_t *a, const void *s, size_t len);
void wh_argv_end(wh_argv_t *a);
/* Makes room for `len` more bytes of the argument being built, to be written at a->buf + a->len directly (then
   add them to a->len; a->buf may move, so take it after this call). */
void wh_argv_reserve(wh_argv_t *a, size_t len);
/* Appends every argument of `from`. */
void wh_argv_append(wh_argv_t *a, const wh_argv_t *from);
/* The arguments' pointers, valid until the next change to `a`; lengths are a->lens. */
const char **wh_argv_ptrs(wh_argv_t *a);

#endif
