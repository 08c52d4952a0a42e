#!/bin/sh
# Vendors uPlot, the portal's charting library, from the npm registry into
# portal/web/static/vendor/uplot, reproducibly: the package tarball of the
# version in VERSION must have the integrity recorded in INTEGRITY, and the
# files taken from it the checksums in SHA256SUMS (which
# portal/assets_test.go checks the committed files against).
#
#   sh portal/vendor-uplot.sh            re-vendor the recorded version
#   sh portal/vendor-uplot.sh 1.6.33     move to another version: records
#                                        its integrity and checksums anew
#
# Needs npm, tar and sha256sum; run from the repository root (make portal).
set -eu
dir=portal/web/static/vendor/uplot
files="uPlot.iife.min.js uPlot.min.css LICENSE"
update=false
if [ $# -gt 0 ]; then
	printf '%s\n' "$1" > "$dir/VERSION"
	update=true
fi
version=$(cat "$dir/VERSION")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$version" > /dev/null)
tarball="$tmp/uplot-$version.tgz"
integrity="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 | tr -d '\n')"
if $update; then
	printf '%s\n' "$integrity" > "$dir/INTEGRITY"
elif [ "$integrity" != "$(cat "$dir/INTEGRITY")" ]; then
	echo "uplot@$version: the registry's tarball has integrity $integrity, not the recorded $(cat "$dir/INTEGRITY")" >&2
	exit 1
fi
tar -xzf "$tarball" -C "$tmp"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dir/"
if $update; then
	(cd "$dir" && sha256sum $files > SHA256SUMS)
fi
(cd "$dir" && sha256sum -c --quiet SHA256SUMS)
echo "uplot@$version vendored in $dir"
