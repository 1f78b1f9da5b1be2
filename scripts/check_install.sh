#!/usr/bin/env bash
# `make install` puts the binary, the man page and three completion scripts under PREFIX (inside DESTDIR), and
# `make uninstall` removes exactly those: a file of someone else's in the same folders survives.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d "${TMPDIR:-/tmp}/cliptrace-install.XXXXXX")
trap 'rm -rf "$root"' EXIT
prefix=/opt/cliptrace-check
mkdir -p "$root$prefix/bin"
echo "not ClipTrace's" > "$root$prefix/bin/neighbour"
make -s install DESTDIR="$root" PREFIX="$prefix" >/dev/null
files=(bin/cliptrace share/man/man1/cliptrace.1 share/bash-completion/completions/cliptrace
       share/zsh/site-functions/_cliptrace share/fish/vendor_completions.d/cliptrace.fish)
for file in "${files[@]}"; do
  [ -s "$root$prefix/$file" ] || { echo "make install did not write $prefix/$file" >&2; exit 1; }
done
"$root$prefix/bin/cliptrace" --help | grep -q "watch" || { echo "the installed binary does not run" >&2; exit 1; }
grep -q "cliptrace" "$root$prefix/share/man/man1/cliptrace.1" || { echo "the man page is empty" >&2; exit 1; }
make -s uninstall DESTDIR="$root" PREFIX="$prefix" >/dev/null
for file in "${files[@]}"; do
  [ ! -e "$root$prefix/$file" ] || { echo "make uninstall left $prefix/$file" >&2; exit 1; }
done
[ "$(cat "$root$prefix/bin/neighbour")" = "not ClipTrace's" ] || { echo "make uninstall removed a file it did not install" >&2; exit 1; }
echo "make install / uninstall: the five files installed and removed, nothing else touched"
