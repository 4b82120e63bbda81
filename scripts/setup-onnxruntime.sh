#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that package ort loads (make setup calls this):
#   $XDG_CACHE_HOME/csad-go/onnxruntime-1.30.0/libonnxruntime.so.1   (XDG_CACHE_HOME: ~/.cache)
# taken from the npm package onnxruntime-node@1.30.0, which ships the official CPU build for
# linux x64 and arm64. The package is fetched with `npm pack` only: `npm install` would run its
# install script, which downloads more. npm checks the tarball against the registry's integrity
# hash; this script then checks the extracted library against the SHA-256 pinned below.
#
# Offline: ORT_NPM_TGZ=/path/to/onnxruntime-node-1.30.0.tgz uses that tarball instead of npm.
# Already installed (hash matches): nothing is done. ORT_LIB is not consulted: it overrides this
# location at run time only.
set -euo pipefail

VERSION=1.30.0
PKG="onnxruntime-node@$VERSION"
DEST="${XDG_CACHE_HOME:-$HOME/.cache}/csad-go/onnxruntime-$VERSION"
LIB="$DEST/libonnxruntime.so.1"

die() { echo "setup-onnxruntime: error: $*" >&2; exit 1; }

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) ARCH=x64; SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23 ;;
Linux/aarch64 | Linux/arm64) ARCH=arm64; SHA256=1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76 ;;
*) die "no ONNX Runtime build for $(uname -s)/$(uname -m) in $PKG (linux x64 and arm64 only); install a libonnxruntime.so (1.24 or newer) yourself and set ORT_LIB to its path" ;;
esac
MEMBER="package/bin/napi-v6/linux/$ARCH/libonnxruntime.so.1"

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$LIB" ]; then
	if [ "$(sha "$LIB")" = "$SHA256" ]; then
		echo "setup-onnxruntime: ONNX Runtime $VERSION already in $LIB"
		exit 0
	fi
	echo "setup-onnxruntime: $LIB differs from the $PKG build; replacing it"
fi

command -v tar >/dev/null || die "tar is required"
command -v sha256sum >/dev/null || die "sha256sum (coreutils) is required"
mkdir -p "$DEST" || die "cannot create $DEST"
# The temp dir lives next to the destination so that the final mv is a rename on one file system.
TMP="$(mktemp -d "$DEST/.setup.XXXXXX")" || die "cannot create a temporary folder in $DEST"
trap 'rm -rf "$TMP"' EXIT

if [ -n "${ORT_NPM_TGZ:-}" ]; then
	[ -f "$ORT_NPM_TGZ" ] || die "ORT_NPM_TGZ=$ORT_NPM_TGZ is not a file"
	TGZ="$ORT_NPM_TGZ"
else
	command -v npm >/dev/null || die "npm is required to fetch $PKG (apt-get install npm), or set ORT_NPM_TGZ to a downloaded onnxruntime-node-$VERSION.tgz"
	echo "setup-onnxruntime: fetching $PKG (about 110 MB) with npm pack"
	(cd "$TMP" && npm pack --silent --ignore-scripts "$PKG" >"$TMP/pack.out" 2>"$TMP/pack.err") ||
		die "npm pack $PKG failed (network or registry?): $(tail -n 5 "$TMP/pack.err")"
	TGZ="$TMP/onnxruntime-node-$VERSION.tgz"
	[ -f "$TGZ" ] || die "npm pack did not write $TGZ (it wrote: $(ls "$TMP"))"
fi

tar -xzf "$TGZ" -C "$TMP" "$MEMBER" 2>"$TMP/tar.err" ||
	die "$TGZ has no $MEMBER: $(cat "$TMP/tar.err")"
GOT="$(sha "$TMP/$MEMBER")"
[ "$GOT" = "$SHA256" ] || die "$MEMBER from $TGZ has SHA-256 $GOT, expected $SHA256 (a different or corrupt package)"
chmod 0644 "$TMP/$MEMBER"
mv -f "$TMP/$MEMBER" "$LIB" || die "cannot move the library to $LIB"
echo "setup-onnxruntime: installed ONNX Runtime $VERSION ($ARCH) in $LIB"
