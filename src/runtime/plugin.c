/*
 * plugin.c: loading job plugins.
 *
 * The ABI is checked before any code of the plugin runs (dlopen would run
 * its constructors): the file is read as ELF, must be a shared object for
 * this machine, and must carry a .cflink_abi section (written by the
 * CF_PLUGIN macro) with the magic and a compatible version: the same
 * major version, and a minor version not newer than the host's. Only then
 * is it loaded with dlopen(RTLD_NOW | RTLD_LOCAL) and its cf_plugin
 * descriptor read.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime_int.h"

struct cf_plugin_lib_s {
    char *path;
    void *handle;
    const cf_plugin_t *desc;
};

#if UINTPTR_MAX == 0xffffffffffffffffULL
typedef Elf64_Ehdr cf_ehdr_t;
typedef Elf64_Shdr cf_shdr_t;
#define CF_ELFCLASS ELFCLASS64
#else
typedef Elf32_Ehdr cf_ehdr_t;
typedef Elf32_Shdr cf_shdr_t;
#define CF_ELFCLASS ELFCLASS32
#endif

#if defined(__x86_64__)
#define CF_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define CF_ELF_MACHINE EM_AARCH64
#elif defined(__i386__)
#define CF_ELF_MACHINE EM_386
#else
#define CF_ELF_MACHINE EM_NONE
#endif

static int
cf_plugin_read_abi(const char *path, const char *img, size_t len,
                   cf_plugin_abi_t *abi, cf_error_t **errp)
{
    const cf_ehdr_t *eh = (const cf_ehdr_t *)(const void *)img;
    const cf_shdr_t *sh, *strtab;

    if (len < sizeof *eh || memcmp(img, ELFMAG, SELFMAG) != 0)
        return cf_error_set(errp, CF_EPLUGIN,
                            "%s: not a shared library (not an ELF file)",
                            path);
    if (img[EI_CLASS] != CF_ELFCLASS || eh->e_machine != CF_ELF_MACHINE)
        return cf_error_set(errp, CF_EPLUGIN,
                            "%s: built for another machine architecture",
                            path);
    if (eh->e_type != ET_DYN)
        return cf_error_set(errp, CF_EPLUGIN,
                            "%s: not a shared library (ELF type %d)", path,
                            eh->e_type);
    if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(cf_shdr_t) ||
        eh->e_shoff > len ||
        (size_t)eh->e_shnum * sizeof(cf_shdr_t) > len - eh->e_shoff ||
        eh->e_shstrndx >= eh->e_shnum)
        return cf_error_set(errp, CF_EPLUGIN,
                            "%s: malformed ELF section table", path);
    sh = (const cf_shdr_t *)(const void *)(img + eh->e_shoff);
    strtab = &sh[eh->e_shstrndx];
    if (strtab->sh_offset > len || strtab->sh_size > len - strtab->sh_offset)
        return cf_error_set(errp, CF_EPLUGIN,
                            "%s: malformed ELF section names", path);
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_name < strtab->sh_size &&
            strncmp(img + strtab->sh_offset + sh[i].sh_name, ".interp",
                    strtab->sh_size - sh[i].sh_name) == 0)
            return cf_error_set(errp, CF_EPLUGIN,
                                "%s: an executable, not a shared library",
                                path);
    }
    for (int i = 0; i < eh->e_shnum; i++) {
        const char *name;
        if (sh[i].sh_name >= strtab->sh_size)
            continue;
        name = img + strtab->sh_offset + sh[i].sh_name;
        if (strnlen(name, strtab->sh_size - sh[i].sh_name) ==
                strtab->sh_size - sh[i].sh_name ||
            strcmp(name, ".cflink_abi") != 0)
            continue;
        if (sh[i].sh_type == SHT_NOBITS || sh[i].sh_size < sizeof *abi ||
            sh[i].sh_offset > len || sizeof *abi > len - sh[i].sh_offset)
            return cf_error_set(errp, CF_EPLUGIN,
                                "%s: malformed .cflink_abi section", path);
        memcpy(abi, img + sh[i].sh_offset, sizeof *abi);
        return 0;
    }
    return cf_error_set(errp, CF_EPLUGIN,
                        "%s: not a cflink plugin (no .cflink_abi section; "
                        "declare it with CF_PLUGIN(...))",
                        path);
}

int
cf_plugin_check_file(const char *path, cf_error_t **errp)
{
    cf_plugin_abi_t abi;
    struct stat st;
    size_t len;
    char *img;
    int rc;

    if (stat(path, &st) < 0)
        return cf_error_set(errp, -errno, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cf_error_set(errp, CF_EPLUGIN, "%s: not a regular file", path);
    img = cf_file_read(path, &len);
    if (img == NULL)
        return cf_error_set(errp, -errno, "%s: %s", path, strerror(errno));
    rc = cf_plugin_read_abi(path, img, len, &abi, errp);
    cf_free(img);
    if (rc < 0)
        return rc;
    if (abi.magic != CF_ABI_MAGIC)
        return cf_error_set(errp, CF_EABI,
                            "%s: bad ABI magic 0x%08x in .cflink_abi", path,
                            abi.magic);
    if (abi.major != CF_ABI_MAJOR || abi.minor > CF_ABI_MINOR)
        return cf_error_set(errp, CF_EABI,
                            "%s: plugin built for cflink ABI %u.%u, but this "
                            "cflink supports ABI %d.0 to %d.%d",
                            path, abi.major, abi.minor, CF_ABI_MAJOR,
                            CF_ABI_MAJOR, CF_ABI_MINOR);
    return 0;
}

int
cf_plugin_open(const char *path, cf_plugin_lib_t **out, cf_error_t **errp)
{
    cf_plugin_lib_t *lib;
    const cf_plugin_t *desc;
    void *h;
    int rc;
    char *abs;

    *out = NULL;
    if ((rc = cf_plugin_check_file(path, errp)) < 0)
        return rc;
    /* dlopen needs a path with a slash to not search the library path. */
    abs = realpath(path, NULL);
    if (abs == NULL)
        return cf_error_set(errp, -errno, "%s: %s", path, strerror(errno));
    h = dlopen(abs, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        rc = cf_error_set(errp, CF_EPLUGIN, "%s: cannot load: %s", path,
                          dlerror());
        free(abs);
        return rc;
    }
    desc = dlsym(h, "cf_plugin");
    if (desc == NULL || desc->size < sizeof(cf_plugin_t) ||
        desc->entry == NULL) {
        dlclose(h);
        free(abs);
        return cf_error_set(errp, CF_EPLUGIN,
                            "%s: no valid cf_plugin descriptor (declare it "
                            "with CF_PLUGIN(...))",
                            path);
    }
    lib = CF_NEW(cf_plugin_lib_t);
    lib->path = abs;
    lib->handle = h;
    lib->desc = desc;
    *out = lib;
    cf_log_info("Loaded plugin %s (%s)", abs, desc->name ? desc->name : "");
    return 0;
}

void
cf_plugin_close(cf_plugin_lib_t *lib)
{
    if (lib == NULL)
        return;
    dlclose(lib->handle);
    free(lib->path);
    cf_free(lib);
}

const char *
cf_plugin_name(const cf_plugin_lib_t *lib)
{
    return lib->desc->name ? lib->desc->name : "";
}

const char *
cf_plugin_description(const cf_plugin_lib_t *lib)
{
    return lib->desc->description;
}

const char *
cf_plugin_path(const cf_plugin_lib_t *lib)
{
    return lib->path;
}

cf_entry_fn
cf_plugin_entry(const cf_plugin_lib_t *lib)
{
    return lib->desc->entry;
}
