/*
 * config.h: cflink's configuration: conf/config.yaml (Flink's key names
 * and defaults), CFLINK_CONF_DIR, and -D key=value overrides.
 *
 * Known keys live in one table (config_keys.h: key, type, default,
 * deprecated aliases, doc). The table drives validation, typed getters,
 * /jobmanager/config and docs. Unknown keys are kept as strings (jobs may
 * read them, as in Flink) and listed in the log at start-up.
 *
 * Thread: a config is built on one thread and read-only afterwards, so
 * readers on any thread need no lock.
 */
#ifndef CF_CONFIG_H
#define CF_CONFIG_H

#include <stdint.h>

#include "core.h"

typedef enum cf_cfg_type_e {
    CF_CFG_STRING,
    CF_CFG_INT,      /* 32-bit integer */
    CF_CFG_LONG,     /* 64-bit integer */
    CF_CFG_DOUBLE,
    CF_CFG_BOOL,     /* true/false, case-insensitive */
    CF_CFG_DURATION, /* "10 s", "3min", "500 ms"; a bare number is ms */
    CF_CFG_MEMORY,   /* "1728m", "1 gb", "20kb"; a bare number is bytes */
    CF_CFG_ENUM,     /* one of a '|'-separated list, case-insensitive */
} cf_cfg_type_t;

typedef struct cf_config_key_s {
    const char *key;
    cf_cfg_type_t type;
    const char *def;         /* default as text, or NULL (no default) */
    const char *enum_values; /* for CF_CFG_ENUM: "a|b|c" */
    const char *aliases;     /* deprecated names, '|'-separated, or NULL */
    const char *doc;
} cf_config_key_t;

typedef struct cf_config_s cf_config_t;

/* The table of known keys and its size. */
const cf_config_key_t *cf_config_keys(int *n);
const cf_config_key_t *cf_config_key_find(const char *key); /* or alias */

/* A configuration holding only defaults. */
cf_config_t *cf_config_new(void);
void cf_config_destroy(cf_config_t *cfg);
cf_config_t *cf_config_copy(const cf_config_t *cfg);

/* Load a YAML file (nested or flat dotted keys, flattened). Errors name
 * the file, the line and the key: malformed YAML, duplicate keys, bad
 * values of known keys. */
int cf_config_load_file(cf_config_t *cfg, const char *path,
                        cf_error_t **errp);
/* The conf directory: $CFLINK_CONF_DIR, else <exe dir>/../conf. Writes
 * the path to out. */
int cf_config_conf_dir(char *out, size_t size);
/* Load <dir>/config.yaml; a missing file is not an error (defaults). */
int cf_config_load_dir(cf_config_t *cfg, const char *dir, cf_error_t **errp);
/* Load the default configuration: cf_config_conf_dir() then
 * cf_config_load_dir(). */
int cf_config_load_default(cf_config_t *cfg, cf_error_t **errp);

/* Set one key (a -D override, or "key=value" with cf_config_set_kv).
 * Values of known keys are validated; aliases are stored under the
 * current name. origin names the source in errors ("-D", a file:line). */
/* As in Flink, a value set under the current name wins over one set
 * under a deprecated name, whatever their order. A NULL value removes
 * the setting. */
int cf_config_set(cf_config_t *cfg, const char *key, const char *value,
                  const char *origin, cf_error_t **errp);
int cf_config_set_kv(cf_config_t *cfg, const char *kv, cf_error_t **errp);

/* The raw value: set value, else the default, else NULL. */
const char *cf_config_get(const cf_config_t *cfg, const char *key);
/* Whether the key was set explicitly (file or -D). */
int cf_config_is_set(const cf_config_t *cfg, const char *key);

/* Typed getters for known keys. The value was validated when set, so
 * these cannot fail; def is returned when the key has no value and no
 * default. Calling a getter of the wrong type for a known key is a bug
 * (asserted). */
int32_t cf_config_get_int(const cf_config_t *cfg, const char *key,
                          int32_t def);
int64_t cf_config_get_long(const cf_config_t *cfg, const char *key,
                           int64_t def);
double cf_config_get_double(const cf_config_t *cfg, const char *key,
                            double def);
int cf_config_get_bool(const cf_config_t *cfg, const char *key, int def);
int64_t cf_config_get_duration_ms(const cf_config_t *cfg, const char *key,
                                  int64_t def);
int64_t cf_config_get_memory(const cf_config_t *cfg, const char *key,
                             int64_t def);

/* Every key with a value (set or default), sorted by key. */
typedef void (*cf_config_each_cb)(const char *key, const char *value,
                                  int is_set, void *ud);
void cf_config_foreach(const cf_config_t *cfg, cf_config_each_cb cb,
                       void *ud);
/* Log (INFO) the keys that were set, and (WARN) the unknown keys. */
void cf_config_log(const cf_config_t *cfg);

/* The index of an enum key's value in its enum_values list (matched
 * case-insensitively), or -1 when it has no value. Asserts the key is a
 * known CF_CFG_ENUM key. */
int cf_config_get_enum(const cf_config_t *cfg, const char *key);

/* Flink's type name of a key type ("Integer", "Duration", ...). */
const char *cf_config_type_name(cf_cfg_type_t type);

/* Whether a key's value must be hidden in logs and REST (its name holds
 * "password", "secret", "token", ... as Flink's GlobalConfiguration). */
int cf_config_key_is_sensitive(const char *key);
#define CF_CONFIG_HIDDEN_VALUE "******"

/* Value parsers (Flink's formats). 0, or CF_EINVAL. A memory size may
 * also be "infinite" (INT64_MAX), as shown for Flink's unbounded sizes. */
int cf_parse_duration_ms(const char *s, int64_t *out);
int cf_parse_memory(const char *s, int64_t *out);
int cf_parse_bool(const char *s, int *out);
int cf_parse_long(const char *s, int64_t *out);

#endif /* CF_CONFIG_H */
