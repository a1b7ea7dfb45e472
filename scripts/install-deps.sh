#!/usr/bin/env bash
# Installs the system packages the tests need and the machine lacks (Debian/Ubuntu: apt-get), so ./test.sh works on a
# fresh machine with only the .NET SDK. Already-installed packages are left alone (no network is needed then).
#   cmake, gcc, g++   the C baseline, native-layout's C tests; the NativeAOT link of libfastiommu.so
#   zlib1g-dev        NativeAOT links the runtime against libz
#   valgrind          memcheck of the C embedding test and the example (the tests are not registered without it)
#   pkg-config        the test that a C project finds the library through fastiommu.pc
#   libclang-rt-14-dev  libFuzzer's runtime for clang-14 (native-layout/fuzz; the fuzz tests are not registered
#                     without clang-14 and it)
set -euo pipefail
needed=(cmake gcc g++ zlib1g-dev valgrind pkg-config libclang-rt-14-dev)
missing=()
for package in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "install-deps: missing ${missing[*]} and no apt-get here: install them by hand" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
