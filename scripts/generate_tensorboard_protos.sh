#!/usr/bin/env bash
# Regenerates Sources/TensorBoard/Proto/*.pb.swift from the .proto files beside them. The generated files are
# committed, so neither a build nor `make test` runs this: only a change to a .proto file needs it.
#
# Needs:
# - protoc: `python3 -m grpc_tools.protoc` (`pip install grpcio-tools`), or a `protoc` on PATH;
# - protoc-gen-swift of the swift-protobuf version that Package.swift resolves (the generated code must compile
#   against that runtime). PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift uses a built one; otherwise this builds it
#   from the checkout the package manager made (.build/checkouts/swift-protobuf), which takes 5 to 10 minutes.
#
# The committed files were made with grpcio-tools 1.85.1 and protoc-gen-swift 1.39.0.
set -euo pipefail
cd "$(dirname "$0")/.."
proto_dir=Sources/TensorBoard/Proto

if [ -z "${PROTOC_GEN_SWIFT:-}" ]; then
    [ -d .build/checkouts/swift-protobuf ] || swift package resolve
    (cd .build/checkouts/swift-protobuf && nice -n 10 swift build -c release --product protoc-gen-swift)
    PROTOC_GEN_SWIFT=$(cd .build/checkouts/swift-protobuf && swift build -c release --show-bin-path)/protoc-gen-swift
fi
[ -x "$PROTOC_GEN_SWIFT" ] || { echo "generate_tensorboard_protos: no protoc-gen-swift at $PROTOC_GEN_SWIFT" >&2; exit 1; }

if python3 -c 'import grpc_tools.protoc' 2>/dev/null; then
    protoc=(python3 -m grpc_tools.protoc)
elif command -v protoc >/dev/null; then
    protoc=(protoc)
else
    echo "generate_tensorboard_protos: no protoc: run 'python3 -m pip install grpcio-tools'" >&2
    exit 1
fi

"${protoc[@]}" --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" --proto_path="$proto_dir" \
    --swift_out="$proto_dir" "$proto_dir"/summary.proto "$proto_dir"/event.proto
echo "generate_tensorboard_protos: wrote $proto_dir/summary.pb.swift and $proto_dir/event.pb.swift"
