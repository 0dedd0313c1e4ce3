#!/bin/sh
# check-includes.sh: the include graph of rumprund's directories has no
# cycle (ARCHITECTURE.md, "The include graph").
#
# Each directory may include, with #include "x.h", only its own headers and
# those of the directories listed for it below:
#   daemon/    the core: nothing else
#   api/       daemon/
#   backends/  daemon/
#   client/    daemon/ (sbuf.h, version.h, iso.h)
#   main/      daemon/, api/, backends/ (the composition root)
# The Makefile compiles each directory's .c files with only those -I paths,
# so a .c file that crosses a wall does not build; this script also checks
# the headers (a header of daemon/ included only from api/ would otherwise
# be compiled with api/'s paths) and runs in make lint.  Run from the top
# of the tree; prints each violation and exits 1 if there is one.
set -eu

allowed() {
	case $1 in
	daemon) echo "daemon" ;;
	api) echo "api daemon" ;;
	backends) echo "backends daemon" ;;
	client) echo "client daemon" ;;
	main) echo "main daemon api backends" ;;
	esac
}

n=$(for dir in daemon api backends client main; do
	dirs=$(allowed "$dir")
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		# The quoted includes of f, one name a line.
		sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
		while read -r inc; do
			found=
			for d in $dirs; do
				if [ -e "$d/$inc" ]; then
					found=$d
					break
				fi
			done
			[ -n "$found" ] && continue
			where=
			for d in daemon api backends client main; do
				[ -e "$d/$inc" ] && where="$where $d/$inc"
			done
			if [ -n "$where" ]; then
				echo "$f: includes \"$inc\" ($where ): $dir/ may" \
				    "include only from $dirs" >&2
			else
				echo "$f: includes \"$inc\", which is in none of" \
				    "$dirs" >&2
			fi
			echo x
		done
	done
done | wc -l)
if [ "$n" -ne 0 ]; then
	echo "check-includes: $n include(s) cross a wall" >&2
	exit 1
fi
echo "check-includes: no include crosses a wall"
