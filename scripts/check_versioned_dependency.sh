#!/usr/bin/env bash
# Proves that ClipTrace's library products work as a versioned dependency of another package: SwiftPM refuses
# a product whose targets use unsafe flags once it is depended on by version, so this clones the committed
# repository into a temporary folder, tags it, and builds and runs a throwaway package that depends on it with
# `from:` and uses the hashing, alignment, matching and extraction libraries. A second target of the same
# package depends on every library product: SwiftPM checks each product it depends on for unsafe flags when it
# loads the package graph, before compiling anything, so building the first product proves all of them usable
# without compiling the PostgreSQL and NIO stack a second time.
#
#   scripts/check_versioned_dependency.sh        # exit 0 and "versioned dependency: ok" when it works
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cliptrace-dependency.XXXXXX")
trap 'rm -rf "$work"' EXIT

git clone -q "$root" "$work/ClipTrace"
git -C "$work/ClipTrace" -c user.name=check -c user.email=check@localhost tag -a 99.0.0 -m "throwaway version"

mkdir -p "$work/Consumer/Sources/Consumer"
# Every library product the package declares.
products=$(grep -oE '\.library\(name: "[A-Za-z]+"' "$root/Package.swift" | sed -E 's/.*"([A-Za-z]+)"/\1/')
[ "$(echo "$products" | wc -l)" -ge 13 ] || { echo "expected every library product of Package.swift, found: $products" >&2; exit 1; }
cat > "$work/Consumer/Package.swift" <<EOF
// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Consumer",
    platforms: [.macOS(.v14)],
    dependencies: [.package(url: "file://$work/ClipTrace", from: "99.0.0")],
    targets: [
        .executableTarget(name: "Consumer", dependencies: [
            .product(name: "ClipTraceHashing", package: "ClipTrace"),
            .product(name: "ClipTraceAlignment", package: "ClipTrace"),
            .product(name: "ClipTraceMatching", package: "ClipTrace"),
            .product(name: "ClipTraceExtraction", package: "ClipTrace"),
        ]),
        .executableTarget(name: "EveryProduct", dependencies: [
$(for product in $products; do echo "            .product(name: \"$product\", package: \"ClipTrace\"),"; done)
        ]),
    ]
)
EOF
mkdir -p "$work/Consumer/Sources/EveryProduct"
for product in $products; do echo "import $product"; done > "$work/Consumer/Sources/EveryProduct/main.swift"
echo 'print("every ClipTrace library imports")' >> "$work/Consumer/Sources/EveryProduct/main.swift"
cat > "$work/Consumer/Sources/Consumer/main.swift" <<'EOF'
import ClipTraceAlignment
import ClipTraceExtraction
import ClipTraceHashing
import ClipTraceMatching

// A hash of a grey ramp, and one vote-aligned segment: the libraries link and run.
let pixels = (0..<(64 * 64)).map { UInt8(($0 % 64) * 4) }
let hash = PDQHasher().hash(luma: pixels, width: 64, height: 64).hash
let times = (0..<60).map { Double($0) / 6 }
let timeline = QueryTimeline(times: times, usable: times.map { _ in true }, step: 1.0 / 6)
let votes = times.indices.map { Vote(clip: 0, moment: Int32($0), referenceTime: times[$0] + 2, weight: 0.8, distance: 10) }
let segments = TemporalAligner().align(votes, timelines: [timeline], queryDuration: 10, clipDurations: [30])
print("hash \(hash.hexString.prefix(16))…, \(segments.count) segment, extraction rate \(ExtractionOptions.reference.decoding.samplesPerSecond)/s, matcher seeds above \(CatalogueMatcher.seedingThreshold) frames")
guard segments.count == 1 else { fatalError("expected one segment") }
EOF
(cd "$work/Consumer" && swift build -q --product Consumer && swift run -q Consumer)
echo "versioned dependency: ok (a package depending on ClipTrace from: \"99.0.0\" builds and runs; all $(echo "$products" | wc -l) library products accepted)"
