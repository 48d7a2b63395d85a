/*
 * config.c: cflink's configuration (see config.h): the known-key table
 * (config_keys.h), Flink's value formats, conf/config.yaml and -D
 * overrides.
 *
 * Design. A configuration holds only the keys that were set, as the text
 * the user wrote (Flink shows that text in /jobmanager/config); defaults
 * live in the key table. A read returns the set value, else the value of
 * a set fallback key, else the default. Values of known keys are checked
 * when set, so typed getters parse again but cannot fail. A YAML file is
 * read with libyaml's document loader, flattened to dotted keys, checked
 * as a whole (syntax, duplicates, values) and only then applied: a file
 * with an error leaves the configuration unchanged.
 *
 * Thread: built on one thread, then read-only (config.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "config_keys.h"

/* Nesting and size limits of a YAML file (aliases can multiply nodes). */
#define CF_CFG_MAX_DEPTH 32
#define CF_CFG_MAX_ITEMS 100000

typedef struct cf_cfg_entry_s {
    char *key;
    char *value;
    int deprecated; /* set under a deprecated name */
} cf_cfg_entry_t;

struct cf_config_s {
    cf_cfg_entry_t *v;
    size_t n;
    size_t cap;
};

typedef union cf_cfg_val_u {
    int64_t i;
    double d;
} cf_cfg_val_t;

/* ------------------------------------------------------------------ */
/* The key table                                                       */
/* ------------------------------------------------------------------ */

/* The index of name in a '|'-separated list, or -1. */
static int
cf_cfg_list_find(const char *list, const char *name, size_t len, int nocase)
{
    const char *p = list;
    int idx = 0;

    if (list == NULL)
        return -1;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);

        if (n == len && (nocase ? strncasecmp(p, name, len)
                                : strncmp(p, name, len)) == 0)
            return idx;
        if (bar == NULL)
            return -1;
        p = bar + 1;
        idx++;
    }
}

const cf_config_key_t *
cf_config_keys(int *n)
{
    if (n != NULL)
        *n = (int)CF_ARRAY_LEN(cf_config_key_table);
    return cf_config_key_table;
}

static const cf_config_key_t *
cf_cfg_key_exact(const char *key)
{
    for (size_t i = 0; i < CF_ARRAY_LEN(cf_config_key_table); i++)
        if (strcmp(cf_config_key_table[i].key, key) == 0)
            return &cf_config_key_table[i];
    return NULL;
}

/* The next key at or after *i that has name as a deprecated name. */
static const cf_config_key_t *
cf_cfg_key_by_alias(const char *name, size_t *i)
{
    size_t len = strlen(name);

    for (; *i < CF_ARRAY_LEN(cf_config_key_table); (*i)++) {
        const cf_config_key_t *k = &cf_config_key_table[*i];
        if (cf_cfg_list_find(k->aliases, name, len, 0) >= 0) {
            (*i)++;
            return k;
        }
    }
    return NULL;
}

const cf_config_key_t *
cf_config_key_find(const char *key)
{
    const cf_config_key_t *k = cf_cfg_key_exact(key);
    size_t i = 0;

    return k ? k : cf_cfg_key_by_alias(key, &i);
}

const char *
cf_config_type_name(cf_cfg_type_t type)
{
    switch (type) {
    case CF_CFG_STRING:
        return "String";
    case CF_CFG_INT:
        return "Integer";
    case CF_CFG_LONG:
        return "Long";
    case CF_CFG_DOUBLE:
        return "Double";
    case CF_CFG_BOOL:
        return "Boolean";
    case CF_CFG_DURATION:
        return "Duration";
    case CF_CFG_MEMORY:
        return "MemorySize";
    case CF_CFG_ENUM:
        return "Enum";
    }
    return "?";
}

int
cf_config_key_is_sensitive(const char *key)
{
    /* Flink's GlobalConfiguration.SENSITIVE_KEYS. */
    static const char *const words[] = {
        "password",    "secret",    "fs.azure.account.key",
        "apikey",      "api-key",   "auth-params",
        "service-key", "token",     "basic-auth",
        "jaas.config", "http-headers",
    };
    char *low = cf_strdup(key);
    int hit = 0;

    for (char *p = low; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (size_t i = 0; i < CF_ARRAY_LEN(words) && !hit; i++)
        hit = strstr(low, words[i]) != NULL;
    cf_free(low);
    return hit;
}

/* ------------------------------------------------------------------ */
/* Value parsers                                                       */
/* ------------------------------------------------------------------ */

static void
cf_cfg_trim(const char *s, const char **b, const char **e)
{
    const char *end = s + strlen(s);

    while (*s && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *b = s;
    *e = end;
}

/* [+-]digits between optional spaces. 0, CF_EINVAL, or -ERANGE. */
static int
cf_cfg_parse_i64(const char *s, int64_t *out)
{
    const char *b, *e;
    uint64_t v = 0, limit = (uint64_t)INT64_MAX;
    int neg = 0;

    cf_cfg_trim(s, &b, &e);
    if (b < e && (*b == '+' || *b == '-')) {
        neg = *b == '-';
        if (neg)
            limit++;
        b++;
    }
    if (b == e)
        return CF_EINVAL;
    for (; b < e; b++) {
        unsigned d;
        if (!isdigit((unsigned char)*b))
            return CF_EINVAL;
        d = (unsigned)(*b - '0');
        if (v > (limit - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int
cf_parse_long(const char *s, int64_t *out)
{
    return cf_cfg_parse_i64(s, out) == 0 ? 0 : CF_EINVAL;
}

int
cf_parse_bool(const char *s, int *out)
{
    const char *b, *e;

    cf_cfg_trim(s, &b, &e);
    if (e - b == 4 && strncasecmp(b, "true", 4) == 0)
        *out = 1;
    else if (e - b == 5 && strncasecmp(b, "false", 5) == 0)
        *out = 0;
    else
        return CF_EINVAL;
    return 0;
}

static int
cf_cfg_parse_double(const char *s, double *out)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(s, &end);
    if (end == s)
        return CF_EINVAL;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || !isfinite(d))
        return CF_EINVAL;
    *out = d;
    return 0;
}

/* A number followed by a unit, as Flink's TimeUtils and MemorySize read
 * them: digits only, then an optional unit label, lower-cased into unit
 * (truncated; no label is that long). */
enum { CF_CFG_NUM_OK, CF_CFG_NUM_NONE, CF_CFG_NUM_RANGE };

static int
cf_cfg_num_unit(const char *s, int64_t *num, char *unit, size_t size)
{
    const char *b, *e;
    uint64_t v = 0;
    size_t n;

    cf_cfg_trim(s, &b, &e);
    if (b == e || !isdigit((unsigned char)*b))
        return CF_CFG_NUM_NONE;
    for (; b < e && isdigit((unsigned char)*b); b++) {
        unsigned d = (unsigned)(*b - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return CF_CFG_NUM_RANGE;
        v = v * 10 + d;
    }
    while (b < e && isspace((unsigned char)*b))
        b++;
    n = (size_t)(e - b);
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        unit[i] = (char)tolower((unsigned char)b[i]);
    unit[n] = '\0';
    *num = (int64_t)v;
    return CF_CFG_NUM_OK;
}

typedef struct cf_cfg_unit_s {
    const char *label;
    int64_t mul; /* value * mul / div */
    int64_t div;
} cf_cfg_unit_t;

/* Flink's TimeUtils labels (plural forms too), plus "us" for "µs". */
static const cf_cfg_unit_t cf_cfg_time_units[] = {
    {"d", 86400000, 1},
    {"day", 86400000, 1},
    {"days", 86400000, 1},
    {"h", 3600000, 1},
    {"hour", 3600000, 1},
    {"hours", 3600000, 1},
    {"min", 60000, 1},
    {"m", 60000, 1},
    {"minute", 60000, 1},
    {"minutes", 60000, 1},
    {"s", 1000, 1},
    {"sec", 1000, 1},
    {"secs", 1000, 1},
    {"second", 1000, 1},
    {"seconds", 1000, 1},
    {"ms", 1, 1},
    {"milli", 1, 1},
    {"millis", 1, 1},
    {"millisecond", 1, 1},
    {"milliseconds", 1, 1},
    {"\xc2\xb5s", 1, 1000},
    {"us", 1, 1000},
    {"micro", 1, 1000},
    {"micros", 1, 1000},
    {"microsecond", 1, 1000},
    {"microseconds", 1, 1000},
    {"ns", 1, 1000000},
    {"nano", 1, 1000000},
    {"nanos", 1, 1000000},
    {"nanosecond", 1, 1000000},
    {"nanoseconds", 1, 1000000},
};

/* Flink's MemorySize.MemoryUnit labels; powers of 1024. */
static const cf_cfg_unit_t cf_cfg_memory_units[] = {
    {"b", 1, 1},
    {"bytes", 1, 1},
    {"k", 1LL << 10, 1},
    {"kb", 1LL << 10, 1},
    {"kibibytes", 1LL << 10, 1},
    {"m", 1LL << 20, 1},
    {"mb", 1LL << 20, 1},
    {"mebibytes", 1LL << 20, 1},
    {"g", 1LL << 30, 1},
    {"gb", 1LL << 30, 1},
    {"gibibytes", 1LL << 30, 1},
    {"t", 1LL << 40, 1},
    {"tb", 1LL << 40, 1},
    {"tebibytes", 1LL << 40, 1},
};

static int
cf_cfg_parse_scaled(const char *s, const cf_cfg_unit_t *units, size_t n,
                    int64_t *out, const char *what, const char *example,
                    const char *unit_list, char *why, size_t whysz)
{
    char unit[32];
    int64_t v;
    const cf_cfg_unit_t *u = NULL;

    switch (cf_cfg_num_unit(s, &v, unit, sizeof unit)) {
    case CF_CFG_NUM_NONE:
        if (why)
            snprintf(why, whysz, "expected a %s such as %s", what, example);
        return CF_EINVAL;
    case CF_CFG_NUM_RANGE:
        if (why)
            snprintf(why, whysz, "%s out of range", what);
        return CF_EINVAL;
    }
    if (unit[0] == '\0') {
        u = &units[0];
        while (u->mul != 1 || u->div != 1)
            u++;
    } else {
        for (size_t i = 0; i < n && u == NULL; i++)
            if (strcmp(units[i].label, unit) == 0)
                u = &units[i];
    }
    if (u == NULL) {
        if (why)
            snprintf(why, whysz, "unknown unit '%s' (use %s)", unit,
                     unit_list);
        return CF_EINVAL;
    }
    if (u->mul > 1 && v > INT64_MAX / u->mul) {
        if (why)
            snprintf(why, whysz, "%s out of range", what);
        return CF_EINVAL;
    }
    *out = v * u->mul / u->div;
    return 0;
}

static int
cf_cfg_parse_duration(const char *s, int64_t *out, char *why, size_t n)
{
    return cf_cfg_parse_scaled(s, cf_cfg_time_units,
                               CF_ARRAY_LEN(cf_cfg_time_units), out,
                               "duration", "'10 s', '3 min' or '500 ms'",
                               "ns, us, ms, s, min, h or d", why, n);
}

static int
cf_cfg_parse_memory(const char *s, int64_t *out, char *why, size_t n)
{
    const char *b, *e;

    cf_cfg_trim(s, &b, &e);
    if (e - b == 8 && strncasecmp(b, "infinite", 8) == 0) {
        *out = INT64_MAX;
        return 0;
    }
    return cf_cfg_parse_scaled(s, cf_cfg_memory_units,
                               CF_ARRAY_LEN(cf_cfg_memory_units), out,
                               "memory size", "'64 mb', '1 gb' or '1728m'",
                               "b, kb, mb, gb or tb", why, n);
}

int
cf_parse_duration_ms(const char *s, int64_t *out)
{
    return cf_cfg_parse_duration(s, out, NULL, 0);
}

int
cf_parse_memory(const char *s, int64_t *out)
{
    return cf_cfg_parse_memory(s, out, NULL, 0);
}

/* The index of s (trimmed, case-insensitive) in an enum list, or -1. */
static int
cf_cfg_enum_index(const char *values, const char *s)
{
    const char *b, *e;

    cf_cfg_trim(s, &b, &e);
    return cf_cfg_list_find(values, b, (size_t)(e - b), 1);
}

/* Parse s as a value of type. 0, or CF_EINVAL with why filled in. */
static int
cf_cfg_parse_value(cf_cfg_type_t type, const char *enum_values,
                   const char *s, cf_cfg_val_t *out, char *why, size_t n)
{
    int r, b;

    switch (type) {
    case CF_CFG_STRING:
        return 0;
    case CF_CFG_INT:
        r = cf_cfg_parse_i64(s, &out->i);
        if (r == 0 && out->i >= INT32_MIN && out->i <= INT32_MAX)
            return 0;
        if (r == CF_EINVAL)
            snprintf(why, n, "expected an integer");
        else
            snprintf(why, n, "expected an integer between %d and %d",
                     INT32_MIN, INT32_MAX);
        return CF_EINVAL;
    case CF_CFG_LONG:
        r = cf_cfg_parse_i64(s, &out->i);
        if (r == 0)
            return 0;
        if (r == CF_EINVAL)
            snprintf(why, n, "expected an integer");
        else
            snprintf(why, n, "expected an integer between %lld and %lld",
                     (long long)INT64_MIN, (long long)INT64_MAX);
        return CF_EINVAL;
    case CF_CFG_DOUBLE:
        if (cf_cfg_parse_double(s, &out->d) == 0)
            return 0;
        snprintf(why, n, "expected a number");
        return CF_EINVAL;
    case CF_CFG_BOOL:
        if (cf_parse_bool(s, &b) == 0) {
            out->i = b;
            return 0;
        }
        snprintf(why, n, "expected true or false");
        return CF_EINVAL;
    case CF_CFG_DURATION:
        return cf_cfg_parse_duration(s, &out->i, why, n);
    case CF_CFG_MEMORY:
        return cf_cfg_parse_memory(s, &out->i, why, n);
    case CF_CFG_ENUM:
        out->i = cf_cfg_enum_index(enum_values, s);
        if (out->i >= 0)
            return 0;
        snprintf(why, n, "expected one of ");
        for (const char *p = enum_values; *p; p++) {
            size_t len = strlen(why);
            if (len + 3 >= n)
                break;
            if (*p == '|') {
                why[len++] = ',';
                why[len++] = ' ';
            } else {
                why[len++] = *p;
            }
            why[len] = '\0';
        }
        return CF_EINVAL;
    }
    return CF_EINVAL;
}

/* ------------------------------------------------------------------ */
/* Setting keys                                                        */
/* ------------------------------------------------------------------ */

cf_config_t *
cf_config_new(void)
{
    return CF_NEW(cf_config_t);
}

void
cf_config_destroy(cf_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n; i++) {
        cf_free(cfg->v[i].key);
        cf_free(cfg->v[i].value);
    }
    cf_free(cfg->v);
    cf_free(cfg);
}

cf_config_t *
cf_config_copy(const cf_config_t *cfg)
{
    cf_config_t *c = cf_config_new();

    CF_GROW(&c->v, &c->cap, cfg->n);
    for (size_t i = 0; i < cfg->n; i++) {
        c->v[i].key = cf_strdup(cfg->v[i].key);
        c->v[i].value = cf_strdup(cfg->v[i].value);
        c->v[i].deprecated = cfg->v[i].deprecated;
    }
    c->n = cfg->n;
    return c;
}

static cf_cfg_entry_t *
cf_cfg_entry_find(const cf_config_t *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->v[i].key, key) == 0)
            return &cfg->v[i];
    return NULL;
}

static const char *
cf_cfg_where(const char *origin)
{
    return origin ? origin : "";
}

static const char *
cf_cfg_sep(const char *origin)
{
    return origin ? ": " : "";
}

/* Store a checked value under key (a current name, or an unknown key).
 * name is the name the user wrote; deprecated says it was an alias. */
static void
cf_cfg_store(cf_config_t *cfg, const char *key, const char *name,
             const char *value, int deprecated, const char *origin)
{
    cf_cfg_entry_t *e = cf_cfg_entry_find(cfg, key);

    if (deprecated)
        cf_log_warn("%s%sConfig uses deprecated configuration key '%s' "
                    "instead of proper key '%s'",
                    cf_cfg_where(origin), cf_cfg_sep(origin), name, key);
    if (e != NULL && deprecated && !e->deprecated) {
        cf_log_warn("%s%sIgnoring deprecated key '%s': '%s' is set",
                    cf_cfg_where(origin), cf_cfg_sep(origin), name, key);
        return;
    }
    if (value == NULL) {
        if (e != NULL) {
            cf_free(e->key);
            cf_free(e->value);
            *e = cfg->v[--cfg->n];
        }
        return;
    }
    if (e == NULL) {
        CF_GROW(&cfg->v, &cfg->cap, cfg->n + 1);
        e = &cfg->v[cfg->n++];
        e->key = cf_strdup(key);
        e->value = NULL;
    }
    cf_free(e->value);
    e->value = cf_strdup(value);
    e->deprecated = deprecated;
}

static int
cf_cfg_check_one(const cf_config_key_t *k, const char *name,
                 const char *value, const char *origin, cf_error_t **errp)
{
    char why[256];
    cf_cfg_val_t v;

    if (cf_cfg_parse_value(k->type, k->enum_values, value, &v, why,
                           sizeof why) == 0)
        return 0;
    return cf_error_set(errp, CF_ECONFIG,
                        "%s%sinvalid value '%s' for key '%s': %s",
                        cf_cfg_where(origin), cf_cfg_sep(origin), value,
                        name, why);
}

/* Check a value for key (a current or deprecated name); NULL is fine. */
static int
cf_cfg_check(const char *key, const char *value, const char *origin,
             cf_error_t **errp)
{
    const cf_config_key_t *k = cf_cfg_key_exact(key);
    size_t i = 0;
    int r;

    if (key[0] == '\0')
        return cf_error_set(errp, CF_ECONFIG, "%s%sempty configuration key",
                            cf_cfg_where(origin), cf_cfg_sep(origin));
    if (value == NULL)
        return 0;
    if (k != NULL)
        return cf_cfg_check_one(k, key, value, origin, errp);
    while ((k = cf_cfg_key_by_alias(key, &i)) != NULL)
        if ((r = cf_cfg_check_one(k, key, value, origin, errp)) < 0)
            return r;
    return 0;
}

/* Apply a checked value: to the key, to every key it is a deprecated
 * name of, or as an unknown key. */
static void
cf_cfg_apply(cf_config_t *cfg, const char *key, const char *value,
             const char *origin)
{
    const cf_config_key_t *k = cf_cfg_key_exact(key);
    size_t i = 0;
    int n = 0;

    if (k != NULL) {
        cf_cfg_store(cfg, k->key, key, value, 0, origin);
        return;
    }
    while ((k = cf_cfg_key_by_alias(key, &i)) != NULL) {
        cf_cfg_store(cfg, k->key, key, value, 1, origin);
        n++;
    }
    if (n == 0)
        cf_cfg_store(cfg, key, key, value, 0, origin);
}

int
cf_config_set(cf_config_t *cfg, const char *key, const char *value,
              const char *origin, cf_error_t **errp)
{
    int r = cf_cfg_check(key, value, origin, errp);

    if (r < 0)
        return r;
    cf_cfg_apply(cfg, key, value, origin);
    return 0;
}

int
cf_config_set_kv(cf_config_t *cfg, const char *kv, cf_error_t **errp)
{
    const char *eq = strchr(kv, '=');
    const char *b, *e;
    char *key;
    int r;

    if (eq == NULL)
        return cf_error_set(errp, CF_ECONFIG,
                            "-D: invalid option '%s': expected key=value",
                            kv);
    b = kv;
    e = eq;
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    if (b == e)
        return cf_error_set(errp, CF_ECONFIG,
                            "-D: invalid option '%s': empty key", kv);
    key = cf_strndup(b, (size_t)(e - b));
    r = cf_config_set(cfg, key, eq + 1, "-D", errp);
    cf_free(key);
    return r;
}

/* ------------------------------------------------------------------ */
/* Reading keys                                                        */
/* ------------------------------------------------------------------ */

/* The value of a key: set, else a set fallback key, else the default. */
static const char *
cf_cfg_lookup(const cf_config_t *cfg, const cf_config_key_t *k,
              const char *key)
{
    const cf_cfg_entry_t *e = cf_cfg_entry_find(cfg, k ? k->key : key);

    if (e != NULL)
        return e->value;
    if (k == NULL)
        return NULL;
    for (size_t i = 0; i < CF_ARRAY_LEN(cf_config_fallbacks); i++) {
        if (strcmp(cf_config_fallbacks[i].key, k->key) != 0)
            continue;
        e = cf_cfg_entry_find(cfg, cf_config_fallbacks[i].fallback);
        if (e != NULL)
            return e->value;
    }
    return k->def;
}

const char *
cf_config_get(const cf_config_t *cfg, const char *key)
{
    return cf_cfg_lookup(cfg, cf_config_key_find(key), key);
}

int
cf_config_is_set(const cf_config_t *cfg, const char *key)
{
    const cf_config_key_t *k = cf_config_key_find(key);

    return cf_cfg_entry_find(cfg, k ? k->key : key) != NULL;
}

/* Read key as type: 1 with *out, or 0 (no value, or an unknown key
 * whose text is not of the type). A known key of another type is a
 * bug. */
static int
cf_cfg_get_typed(const cf_config_t *cfg, const char *key,
                 cf_cfg_type_t type, cf_cfg_val_t *out)
{
    const cf_config_key_t *k = cf_config_key_find(key);
    const char *v;
    char why[256];

    if (k != NULL && k->type != type) {
        cf_log_error("configuration key '%s' is of type %s, read as %s",
                     key, cf_config_type_name(k->type),
                     cf_config_type_name(type));
        CF_ASSERT(k->type == type);
    }
    v = cf_cfg_lookup(cfg, k, key);
    if (v == NULL)
        return 0;
    if (cf_cfg_parse_value(type, NULL, v, out, why, sizeof why) < 0) {
        cf_log_warn("invalid value '%s' for key '%s': %s; using the "
                    "default", v, key, why);
        return 0;
    }
    return 1;
}

int32_t
cf_config_get_int(const cf_config_t *cfg, const char *key, int32_t def)
{
    cf_cfg_val_t v;

    return cf_cfg_get_typed(cfg, key, CF_CFG_INT, &v) ? (int32_t)v.i : def;
}

int64_t
cf_config_get_long(const cf_config_t *cfg, const char *key, int64_t def)
{
    cf_cfg_val_t v;

    return cf_cfg_get_typed(cfg, key, CF_CFG_LONG, &v) ? v.i : def;
}

double
cf_config_get_double(const cf_config_t *cfg, const char *key, double def)
{
    cf_cfg_val_t v;

    return cf_cfg_get_typed(cfg, key, CF_CFG_DOUBLE, &v) ? v.d : def;
}

int
cf_config_get_bool(const cf_config_t *cfg, const char *key, int def)
{
    cf_cfg_val_t v;

    return cf_cfg_get_typed(cfg, key, CF_CFG_BOOL, &v) ? (int)v.i : def;
}

int64_t
cf_config_get_duration_ms(const cf_config_t *cfg, const char *key,
                          int64_t def)
{
    cf_cfg_val_t v;

    return cf_cfg_get_typed(cfg, key, CF_CFG_DURATION, &v) ? v.i : def;
}

int64_t
cf_config_get_memory(const cf_config_t *cfg, const char *key, int64_t def)
{
    cf_cfg_val_t v;

    return cf_cfg_get_typed(cfg, key, CF_CFG_MEMORY, &v) ? v.i : def;
}

int
cf_config_get_enum(const cf_config_t *cfg, const char *key)
{
    const cf_config_key_t *k = cf_config_key_find(key);
    const char *v;

    if (k == NULL || k->type != CF_CFG_ENUM) {
        cf_log_error("configuration key '%s' is not a known enum key", key);
        CF_ASSERT(k != NULL && k->type == CF_CFG_ENUM);
    }
    v = cf_cfg_lookup(cfg, k, key);
    return v ? cf_cfg_enum_index(k->enum_values, v) : -1;
}

typedef struct cf_cfg_kv_s {
    const char *key;
    const char *value;
    int is_set;
} cf_cfg_kv_t;

static int
cf_cfg_kv_cmp(const void *a, const void *b)
{
    return strcmp(((const cf_cfg_kv_t *)a)->key,
                  ((const cf_cfg_kv_t *)b)->key);
}

/* Every key with a value, sorted; the caller frees the array. */
static cf_cfg_kv_t *
cf_cfg_sorted(const cf_config_t *cfg, size_t *np)
{
    size_t nk = CF_ARRAY_LEN(cf_config_key_table), n = 0;
    cf_cfg_kv_t *a = cf_calloc(nk + cfg->n + 1, sizeof *a);

    for (size_t i = 0; i < nk; i++) {
        const cf_config_key_t *k = &cf_config_key_table[i];
        const char *v = cf_cfg_lookup(cfg, k, k->key);
        if (v != NULL)
            a[n++] = (cf_cfg_kv_t){k->key, v,
                                   cf_cfg_entry_find(cfg, k->key) != NULL};
    }
    for (size_t i = 0; i < cfg->n; i++)
        if (cf_cfg_key_exact(cfg->v[i].key) == NULL)
            a[n++] = (cf_cfg_kv_t){cfg->v[i].key, cfg->v[i].value, 1};
    qsort(a, n, sizeof *a, cf_cfg_kv_cmp);
    *np = n;
    return a;
}

void
cf_config_foreach(const cf_config_t *cfg, cf_config_each_cb cb, void *ud)
{
    size_t n;
    cf_cfg_kv_t *a = cf_cfg_sorted(cfg, &n);

    for (size_t i = 0; i < n; i++)
        cb(a[i].key, a[i].value, a[i].is_set, ud);
    cf_free(a);
}

void
cf_config_log(const cf_config_t *cfg)
{
    size_t n;
    cf_cfg_kv_t *a = cf_cfg_sorted(cfg, &n);

    for (size_t i = 0; i < n; i++) {
        const char *v = a[i].value;
        if (!a[i].is_set)
            continue;
        if (cf_config_key_is_sensitive(a[i].key))
            v = CF_CONFIG_HIDDEN_VALUE;
        cf_log_info("Loading configuration property: %s, %s", a[i].key, v);
        if (cf_cfg_key_exact(a[i].key) == NULL)
            cf_log_warn("Unknown configuration key '%s' (kept for jobs)",
                        a[i].key);
    }
    cf_free(a);
}

/* ------------------------------------------------------------------ */
/* YAML files                                                          */
/* ------------------------------------------------------------------ */

/* One flattened entry of a file. A map marker records a key whose value
 * is a mapping, so that a key repeated in one mapping is caught even when
 * its two mappings hold different keys. */
typedef struct cf_cfg_item_s {
    char *key;
    char *value; /* NULL: YAML null, the key stays unset */
    int line;
    int is_map;
    const void *parent; /* the mapping node that holds the key */
} cf_cfg_item_t;

typedef struct cf_cfg_flat_s {
    const char *path;
    yaml_document_t *doc;
    cf_cfg_item_t *v;
    size_t n;
    size_t cap;
    cf_error_t **errp;
} cf_cfg_flat_t;

static int
cf_cfg_node_line(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

static int
cf_cfg_is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;

    if (n->tag != NULL && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
        return 1;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return len == 0 || (len == 1 && v[0] == '~') ||
           (len == 4 && (strncmp(v, "null", 4) == 0 ||
                         strncmp(v, "Null", 4) == 0 ||
                         strncmp(v, "NULL", 4) == 0));
}

static int
cf_cfg_flat_push(cf_cfg_flat_t *f, const char *key, char *value, int line,
                 int is_map, const void *parent)
{
    if (f->n >= CF_CFG_MAX_ITEMS) {
        cf_free(value);
        return cf_error_set(f->errp, CF_ECONFIG,
                            "%s:%d: too many keys (more than %d)", f->path,
                            line, CF_CFG_MAX_ITEMS);
    }
    CF_GROW(&f->v, &f->cap, f->n + 1);
    f->v[f->n++] = (cf_cfg_item_t){cf_strdup(key), value, line, is_map,
                                   parent};
    return 0;
}

/* A sequence of scalars, joined with ';' as Flink's list options. */
static int
cf_cfg_flat_seq(cf_cfg_flat_t *f, yaml_node_t *seq, const char *key,
                const void *parent)
{
    cf_sbuf_t b = {0};

    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++) {
        yaml_node_t *n = yaml_document_get_node(f->doc, *it);
        if (n->type != YAML_SCALAR_NODE) {
            cf_sbuf_deinit(&b);
            return cf_error_set(f->errp, CF_ECONFIG,
                                "%s:%d: invalid value for key '%s': list "
                                "items must be plain values",
                                f->path, cf_cfg_node_line(n), key);
        }
        if (it > seq->data.sequence.items.start)
            cf_sbuf_append(&b, ";");
        if (!cf_cfg_is_null(n))
            cf_sbuf_appendn(&b, (const char *)n->data.scalar.value,
                            n->data.scalar.length);
    }
    return cf_cfg_flat_push(f, key, cf_sbuf_take(&b), cf_cfg_node_line(seq),
                            0, parent);
}

static int
cf_cfg_flatten(cf_cfg_flat_t *f, yaml_node_t *map, const char *prefix,
               int depth)
{
    if (depth > CF_CFG_MAX_DEPTH)
        return cf_error_set(f->errp, CF_ECONFIG,
                            "%s:%d: mappings nested too deep at '%s'",
                            f->path, cf_cfg_node_line(map), prefix);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(f->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(f->doc, p->value);
        int line = cf_cfg_node_line(kn), r = 0;
        char *key;

        if (kn->type != YAML_SCALAR_NODE)
            return cf_error_set(f->errp, CF_ECONFIG,
                                "%s:%d: a key must be a plain value, not a "
                                "list or mapping", f->path, line);
        if (kn->data.scalar.length == 0 ||
            memchr(kn->data.scalar.value, '\0', kn->data.scalar.length))
            return cf_error_set(f->errp, CF_ECONFIG, "%s:%d: invalid key",
                                f->path, line);
        if (prefix != NULL)
            key = cf_asprintf("%s.%s", prefix,
                              (const char *)kn->data.scalar.value);
        else
            key = cf_strdup((const char *)kn->data.scalar.value);
        switch (vn->type) {
        case YAML_SCALAR_NODE:
            r = cf_cfg_flat_push(
                f, key,
                cf_cfg_is_null(vn)
                    ? NULL
                    : cf_strndup((const char *)vn->data.scalar.value,
                                 vn->data.scalar.length),
                cf_cfg_node_line(vn), 0, map);
            break;
        case YAML_SEQUENCE_NODE:
            r = cf_cfg_flat_seq(f, vn, key, map);
            break;
        case YAML_MAPPING_NODE:
            r = cf_cfg_flat_push(f, key, NULL, line, 1, map);
            if (r == 0)
                r = cf_cfg_flatten(f, vn, key, depth + 1);
            break;
        default:
            r = cf_error_set(f->errp, CF_ECONFIG, "%s:%d: invalid value",
                             f->path, line);
            break;
        }
        cf_free(key);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
cf_cfg_item_cmp(const void *a, const void *b)
{
    const cf_cfg_item_t *x = *(const cf_cfg_item_t *const *)a;
    const cf_cfg_item_t *y = *(const cf_cfg_item_t *const *)b;
    int c = strcmp(x->key, y->key);

    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Two entries of one key clash unless one is a mapping and they sit in
 * different mappings (a.b: {c: 1} beside a: {b: {d: 2}}). */
static int
cf_cfg_items_clash(const cf_cfg_item_t *x, const cf_cfg_item_t *y)
{
    if (x->is_map || y->is_map)
        return x->parent == y->parent;
    return 1;
}

/* Report the duplicate key that comes first in the file. */
static int
cf_cfg_flat_dups(cf_cfg_flat_t *f)
{
    cf_cfg_item_t **s = cf_calloc(f->n + 1, sizeof *s);
    const cf_cfg_item_t *first = NULL, *dup = NULL;
    int r = 0;

    for (size_t i = 0; i < f->n; i++)
        s[i] = &f->v[i];
    qsort(s, f->n, sizeof *s, cf_cfg_item_cmp);
    for (size_t i = 0; i < f->n; i++) {
        for (size_t j = i + 1;
             j < f->n && strcmp(s[i]->key, s[j]->key) == 0; j++) {
            if (!cf_cfg_items_clash(s[i], s[j]))
                continue;
            if (dup == NULL || s[j]->line < dup->line) {
                first = s[i];
                dup = s[j];
            }
        }
    }
    if (dup != NULL)
        r = cf_error_set(f->errp, CF_ECONFIG,
                         "%s:%d: duplicate key '%s' (first set at line %d)",
                         f->path, dup->line, dup->key, first->line);
    cf_free(s);
    return r;
}

static int
cf_cfg_yaml_error(const yaml_parser_t *p, const char *path, const char *buf,
                  size_t len, cf_error_t **errp)
{
    int line = (int)p->problem_mark.line + 1;

    if (p->error == YAML_MEMORY_ERROR)
        return cf_error_set(errp, -ENOMEM, "%s: out of memory reading YAML",
                            path);
    if (p->error == YAML_READER_ERROR) {
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += buf[i] == '\n';
    }
    if (p->context != NULL && p->error != YAML_READER_ERROR)
        return cf_error_set(errp, CF_ECONFIG,
                            "%s:%d: malformed YAML: %s (%s at line %d)",
                            path, line, p->problem ? p->problem : "error",
                            p->context, (int)p->context_mark.line + 1);
    return cf_error_set(errp, CF_ECONFIG, "%s:%d: malformed YAML: %s", path,
                        line, p->problem ? p->problem : "error");
}

/* Parse a file into f (flattened, checked for duplicates). */
static int
cf_cfg_flat_read(cf_cfg_flat_t *f, const char *buf, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc, next;
    yaml_node_t *root;
    int r = 0;

    if (!yaml_parser_initialize(&parser))
        return cf_error_set(f->errp, -ENOMEM, "%s: out of memory", f->path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        r = cf_cfg_yaml_error(&parser, f->path, buf, len, f->errp);
        yaml_parser_delete(&parser);
        return r;
    }
    f->doc = &doc;
    root = yaml_document_get_root_node(&doc);
    if (root != NULL && root->type == YAML_SCALAR_NODE &&
        cf_cfg_is_null(root))
        root = NULL; /* "---" alone: an empty document */
    if (root != NULL && root->type != YAML_MAPPING_NODE)
        r = cf_error_set(f->errp, CF_ECONFIG,
                         "%s:%d: expected a mapping of keys to values",
                         f->path, cf_cfg_node_line(root));
    else if (root != NULL)
        r = cf_cfg_flatten(f, root, NULL, 0);
    if (r == 0 && root != NULL) {
        if (!yaml_parser_load(&parser, &next)) {
            r = cf_cfg_yaml_error(&parser, f->path, buf, len, f->errp);
        } else {
            yaml_node_t *n = yaml_document_get_root_node(&next);
            if (n != NULL)
                r = cf_error_set(f->errp, CF_ECONFIG,
                                 "%s:%d: more than one YAML document",
                                 f->path, cf_cfg_node_line(n));
            yaml_document_delete(&next);
        }
    }
    f->doc = NULL;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (r == 0)
        r = cf_cfg_flat_dups(f);
    return r;
}

int
cf_config_load_file(cf_config_t *cfg, const char *path, cf_error_t **errp)
{
    cf_cfg_flat_t f = {.path = path, .errp = errp};
    char origin[PATH_MAX + 32];
    size_t len;
    char *buf = cf_file_read(path, &len);
    int r;

    if (buf == NULL) {
        int e = errno;
        return cf_error_set(errp, -e,
                            "cannot read configuration file '%s': %s",
                            path, strerror(e));
    }
    r = cf_cfg_flat_read(&f, buf, len);
    for (size_t i = 0; i < f.n && r == 0; i++) {
        if (f.v[i].is_map || f.v[i].value == NULL)
            continue;
        snprintf(origin, sizeof origin, "%s:%d", path, f.v[i].line);
        r = cf_cfg_check(f.v[i].key, f.v[i].value, origin, errp);
    }
    for (size_t i = 0; i < f.n && r == 0; i++) {
        if (f.v[i].is_map || f.v[i].value == NULL)
            continue;
        snprintf(origin, sizeof origin, "%s:%d", path, f.v[i].line);
        cf_cfg_apply(cfg, f.v[i].key, f.v[i].value, origin);
    }
    for (size_t i = 0; i < f.n; i++) {
        cf_free(f.v[i].key);
        cf_free(f.v[i].value);
    }
    cf_free(f.v);
    cf_free(buf);
    if (r == 0)
        cf_log_debug("Loaded configuration file %s", path);
    return r;
}

/* ------------------------------------------------------------------ */
/* The configuration directory                                         */
/* ------------------------------------------------------------------ */

int
cf_config_conf_dir(char *out, size_t size)
{
    const char *env = getenv("CFLINK_CONF_DIR");
    char exe[PATH_MAX], *dir;
    int r, n;

    if (env != NULL && env[0] != '\0') {
        n = snprintf(out, size, "%s", env);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
    }
    r = cf_exe_dir(exe, sizeof exe);
    if (r < 0)
        return r;
    n = snprintf(out, size, "%s/../conf", exe);
    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    dir = realpath(out, NULL);
    if (dir != NULL) {
        n = snprintf(out, size, "%s", dir);
        free(dir);
        if (n < 0 || (size_t)n >= size)
            return -ENAMETOOLONG;
    }
    return 0;
}

int
cf_config_load_dir(cf_config_t *cfg, const char *dir, cf_error_t **errp)
{
    char *path = cf_asprintf("%s/config.yaml", dir);
    struct stat st;
    int r;

    if (stat(path, &st) < 0 && errno == ENOENT) {
        cf_log_info("No configuration file %s: using defaults", path);
        cf_free(path);
        return 0;
    }
    r = cf_config_load_file(cfg, path, errp);
    cf_free(path);
    return r;
}

int
cf_config_load_default(cf_config_t *cfg, cf_error_t **errp)
{
    char dir[PATH_MAX];
    int r = cf_config_conf_dir(dir, sizeof dir);

    if (r < 0)
        return cf_error_set(errp, r,
                            "cannot find the configuration directory: %s",
                            strerror(-r));
    return cf_config_load_dir(cfg, dir, errp);
}
