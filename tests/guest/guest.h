/*
 * guest.h: declarations shared by the files of rrguest, the freestanding
 * test guest that behaves on its console like a rumprun hw unikernel.
 */

#ifndef RRGUEST_GUEST_H
#define RRGUEST_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The size of rumprun hw's command line buffer: a multiboot command line
 * (the "<kernel path> " prefix QEMU adds included) must be shorter.
 */
#define CMDLINE_MAX	4096

/* The raw text of a JSON string: the bytes between its quotes. */
struct cfgstr {
	const char	*s;
	int		 len;
};

/* config.c: the JSON configuration and the argv splitter. */
void	config_parse(const char *);
int	config_next(const char *, int);
void	config_str(int, struct cfgstr *);
int	config_member(int, int, struct cfgstr *, struct cfgstr *);
int	config_argv(char *, char **, int);
int	config_split(const char *, int, char *, char **, int);

/* machine.c: console, timer, halting, and the bits of libc we need. */
void	con_init(void);
void	con_putc(int);
void	con_write(const char *, size_t);
void	con_printf(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	timer_sleepms(uint32_t);
void	stop(void) __attribute__((noreturn));
void	halt(void) __attribute__((noreturn));
void	panic(const char *, ...)
	    __attribute__((noreturn, format(printf, 1, 2)));
void	reset(void) __attribute__((noreturn));

void	*memcpy(void *, const void *, size_t);
void	*memmove(void *, const void *, size_t);
void	*memset(void *, int, size_t);
int	 memcmp(const void *, const void *, size_t);
size_t	 strlen(const char *);
int	 strcmp(const char *, const char *);

#endif /* RRGUEST_GUEST_H */
