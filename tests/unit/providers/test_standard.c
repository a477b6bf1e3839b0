/*
 * providers/standard.c, driven by data: every case of the JSON files in tests/fixtures/providers/standard/ runs
 * through the shared driver's cases.json loop (fixture.h, fx_run_cases).
 * gen.py in the fixtures folder computes the signatures (Python's hmac, an implementation independent of wharf's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixture.h"

#define PROVIDER "standard"
#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/" PROVIDER
#define DEFAULT_URL "https://wharf.example/webhooks/" PROVIDER "/conn_1"
#define MIN_CASES 40

static void test_fixtures(void **state)
{
    const fx_cases_config_t cfg = {
        .provider = wh_provider_find(WH_STRLIT(PROVIDER)),
        .dir = FIXTURES,
        .default_url = DEFAULT_URL,
        .min_files = 1,
        .min_cases = MIN_CASES,
    };

    (void)state;
    fx_run_cases(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
