package main

import (
	"context"
	"errors"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const defaultCapacity = 1 << 30

type controller struct {
	csi.UnimplementedControllerServer
	store *store
}

func (c *controller) ControllerGetCapabilities(
	context.Context, *csi.ControllerGetCapabilitiesRequest,
) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}},
		})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

func (c *controller) ValidateVolumeCapabilities(
	_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest,
) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if !c.store.volumeExists(req.GetVolumeId()) {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", req.GetVolumeId())
	}
	return &csi.ValidateVolumeCapabilitiesResponse{
		Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
			VolumeCapabilities: req.GetVolumeCapabilities(),
		},
	}, nil
}

func (c *controller) CreateVolume(
	_ context.Context, req *csi.CreateVolumeRequest,
) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	capacity := req.GetCapacityRange().GetRequiredBytes()
	if capacity == 0 {
		capacity = defaultCapacity
	}
	source := req.GetVolumeContentSource()
	snapshotID := source.GetSnapshot().GetSnapshotId()
	if source != nil && snapshotID == "" {
		return nil, status.Error(codes.InvalidArgument, "only snapshots are supported as a volume source")
	}
	if snapshotID != "" {
		meta, err := c.store.snapshot(snapshotID)
		if err != nil {
			return nil, asStatus(err)
		}
		if meta.Size > capacity {
			return nil, status.Errorf(codes.OutOfRange,
				"snapshot %s needs %d bytes, the request allows %d", snapshotID, meta.Size, capacity)
		}
	}
	if err := c.store.createVolume(req.GetName(), capacity, snapshotID); err != nil {
		return nil, asStatus(err)
	}
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:      req.GetName(),
		CapacityBytes: capacity,
		ContentSource: source,
	}}, nil
}

func (c *controller) DeleteVolume(
	_ context.Context, req *csi.DeleteVolumeRequest,
) (*csi.DeleteVolumeResponse, error) {
	if err := c.store.deleteVolume(req.GetVolumeId()); err != nil {
		return nil, asStatus(err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (c *controller) CreateSnapshot(
	_ context.Context, req *csi.CreateSnapshotRequest,
) (*csi.CreateSnapshotResponse, error) {
	if req.GetName() == "" || req.GetSourceVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "name and source volume are required")
	}
	meta, err := c.store.createSnapshot(req.GetName(), req.GetSourceVolumeId())
	if err != nil {
		return nil, asStatus(err)
	}
	snap := meta.csi(req.GetName())
	if req.GetParameters()["neverReady"] == "true" {
		snap.ReadyToUse = false
	}
	return &csi.CreateSnapshotResponse{Snapshot: snap}, nil
}

func (c *controller) DeleteSnapshot(
	_ context.Context, req *csi.DeleteSnapshotRequest,
) (*csi.DeleteSnapshotResponse, error) {
	if err := c.store.deleteSnapshot(req.GetSnapshotId()); err != nil {
		return nil, asStatus(err)
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

func (c *controller) ListSnapshots(
	_ context.Context, req *csi.ListSnapshotsRequest,
) (*csi.ListSnapshotsResponse, error) {
	ids, err := c.store.snapshotIDs(req.GetSnapshotId())
	if err != nil {
		return nil, asStatus(err)
	}
	var entries []*csi.ListSnapshotsResponse_Entry
	for _, id := range ids {
		meta, err := c.store.snapshot(id)
		if err != nil {
			continue
		}
		if req.GetSourceVolumeId() != "" && meta.Source != req.GetSourceVolumeId() {
			continue
		}
		entries = append(entries, &csi.ListSnapshotsResponse_Entry{Snapshot: meta.csi(id)})
	}
	return &csi.ListSnapshotsResponse{Entries: entries}, nil
}

func (m snapshotMeta) csi(id string) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     id,
		SourceVolumeId: m.Source,
		SizeBytes:      m.Size,
		CreationTime:   timestamppb.New(m.createdAt()),
		ReadyToUse:     true,
	}
}

func asStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, os.ErrNotExist) {
		return status.Error(codes.NotFound, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
