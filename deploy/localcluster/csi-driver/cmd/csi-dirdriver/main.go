// csi-dirdriver is the sandbox's CSI driver: identity and controller services only.
//
// Layout under --data-dir:
//
//	volumes/<volume-id>/          the volume's files (tests write here directly)
//	volumes/<volume-id>.json      {"capacity": bytes}
//	snapshots/<snapshot-id>.tar   a tar archive of the volume at snapshot time
//	snapshots/<snapshot-id>.json  {"source": volume-id, "size": bytes, "created": unix-nanos}
//
// IDs are the names the sidecars pass (pvc-<uid>, snapshot-<uid>), so repeated calls are
// idempotent, and two clusters sharing one data directory see the same snapshots.
//
// A VolumeSnapshotClass parameter neverReady: "true" makes CreateSnapshot answer
// ready_to_use=false forever (a test double for a snapshot that never completes).
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
)

func main() {
	endpoint := flag.String("endpoint", "", "unix socket path to listen on")
	dataDir := flag.String("data-dir", "", "directory holding volumes and snapshots")
	name := flag.String("driver-name", "dir.csi.backupd.local", "CSI driver name")
	flag.Parse()
	if *endpoint == "" || *dataDir == "" {
		log.Fatal("--endpoint and --data-dir are required")
	}
	store, err := newStore(*dataDir)
	if err != nil {
		log.Fatal(err)
	}
	_ = os.Remove(*endpoint)
	if err := os.MkdirAll(filepath.Dir(*endpoint), 0o755); err != nil {
		log.Fatal(err)
	}
	listener, err := net.Listen("unix", *endpoint)
	if err != nil {
		log.Fatal(err)
	}
	server := grpc.NewServer(grpc.UnaryInterceptor(logCalls))
	csi.RegisterIdentityServer(server, &identity{name: *name})
	csi.RegisterControllerServer(server, &controller{store: store})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		server.GracefulStop()
	}()
	log.Printf("%s serving on %s, data in %s", *name, *endpoint, *dataDir)
	if err := server.Serve(listener); err != nil {
		log.Fatal(err)
	}
}

func logCalls(
	ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		log.Printf("%s: %v", info.FullMethod, err)
	} else {
		log.Printf("%s: ok", info.FullMethod)
	}
	return resp, err
}
