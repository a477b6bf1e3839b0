#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "crypto.h"

/*
 * In OpenSSL 3, fetching an implementation is the costly part of a short MAC or digest (a locked lookup
 * on every call with EVP_sha256()); fetch once. Written once under pthread_once, immutable afterwards.
 */
static EVP_MAC *hmac_impl;
static EVP_MD *sha256_impl;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_impls(void)
{
    hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
    sha256_impl = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/*
 * Keyed HMAC contexts kept per thread: setting a key up (EVP_MAC_CTX_new, the digest's parameters, the key's
 * inner and outer pads) costs several times the MAC of a webhook body, and a thread signs or verifies with the
 * same few keys over and over (a subscription's signing key, a connection's secret). A context whose key matches
 * is re-initialised with that key (EVP_MAC_init with a NULL key reuses it). Keys longer than HMAC_CACHE_KEY are
 * not kept. Freed when the thread exits (the pthread key's destructor).
 */
#define HMAC_CACHE 16
#define HMAC_CACHE_KEY 64

typedef struct {
    struct {
        uint8_t key[HMAC_CACHE_KEY];
        size_t keylen;
        EVP_MAC_CTX *ctx;
    } e[HMAC_CACHE];
    unsigned next; /* round-robin eviction */
} hmac_cache_t;

static pthread_key_t hmac_cache_key;
static pthread_once_t hmac_cache_once = PTHREAD_ONCE_INIT;

static void hmac_cache_free(void *p)
{
    hmac_cache_t *c = p;
    for (unsigned i = 0; i != HMAC_CACHE; ++i)
        EVP_MAC_CTX_free(c->e[i].ctx);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static void hmac_cache_init(void)
{
    if (pthread_key_create(&hmac_cache_key, hmac_cache_free) != 0)
        abort();
}

/* A context keyed with `key`, ready for updates (owned by the thread's cache), or NULL on failure. */
static EVP_MAC_CTX *hmac_ctx(wh_str_t key)
{
    hmac_cache_t *c;
    OSSL_PARAM params[2];
    unsigned slot;

    pthread_once(&hmac_cache_once, hmac_cache_init);
    if ((c = pthread_getspecific(hmac_cache_key)) == NULL) {
        if ((c = calloc(1, sizeof(*c))) == NULL || pthread_setspecific(hmac_cache_key, c) != 0)
            abort();
    }
    if (key.len <= HMAC_CACHE_KEY) {
        for (unsigned i = 0; i != HMAC_CACHE; ++i)
            if (c->e[i].ctx != NULL && c->e[i].keylen == key.len && CRYPTO_memcmp(c->e[i].key, key.base, key.len) == 0)
                return EVP_MAC_init(c->e[i].ctx, NULL, 0, NULL) ? c->e[i].ctx : NULL;
    }
    slot = c->next++ % HMAC_CACHE;
    EVP_MAC_CTX_free(c->e[slot].ctx);
    OPENSSL_cleanse(c->e[slot].key, sizeof(c->e[slot].key));
    c->e[slot].ctx = NULL;
    c->e[slot].keylen = 0;
    if ((c->e[slot].ctx = EVP_MAC_CTX_new(hmac_impl)) == NULL)
        return NULL;
    params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(c->e[slot].ctx, (const unsigned char *)key.base, key.len, params)) {
        EVP_MAC_CTX_free(c->e[slot].ctx);
        c->e[slot].ctx = NULL;
        return NULL;
    }
    if (key.len <= HMAC_CACHE_KEY) {
        memcpy(c->e[slot].key, key.base, key.len);
        c->e[slot].keylen = key.len;
    } else {
        c->e[slot].keylen = SIZE_MAX; /* never matches: used once, replaced next */
    }
    return c->e[slot].ctx;
}

void wh_hmac_sha256(wh_str_t key, const wh_str_t *parts, size_t n, uint8_t out[WH_SHA256_LEN])
{
    EVP_MAC_CTX *ctx;
    size_t outlen = 0;

    pthread_once(&fetch_once, fetch_impls);
    if (hmac_impl == NULL || (ctx = hmac_ctx(key)) == NULL)
        goto Fail;
    for (size_t i = 0; i != n; ++i)
        if (parts[i].len != 0 && !EVP_MAC_update(ctx, (const unsigned char *)parts[i].base, parts[i].len))
            goto Fail;
    if (!EVP_MAC_final(ctx, out, &outlen, WH_SHA256_LEN) || outlen != WH_SHA256_LEN)
        goto Fail;
    return;
Fail:
    fprintf(stderr, "fatal: HMAC-SHA256 failed in OpenSSL\n");
    abort();
}

void wh_sha256(const wh_str_t *parts, size_t n, uint8_t out[WH_SHA256_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned outlen = 0;

    pthread_once(&fetch_once, fetch_impls);
    if (ctx == NULL || sha256_impl == NULL || !EVP_DigestInit_ex(ctx, sha256_impl, NULL))
        goto Fail;
    for (size_t i = 0; i != n; ++i)
        if (parts[i].len != 0 && !EVP_DigestUpdate(ctx, parts[i].base, parts[i].len))
            goto Fail;
    if (!EVP_DigestFinal_ex(ctx, out, &outlen) || outlen != WH_SHA256_LEN)
        goto Fail;
    EVP_MD_CTX_free(ctx);
    return;
Fail:
    fprintf(stderr, "fatal: SHA-256 failed in OpenSSL\n");
    abort();
}

bool wh_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    return alen == 0 || CRYPTO_memcmp(a, b, alen) == 0;
}

void wh_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i != len; ++i) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int wh_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long wh_hex_decode(wh_str_t in, uint8_t *out, size_t cap)
{
    if (in.len % 2 != 0 || in.len / 2 > cap)
        return -1;
    for (size_t i = 0; i != in.len / 2; ++i) {
        int hi = wh_hex_digit((unsigned char)in.base[2 * i]), lo = wh_hex_digit((unsigned char)in.base[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(in.len / 2);
}

size_t wh_base64_encode(const uint8_t *in, size_t len, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

long wh_base64_decode(wh_str_t in, uint8_t *out, size_t cap)
{
    size_t pad = 0;
    int n;

    /* EVP_DecodeBlock neither rejects bad lengths nor strips padding from its count: do both here. */
    if (in.len == 0)
        return 0;
    if (in.len % 4 != 0 || in.len > (size_t)0x7fffffff || in.len / 4 * 3 > cap)
        return -1;
    for (size_t i = 0; i != in.len; ++i) {
        unsigned char c = (unsigned char)in.base[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=' && i >= in.len - 2) {
            ++pad;
            continue;
        }
        if (!ok || pad != 0)
            return -1;
    }
    n = EVP_DecodeBlock(out, (const unsigned char *)in.base, (int)in.len);
    if (n < 0)
        return -1;
    return (long)n - (long)pad;
}

size_t wh_base64url_encode(const uint8_t *in, size_t len, char *out)
{
    size_t n = wh_base64_encode(in, len, out);
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    for (size_t i = 0; i != n; ++i) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return n;
}

void wh_random_bytes(void *out, size_t len)
{
    if (RAND_bytes(out, (int)len) != 1) {
        fprintf(stderr, "fatal: RAND_bytes failed\n");
        abort();
    }
}

void wh_random_id(const char *prefix, size_t bytes, char *out, size_t cap)
{
    uint8_t raw[32];
    size_t plen = strlen(prefix);

    if (bytes > sizeof(raw) || plen + 2 * bytes + 1 > cap) {
        fprintf(stderr, "fatal: wh_random_id buffer too small\n");
        abort();
    }
    wh_random_bytes(raw, bytes);
    memcpy(out, prefix, plen);
    wh_hex_encode(raw, bytes, out + plen);
}

wh_err_t wh_aead_seal(const uint8_t key[WH_AEAD_KEY_LEN], wh_str_t aad, wh_str_t plain, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    wh_err_t err = WH_ECRYPTO;
    int len;

    if (ctx == NULL)
        goto Exit;
    wh_random_bytes(out, 12);
    if (!EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out))
        goto Exit;
    if (aad.len != 0 && !EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad.base, (int)aad.len))
        goto Exit;
    if (!EVP_EncryptUpdate(ctx, out + 12, &len, (const unsigned char *)plain.base, (int)plain.len))
        goto Exit;
    if (!EVP_EncryptFinal_ex(ctx, out + 12 + len, &len))
        goto Exit;
    if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + plain.len))
        goto Exit;
    err = WH_OK;
Exit:
    EVP_CIPHER_CTX_free(ctx);
    return err;
}

wh_err_t wh_aead_open(const uint8_t key[WH_AEAD_KEY_LEN], wh_str_t aad, wh_str_t in, uint8_t *out, size_t *outlen)
{
    EVP_CIPHER_CTX *ctx = NULL;
    wh_err_t err = WH_ECRYPTO;
    size_t clen;
    int len;

    if (in.len < WH_AEAD_OVERHEAD)
        return WH_ECRYPTO;
    clen = in.len - WH_AEAD_OVERHEAD;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        goto Exit;
    if (!EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, (const unsigned char *)in.base))
        goto Exit;
    if (aad.len != 0 && !EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad.base, (int)aad.len))
        goto Exit;
    if (!EVP_DecryptUpdate(ctx, out, &len, (const unsigned char *)in.base + 12, (int)clen))
        goto Exit;
    if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in.base + 12 + clen)))
        goto Exit;
    if (EVP_DecryptFinal_ex(ctx, out + len, &len) <= 0)
        goto Exit;
    *outlen = clen;
    err = WH_OK;
Exit:
    EVP_CIPHER_CTX_free(ctx);
    return err;
}
