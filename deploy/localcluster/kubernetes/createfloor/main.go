// Command createfloor creates the objects of a manifest file as fast as a Go client
// can: client-go, protobuf bodies, no client-side rate limit, N workers. The restore
// benchmark (tests/benchmarks/bench_restore.py) times it as the floor any client
// could reach on the machine, beside `kubectl create -f` and the restore engine.
//
//	createfloor KUBECONFIG MANIFESTS.ndjson WORKERS
//
// MANIFESTS holds one core/v1 object per line; Namespaces are created first, then
// everything else in parallel. It prints {"seconds": S, "created": N, "errors": E}.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

type item struct {
	obj       runtime.Object
	resource  string
	namespace string
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "createfloor: "+format+"\n", args...)
	os.Exit(1)
}

func read(path string) []item {
	f, err := os.Open(path)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	decode := scheme.Codecs.UniversalDeserializer().Decode
	var items []item
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 1<<20), 64<<20)
	for lines.Scan() {
		obj, gvk, err := decode(lines.Bytes(), nil, nil)
		if err != nil {
			fail("line %d: %v", len(items)+1, err)
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			fail("line %d: %v", len(items)+1, err)
		}
		// core/v1 kinds are plural lower-case resources (ConfigMap -> configmaps)
		items = append(items, item{obj, strings.ToLower(gvk.Kind) + "s", m.GetNamespace()})
	}
	if err := lines.Err(); err != nil {
		fail("%v", err)
	}
	return items
}

func create(ctx context.Context, c rest.Interface, it item) error {
	req := c.Post().Resource(it.resource).Body(it.obj)
	if it.namespace != "" {
		req = req.Namespace(it.namespace)
	}
	return req.Do(ctx).Error()
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: createfloor KUBECONFIG MANIFESTS.ndjson WORKERS")
	}
	workers, err := strconv.Atoi(os.Args[3])
	if err != nil || workers < 1 {
		fail("WORKERS must be a positive number")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
	client := kubernetes.NewForConfigOrDie(cfg).CoreV1().RESTClient()
	items := read(os.Args[2])
	ctx := context.Background()

	started := time.Now()
	var created, errors atomic.Int64
	count := func(err error) {
		if err != nil {
			errors.Add(1)
			fmt.Fprintln(os.Stderr, err)
		} else {
			created.Add(1)
		}
	}
	queue := make(chan item)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range queue {
				count(create(ctx, client, it))
			}
		}()
	}
	for _, it := range items {
		if it.resource == "namespaces" {
			count(create(ctx, client, it))
		}
	}
	for _, it := range items {
		if it.resource != "namespaces" {
			queue <- it
		}
	}
	close(queue)
	wg.Wait()
	out, _ := json.Marshal(map[string]any{
		"seconds": time.Since(started).Seconds(), "created": created.Load(), "errors": errors.Load(),
	})
	fmt.Println(string(out))
}
