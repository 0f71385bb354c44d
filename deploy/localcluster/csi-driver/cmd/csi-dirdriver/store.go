package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

type store struct {
	root string
	mu   sync.Mutex // serialises creates and deletes; snapshots of one volume are consistent
}

type volumeMeta struct {
	Capacity int64 `json:"capacity"`
}

type snapshotMeta struct {
	Source  string `json:"source"`
	Size    int64  `json:"size"`
	Created int64  `json:"created"`
}

func (m snapshotMeta) createdAt() time.Time { return time.Unix(0, m.Created) }

func newStore(root string) (*store, error) {
	for _, sub := range []string{"volumes", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o755); err != nil {
			return nil, err
		}
	}
	return &store{root: root}, nil
}

func validID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
		return fmt.Errorf("invalid id %q", id)
	}
	return nil
}

func (s *store) volumeDir(id string) string { return filepath.Join(s.root, "volumes", id) }

func (s *store) snapshotPath(id, ext string) string {
	return filepath.Join(s.root, "snapshots", id+ext)
}

func (s *store) volumeExists(id string) bool {
	if validID(id) != nil {
		return false
	}
	info, err := os.Stat(s.volumeDir(id))
	return err == nil && info.IsDir()
}

func (s *store) createVolume(id string, capacity int64, snapshotID string) error {
	if err := validID(id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.volumeExists(id) {
		return nil
	}
	staging := s.volumeDir(id) + ".tmp"
	_ = os.RemoveAll(staging)
	if err := os.MkdirAll(staging, 0o777); err != nil {
		return err
	}
	if snapshotID != "" {
		if err := extract(s.snapshotPath(snapshotID, ".tar"), staging); err != nil {
			_ = os.RemoveAll(staging)
			return fmt.Errorf("restoring snapshot %s: %w", snapshotID, err)
		}
	}
	if err := writeJSON(s.volumeDir(id)+".json", volumeMeta{Capacity: capacity}); err != nil {
		return err
	}
	return os.Rename(staging, s.volumeDir(id))
}

func (s *store) deleteVolume(id string) error {
	if err := validID(id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = os.Remove(s.volumeDir(id) + ".json")
	return os.RemoveAll(s.volumeDir(id))
}

func (s *store) createSnapshot(id, source string) (snapshotMeta, error) {
	if err := validID(id); err != nil {
		return snapshotMeta{}, err
	}
	if meta, err := s.snapshot(id); err == nil {
		return meta, nil
	}
	if !s.volumeExists(source) {
		return snapshotMeta{}, fmt.Errorf("source volume %s: %w", source, os.ErrNotExist)
	}
	var vol volumeMeta
	if err := readJSON(s.volumeDir(source)+".json", &vol); err != nil {
		return snapshotMeta{}, err
	}
	staging := s.snapshotPath(id, ".tar.tmp")
	if err := archive(s.volumeDir(source), staging); err != nil {
		_ = os.Remove(staging)
		return snapshotMeta{}, err
	}
	if err := os.Rename(staging, s.snapshotPath(id, ".tar")); err != nil {
		return snapshotMeta{}, err
	}
	meta := snapshotMeta{Source: source, Size: vol.Capacity, Created: time.Now().UnixNano()}
	return meta, writeJSON(s.snapshotPath(id, ".json"), meta)
}

func (s *store) snapshot(id string) (snapshotMeta, error) {
	var meta snapshotMeta
	if err := validID(id); err != nil {
		return meta, err
	}
	if err := readJSON(s.snapshotPath(id, ".json"), &meta); err != nil {
		return meta, fmt.Errorf("snapshot %s: %w", id, err)
	}
	return meta, nil
}

func (s *store) deleteSnapshot(id string) error {
	if err := validID(id); err != nil {
		return err
	}
	_ = os.Remove(s.snapshotPath(id, ".json"))
	if err := os.Remove(s.snapshotPath(id, ".tar")); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func (s *store) snapshotIDs(only string) ([]string, error) {
	if only != "" {
		if _, err := s.snapshot(only); err != nil {
			return nil, nil
		}
		return []string{only}, nil
	}
	matches, err := filepath.Glob(s.snapshotPath("*", ".json"))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(matches))
	for _, m := range matches {
		ids = append(ids, strings.TrimSuffix(filepath.Base(m), ".json"))
	}
	sort.Strings(ids)
	return ids, nil
}

func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// archive writes the regular files and directories under dir into a tar file.
func archive(dir, target string) error {
	out, err := os.Create(target)
	if err != nil {
		return err
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	err = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, devices, links: not part of a volume's data here
		}
		header, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		header.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(header); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return out.Sync()
}

// extract unpacks a tar file made by archive into dir, refusing paths that leave it.
func extract(source, dir string) error {
	in, err := os.Open(source)
	if err != nil {
		return err
	}
	defer in.Close()
	tr := tar.NewReader(in)
	for {
		header, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(header.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("archive member %q leaves the volume", header.Name)
		}
		switch header.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o777); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o777); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(header.Mode)&0o777)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
}
