#!/usr/bin/env bash
# Writes sshrace.diff: this folder's src/ against stock russh 0.65.1's, as a unified diff that
# `git apply` takes in the root of https://github.com/warp-tech/russh (paths russh/src/...).
# Stock source: $RUSSH_STOCK, else cargo's registry copy, else the crate from crates.io.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
stock="${RUSSH_STOCK:-}"
if [ -z "$stock" ]; then
    stock="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/russh-0.65.1 2>/dev/null | head -1 || true)"
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ -z "$stock" ]; then
    curl -sSfL https://static.crates.io/crates/russh/russh-0.65.1.crate | tar xz -C "$tmp"
    stock="$tmp/russh-0.65.1"
fi
mkdir "$tmp/cmp"
cp -a "$stock/src" "$tmp/cmp/a"
cp -a "$here/src" "$tmp/cmp/b"
cd "$tmp/cmp"
{ diff -ruN a b || true; } \
    | sed -E -e '/^diff -ruN /d' \
        -e 's#^--- a/([^[:space:]]*).*#--- a/russh/src/\1#' \
        -e 's#^\+\+\+ b/([^[:space:]]*).*#+++ b/russh/src/\1#' \
    > "$here/sshrace.diff"
echo "wrote $here/sshrace.diff ($(grep -c '^+++ ' "$here/sshrace.diff") files)"
