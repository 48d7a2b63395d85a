/*
 * tp_bad_abi.c: a plugin built for a newer minor ABI version than the host. Its
 * constructor aborts: the host must refuse the file before loading it.
 */
#include <stdlib.h>

#include <cflink/cflink.h>

__attribute__((used, section(".cflink_abi"),
               visibility("default"))) const cf_plugin_abi_t cf_plugin_abi =
    {CF_ABI_MAGIC, CF_ABI_MAJOR, CF_ABI_MINOR + 7, 0};

__attribute__((constructor)) static void
must_not_run(void)
{
    abort();
}

static int
build(cf_env_t *env, int argc, char **argv)
{
    (void)env;
    (void)argc;
    (void)argv;
    return CF_ERR;
}

__attribute__((visibility("default"))) const cf_plugin_t cf_plugin = {
    sizeof(cf_plugin_t), "bad abi", "built for a newer minor", build};
