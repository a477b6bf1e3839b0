#include <stdlib.h>
#include <string.h>
#include "crypto.h"
#include "secret.h"

wh_err_t wh_secret_seal(const wh_config_t *cfg, wh_str_t owner, wh_str_t plain, char **out)
{
    uint8_t *raw = NULL;
    char *text = NULL;
    wh_err_t err;

    *out = NULL;
    if (!cfg->has_master_key) {
        if (!cfg->insecure_dev)
            return WH_EUNSUPPORTED;
        text = malloc(plain.len + 7);
        if (text == NULL)
            abort();
        memcpy(text, "plain:", 6);
        memcpy(text + 6, plain.base, plain.len);
        text[6 + plain.len] = '\0';
        *out = text;
        return WH_OK;
    }
    raw = malloc(plain.len + WH_AEAD_OVERHEAD);
    text = malloc(3 + 4 * ((plain.len + WH_AEAD_OVERHEAD + 2) / 3) + 1);
    if (raw == NULL || text == NULL)
        abort();
    if ((err = wh_aead_seal(cfg->master_key, owner, plain, raw)) != WH_OK) {
        free(text);
        goto Exit;
    }
    memcpy(text, "v1:", 3);
    wh_base64_encode(raw, plain.len + WH_AEAD_OVERHEAD, text + 3);
    *out = text;
Exit:
    free(raw);
    return err;
}

wh_err_t wh_secret_open(const wh_config_t *cfg, wh_str_t owner, wh_str_t sealed, char **out, size_t *outlen)
{
    uint8_t *raw = NULL;
    char *plain = NULL;
    wh_err_t err = WH_ECRYPTO;
    long n;

    *out = NULL;
    if (sealed.len >= 6 && memcmp(sealed.base, "plain:", 6) == 0) {
        /* Only readable where it could have been written: a dev deployment. */
        if (!cfg->insecure_dev)
            return WH_ECRYPTO;
        plain = malloc(sealed.len - 6 + 1);
        if (plain == NULL)
            abort();
        memcpy(plain, sealed.base + 6, sealed.len - 6);
        plain[sealed.len - 6] = '\0';
        *out = plain;
        *outlen = sealed.len - 6;
        return WH_OK;
    }
    if (!cfg->has_master_key || sealed.len < 3 || memcmp(sealed.base, "v1:", 3) != 0)
        return WH_ECRYPTO;
    raw = malloc(sealed.len);
    if (raw == NULL)
        abort();
    n = wh_base64_decode(wh_str(sealed.base + 3, sealed.len - 3), raw, sealed.len);
    if (n < WH_AEAD_OVERHEAD)
        goto Exit;
    plain = malloc((size_t)n - WH_AEAD_OVERHEAD + 1);
    if (plain == NULL)
        abort();
    if (wh_aead_open(cfg->master_key, owner, wh_str((const char *)raw, (size_t)n), (uint8_t *)plain, outlen) != WH_OK) {
        free(plain);
        goto Exit;
    }
    plain[*outlen] = '\0';
    *out = plain;
    err = WH_OK;
Exit:
    free(raw);
    return err;
}
