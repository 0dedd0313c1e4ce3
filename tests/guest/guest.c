/*
 * guest.c: rrguest, a tiny test guest that looks like a rumprun hw
 * unikernel on its console, and is no kinder than one.
 *
 * It finds its console in the BIOS data area as rumprun does (machine.c:
 * silent on COM1 under a firmware that does not fill it in), prints
 * rumprun's bootstrap line, checks the multiboot memory information as
 * rumprun does, and reads the rumprun JSON configuration the way rumprun
 * hw does: from the first multiboot module when the loader gave one
 * (newer rumprun), else from the multiboot command line; and when that
 * text says "_RUMPRUN_ROOTFSCFG=PATH", from the file PATH of the boot CD
 * (rootfs.c).  It builds argv from "cmdline" the way rumprun does, prints
 * rumprun's markers around a "main()", then rumprun's exit and halting
 * lines, and halts without powering off.  The program run as main() takes
 * argv[1..] as a list of commands (see README.md) that let tests check
 * what reached the guest and make it sleep, flood its console, hang,
 * panic or reset; a few argv[1] words (boot-*) act before main() instead,
 * to reproduce how genuine images fail to boot.
 */

#include "guest.h"

#define MB_INFO_MEMORY	0x00000001
#define MB_INFO_CMDLINE 0x00000004
#define MB_INFO_MODS	0x00000008
#define MEMSTART	0x100000 /* rumprun takes the chunk at 1 MiB. */
#define MMAP_AVAILABLE	1
#define PAGE_SIZE	4096
#define ARGV_MAX	(CMDLINE_MAX / 2 + 2)
#define SPAM_WIDTH	79 /* A spam line, its newline excluded. */

#define MBI_FLAGS	0 /* Words of the multiboot information. */
#define MBI_CMDLINE	4
#define MBI_MODS_COUNT	5
#define MBI_MODS_ADDR	6
#define MBI_MMAP_LENGTH 11
#define MBI_MMAP_ADDR	12

#define MOD_START  0 /* Words of a module entry. */
#define MOD_END	   1
#define MOD_STRING 2

#define ROOTFSCFG "_RUMPRUN_ROOTFSCFG="
enum cmdarg {
	ARG_NONE,
	ARG_NEEDED,
	ARG_OPTIONAL
};

struct cmd {
	const char *name;
	enum cmdarg arg;
	int (*fn)(const char *); /* -1 to go on, else exit. */
};

static char cmdline[CMDLINE_MAX];
static char rumprun[] = "rumprun";
static char argbuf[CMDLINE_MAX + 1];
static char *argv[ARGV_MAX];
static int argc;
static const char *json; /* From the first '{', or NULL. */

extern char __bss_end[]; /* The end of the kernel (guest.ld). */

void guest_main(const uint32_t *);

/*
 * Parses a decimal number into *v; returns -1 (after saying so) if arg is
 * not one.
 */
static int
number(const char *cmd, const char *arg, uint32_t *v)
{
	const char *p;

	*v = 0;
	for (p = arg; *p >= '0' && *p <= '9'; p++) {
		uint32_t d = (uint32_t)(*p - '0');

		if (*v > (UINT32_MAX - d) / 10)
			break;
		*v = *v * 10 + d;
	}
	if (p == arg || *p != '\0') {
		con_printf("bad number \"%s\" for \"%s\"\n", arg, cmd);
		return -1;
	}
	return 0;
}

static int
cmd_echo(const char *arg)
{
	con_printf("%s\n", arg);
	return -1;
}

static int
cmd_argv(const char *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < argc; i++)
		con_printf("argv[%d]=<%s>\n", i, argv[i]);
	return -1;
}

static int
cmd_config(const char *arg)
{
	(void)arg;
	con_printf("config=%s\n", json != NULL ? json : "");
	return -1;
}

static int
cmd_env(const char *arg)
{
	struct cfgstr v;
	int t;

	(void)arg;
	for (t = config_next("env", 0); t != -1; t = config_next("env", t)) {
		config_str(t, &v);
		con_printf("env=%.*s\n", v.len, v.s);
	}
	return -1;
}

/* Prints the last hostname, the one rumprun would end up setting. */
static int
cmd_hostname(const char *arg)
{
	struct cfgstr v = { "", 0 };
	int t;

	(void)arg;
	for (t = config_next("hostname", 0); t != -1;
	     t = config_next("hostname", t))
		config_str(t, &v);
	con_printf("hostname=%.*s\n", v.len, v.s);
	return -1;
}

static void
print_objects(const char *key)
{
	struct cfgstr k, v;
	int t, n, i;

	n = 0;
	for (t = config_next(key, 0); t != -1; t = config_next(key, t)) {
		con_printf("%s[%d]={", key, n++);
		for (i = 0; config_member(t, i, &k, &v) == 0; i++)
			con_printf("%s%.*s=%.*s", i > 0 ? "," : "", k.len, k.s,
			    v.len, v.s);
		con_printf("}\n");
	}
}

static int
cmd_blk(const char *arg)
{
	(void)arg;
	print_objects("blk");
	return -1;
}

static int
cmd_net(const char *arg)
{
	(void)arg;
	print_objects("net");
	return -1;
}

/*
 * Prints the size and FNV-1a hash of a file of the boot CD, as the guest
 * reads it: "file PATH: N bytes, fnv1a H" (H in decimal).
 */
static int
cmd_file(const char *arg)
{
	const char *why;
	uint32_t lba, size, sum;

	if (rootfs_lookup(arg, &lba, &size, &why) == -1 ||
	    rootfs_fold(lba, size, &sum, &why) == -1) {
		con_printf("file %s: %s\n", arg, why);
		return -1;
	}
	con_printf("file %s: %u bytes, fnv1a %u\n", arg, size, sum);
	return -1;
}

static int
cmd_sleep(const char *arg)
{
	uint32_t n;

	if (number("sleep", arg, &n) == -1)
		return 127;
	while (n-- > 0)
		timer_sleepms(1000);
	return -1;
}

static int
cmd_sleepms(const char *arg)
{
	uint32_t n;

	if (number("sleepms", arg, &n) == -1)
		return 127;
	timer_sleepms(n);
	return -1;
}

static int
cmd_spam(const char *arg)
{
	static const char xs[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	uint32_t n, k, d;

	if (number("spam", arg, &n) == -1)
		return 127;
	for (k = 1; k <= n; k++) {
		int width = SPAM_WIDTH - 6; /* "spam " and " ". */

		for (d = k; d != 0; d /= 10)
			width--;
		con_printf("spam %u %.*s\n", k, width, xs);
	}
	return -1;
}

static int
cmd_tick(const char *arg)
{
	uint32_t ms, k;

	if (number("tick", arg, &ms) == -1)
		return 127;
	for (k = 1;; k++) {
		timer_sleepms(ms);
		con_printf("tick %u\n", k);
	}
}

static int
cmd_forever(const char *arg)
{
	(void)arg;
	/* A configured interface keeps answering ARP, as rumprun's does. */
	while (vnet_active())
		timer_sleepms(1000);
	stop();
}

static int
cmd_panic(const char *arg)
{
	panic("%s", arg != NULL ? arg : "test panic");
}

static int
cmd_reset(const char *arg)
{
	(void)arg;
	reset();
}

static int
cmd_exit(const char *arg)
{
	uint32_t n;

	if (number("exit", arg, &n) == -1)
		return 127;
	return (int)(n & 0xff);
}

static const struct cmd cmds[] = {
	{ "echo", ARG_NEEDED, cmd_echo },
	{ "argv", ARG_NONE, cmd_argv },
	{ "config", ARG_NONE, cmd_config },
	{ "env", ARG_NONE, cmd_env },
	{ "hostname", ARG_NONE, cmd_hostname },
	{ "blk", ARG_NONE, cmd_blk },
	{ "net", ARG_NONE, cmd_net },
	{ "file", ARG_NEEDED, cmd_file },
	{ "diskwrite", ARG_NEEDED, vblk_cmd_write },
	{ "diskread", ARG_NONE, vblk_cmd_read },
	{ "ifaddr", ARG_NONE, vnet_cmd_ifaddr },
	{ "sleep", ARG_NEEDED, cmd_sleep },
	{ "sleepms", ARG_NEEDED, cmd_sleepms },
	{ "spam", ARG_NEEDED, cmd_spam },
	{ "tick", ARG_NEEDED, cmd_tick },
	{ "forever", ARG_NONE, cmd_forever },
	{ "panic", ARG_OPTIONAL, cmd_panic },
	{ "reset", ARG_NONE, cmd_reset },
	{ "exit", ARG_NEEDED, cmd_exit },
};

/* The guest's main(): runs the commands in argv[1..] in order. */
static int
run(void)
{
	int i;

	for (i = 1; i < argc; i++) {
		const struct cmd *c = NULL;
		const char *arg = NULL;
		size_t n;
		int rv;

		for (n = 0; n < sizeof(cmds) / sizeof(cmds[0]); n++) {
			if (strcmp(argv[i], cmds[n].name) == 0) {
				c = &cmds[n];
				break;
			}
		}
		if (c == NULL) {
			con_printf("unknown command \"%s\"\n", argv[i]);
			return 127;
		}
		if (c->arg != ARG_NONE && i + 1 < argc)
			arg = argv[++i];
		if (c->arg == ARG_NEEDED && arg == NULL) {
			con_printf("missing argument for \"%s\"\n", c->name);
			return 127;
		}
		if ((rv = c->fn(arg)) != -1)
			return rv;
	}
	return 0;
}

/*
 * Copies the first multiboot module into cmdline[], as newer rumprun hw
 * does (its bytes, up to a NUL); returns 0, or -1 when there is none.
 */
static int
module_config(const uint32_t *mbi)
{
	const uint32_t *mod;
	const char *name;
	uint32_t len;

	if ((mbi[MBI_FLAGS] & MB_INFO_MODS) == 0 || mbi[MBI_MODS_COUNT] < 1 ||
	    mbi[MBI_MODS_ADDR] == 0)
		return -1;
	mod = (const uint32_t *)(uintptr_t)mbi[MBI_MODS_ADDR];
	name = (const char *)(uintptr_t)mod[MOD_STRING];
	len = mod[MOD_END] - mod[MOD_START];
	/* rumprun's limit: it halts from BMK_MULTIBOOT_CMDLINE_SIZE - 1 on. */
	if (len >= CMDLINE_MAX - 1)
		panic("command line too long, increase "
		      "BMK_MULTIBOOT_CMDLINE_SIZE");
	con_printf("multiboot: Using configuration from %s\n",
	    name != NULL ? name : "(unnamed module)");
	memcpy(cmdline, (const void *)(uintptr_t)mod[MOD_START], len);
	cmdline[len] = '\0';
	return 0;
}

/* Copies the multiboot command line into cmdline[], if there is one. */
static void
cmdline_config(const uint32_t *mbi)
{
	const char *mbcmdline;
	size_t len = 0;

	if ((mbi[MBI_FLAGS] & MB_INFO_CMDLINE) != 0) {
		mbcmdline = (const char *)(uintptr_t)mbi[MBI_CMDLINE];
		while (len < CMDLINE_MAX && mbcmdline[len] != '\0') {
			cmdline[len] = mbcmdline[len];
			len++;
		}
		if (len >= CMDLINE_MAX)
			panic("command line too long, increase "
			      "BMK_MULTIBOOT_CMDLINE_SIZE");
	}
	cmdline[len] = '\0';
}

/*
 * The memory checks of rumprun's multiboot(): the loader must give the
 * memory information, and its memory map must have an available chunk
 * starting at 1 MiB that holds the whole kernel.  (rumprun reads the map
 * whether or not the loader says it gave one; so does rrguest.)
 */
static void
memory_check(const uint32_t *mbi)
{
	uint32_t off, len, addr, end;
	const uint8_t *map;

	if ((mbi[MBI_FLAGS] & MB_INFO_MEMORY) == 0)
		panic("multiboot memory info not available\n");
	map = (const uint8_t *)(uintptr_t)mbi[MBI_MMAP_ADDR];
	len = mbi[MBI_MMAP_LENGTH];
	for (off = 0; off < len; off += *(const uint32_t *)(map + off) + 4) {
		const uint32_t *e = (const uint32_t *)(map + off);

		/* size, base (64 bits), length (64 bits), type */
		if (e[1] == MEMSTART && e[2] == 0 && e[5] == MMAP_AVAILABLE) {
			addr = e[1];
			end = e[4] != 0 ? UINT32_MAX : addr + e[3];
			break;
		}
	}
	if (!(off < len))
		panic("multiboot memory chunk not found");
	off = ((uint32_t)(uintptr_t)__bss_end + PAGE_SIZE - 1) &
	    ~(uint32_t)(PAGE_SIZE - 1);
	if (!(off > addr && off < end))
		panic("rrguest: the kernel does not fit the memory at 1 MiB");
}

/*
 * "_RUMPRUN_ROOTFSCFG=PATH" in the text: replace the text by the file PATH
 * of the boot CD, as rumprun's rumprun_config() does (PATH is the rest of
 * the text, relative to the root of the medium).
 */
static void
rootfs_config(void)
{
	static char path[CMDLINE_MAX];
	const char *p, *why;
	uint32_t lba, size;

	if ((p = strstr(cmdline, ROOTFSCFG)) == NULL)
		return;
	memcpy(path, p + sizeof(ROOTFSCFG) - 1,
	    strlen(p + sizeof(ROOTFSCFG) - 1) + 1);
	if (rootfs_mount(&why) == -1) {
		con_printf("rrguest: rootfs: %s\n", why);
		errx1("failed to mount rootfs from image");
	}
	for (p = path; *p == '/'; p++)
		continue;
	if (rootfs_lookup(path, &lba, &size, &why) == -1)
		errx1("open %s: %s", p, why);
	if (size > ROOTFS_CFG_MAX)
		errx1("rrguest: %s: %u bytes, more than rrguest takes", p,
		    size);
	if (rootfs_read(lba, size, (uint8_t *)cmdline, ROOTFS_CFG_MAX, &why) ==
	    -1)
		errx1("read cfgfile: %s", why);
	cmdline[size] = '\0';
	con_printf("rootfs: configuration from %s\n", path);
}

/*
 * The arguments that act before main(), from argv[1] on (each is removed
 * from argv as it acts): boot-sse runs one SSE instruction and goes on;
 * boot-triplefault resets the machine; boot-hang hangs silently.
 */
static void
boot_words(void)
{
	while (argc > 1) {
		if (strcmp(argv[1], "boot-triplefault") == 0)
			reset();
		if (strcmp(argv[1], "boot-hang") == 0)
			boot_hang();
		if (strcmp(argv[1], "boot-sse") != 0)
			return;
		boot_sse();
		memmove(&argv[1], &argv[2], (size_t)(argc - 1) * sizeof(*argv));
		argc--;
	}
}

/*
 * What follows main()'s return in rumprun: exit(rv) prints _exit's line,
 * then rumprun reboots the rump kernel, which syncs and unmounts the file
 * systems (the data disks mounted from the configuration, the last one
 * first, then /tmp and the root), and halts.
 */
static void __attribute__((noreturn)) exit_sequence(int rv)
{
	struct cfgstr src, path, fstype, mp;
	int t, n, i, k;

	if (rv != 0)
		con_printf("\n=== ERROR: _exit(%d) called ===\n", rv);
	else
		con_printf("\n=== _exit(%d) called ===\n", rv);
	con_printf("rump kernel halting...\n");
	con_printf("syncing disks... done\n");
	con_printf("unmounting file systems...\n");
	n = 0;
	if (json != NULL) {
		for (t = config_next("blk", 0); t != -1;
		     t = config_next("blk", t))
			n++;
	}
	for (i = n - 1; i >= 0; i--) {
		t = config_next("blk", 0);
		for (k = 0; k < i; k++)
			t = config_next("blk", t);
		src.len = path.len = fstype.len = mp.len = 0;
		if (config_field(t, "mountpoint", &mp) == -1)
			continue;
		config_field(t, "source", &src);
		config_field(t, "path", &path);
		config_field(t, "fstype", &fstype);
		if (fstype.len == 6 && memcmp(fstype.s, "kernfs", 6) == 0)
			con_printf("unmounted kernfs on %.*s type kernfs\n",
			    mp.len, mp.s);
		else if (src.len == 3 && memcmp(src.s, "vnd", 3) == 0)
			con_printf("unmounted /dev/vnd%dd on %.*s type %.*s\n",
			    i, mp.len, mp.s, fstype.len, fstype.s);
		else
			con_printf("unmounted %s%.*s on %.*s type %.*s\n",
			    src.len == 4 && memcmp(src.s, "etfs", 4) == 0 ?
				"/dev/" :
				"",
			    path.len, path.s, mp.len, mp.s, fstype.len,
			    fstype.s);
	}
	con_printf("unmounted tmpfs on /tmp type tmpfs\n");
	con_printf("unmounted rumpfs on / type rumpfs\n");
	con_printf("unmounting done\n");
	halt();
}

/*
 * True when the multiboot command line has the word rrguest.console=com1
 * after its first word (the kernel path) and before any '{': a benchmark
 * knob that makes rrguest write to COM1 (0x3f8) whatever the BIOS data
 * area says, so that the cost of a firmware that does not fill it in
 * (qboot) can be timed on the console.  rumprund never writes it.
 */
static int
forced_com1(const uint32_t *mbi)
{
	static const char word[] = "rrguest.console=com1";
	const char *p;
	size_t n = sizeof(word) - 1;

	if ((mbi[MBI_FLAGS] & MB_INFO_CMDLINE) == 0)
		return 0;
	p = (const char *)(uintptr_t)mbi[MBI_CMDLINE];
	while (*p != '\0' && *p != ' ')
		p++;
	for (; *p != '\0' && *p != '{'; p++) {
		if (p[-1] == ' ' && memcmp(p, word, n) == 0 &&
		    (p[n] == ' ' || p[n] == '\0'))
			return 1;
	}
	return 0;
}

/*
 * The configuration text from the loader: the first multiboot module, or
 * else the command line.  Also the Xen guest's way in: it hands its
 * xenstore configuration over as a multiboot command line.
 */
void
guest_config(const uint32_t *mbi)
{
	if (module_config(mbi) == -1)
		cmdline_config(mbi);
}

/*
 * Everything after the loader, on any machine: the rootfs configuration,
 * the JSON, the boot words, main() and rumprun's end.  Never returns.
 */
void
guest_run(void)
{
	int rv;

	rootfs_config();
	for (json = cmdline; *json != '{'; json++) {
		if (*json == '\0') {
			json = NULL;
			break;
		}
	}
	if (json == NULL) {
		con_printf("rumprun: could not find start of json.  "
			   "no config?\n");
		argv[0] = rumprun;
		argc = 1;
	} else {
		config_parse(json);
		argc = config_argv(argbuf, argv, ARGV_MAX);
	}
	boot_words();
	con_printf("mounted tmpfs on /tmp\n");

	con_printf("\n=== calling \"%s\" main() ===\n\n", argv[0]);
	rv = run();
	con_printf("\n=== main() of \"%s\" returned %d ===\n", argv[0], rv);
	exit_sequence(rv);
}

/* Called from boot.S with the multiboot information. */
void
guest_main(const uint32_t *mbi)
{
	con_init(forced_com1(mbi));
	con_printf("rump kernel bare metal bootstrap\n\n");
	guest_config(mbi);
	memory_check(mbi);
	con_printf("rrguest: rumprun test guest\n");
	guest_run();
}
