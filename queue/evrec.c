#include "evrec.h"
#include <string.h>

bool wh_evrec_split(const char *rec, size_t len, json_t **header, const char **body, size_t *body_len)
{
    const char *nl = rec != NULL ? memchr(rec, '\n', len) : NULL;
    json_t *h, *v;

    if (nl == NULL || (h = json_loadb(rec, (size_t)(nl - rec), 0, NULL)) == NULL)
        return false;
    if (!json_is_object(h)) {
        json_decref(h);
        return false;
    }
    if (!json_is_object(json_object_get(h, "s")))
        json_object_set_new(h, "s", json_object());
    /* Lua's cjson encodes an empty array as {} */
    if (!json_is_array(v = json_object_get(h, "a")))
        json_object_set_new(h, "a", json_array());
    *header = h;
    *body = nl + 1;
    *body_len = len - (size_t)(nl - rec) - 1;
    return true;
}
