// The loopback Git / Helm chart / OCI server of the local test control plane (our own main.go);
// built by scripts/build-tools.
module helmigrate.local/tools/loopback

go 1.26.0

require github.com/google/go-containerregistry v0.21.6
