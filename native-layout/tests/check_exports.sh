#!/bin/sh
# Every fastiommu_* symbol libfastiommu.so exports is declared in fastiommu.h, and every function the header declares
# is exported. With test_handle_matrix (every declared function is in its matrix), no export escapes the bad-handle
# matrix. Usage: check_exports.sh libfastiommu.so fastiommu.h
set -eu
library=$1
header=$2
exports=$("${NM:-nm}" -D --defined-only "$library" | awk '{print $3}' | sed 's/@.*//' | grep '^fastiommu_' | sort -u)
# Declarations: lines that start with a type (not blank, comment, directive or typedef) and hold fastiommu_x(.
declared=$(grep -v -E '^[[:space:]/#*]|^typedef|^_Static_assert' "$header" \
  | grep -o -E '\bfastiommu_[a-z0-9_]+\(' | tr -d '(' | sort -u)
status=0
for symbol in $exports; do
  echo "$declared" | grep -qx "$symbol" || { echo "exported but not declared in fastiommu.h: $symbol"; status=1; }
done
for symbol in $declared; do
  echo "$exports" | grep -qx "$symbol" || { echo "declared in fastiommu.h but not exported: $symbol"; status=1; }
done
echo "$(echo "$exports" | wc -l) exports, $(echo "$declared" | wc -l) declarations"
exit $status
