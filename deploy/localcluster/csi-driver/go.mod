// Our own small CSI driver for the sandbox (node-less): volumes are directories under a
// data directory, snapshots are tar archives of them, and CreateVolume from a snapshot
// restores the archive. The sidecars (csi-provisioner, csi-snapshotter) talk to its
// unix socket; there is no kubelet and no NodeService.
module backupd.local/localcluster/csi-driver

go 1.26.0

tool backupd.local/localcluster/csi-driver/cmd/csi-dirdriver

require (
	github.com/container-storage-interface/spec v1.13.0
	google.golang.org/grpc v1.84.0
	google.golang.org/protobuf v1.36.11
)

require (
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260706201446-f0a921348800 // indirect
)
