package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegistryStorageFlags: each --registry-storage choice opens its
// storage or says what is missing.
func TestRegistryStorageFlags(t *testing.T) {
	t.Setenv("ZEITWORK_REGISTRY_S3_ACCESS_KEY", "")
	t.Setenv("ZEITWORK_REGISTRY_S3_SECRET_KEY", "")
	for _, c := range []struct {
		name, kind, endpoint, wantErr string
	}{
		{name: "fs", kind: "fs"},
		{name: "postgres", kind: "postgres"},
		{name: "unknown", kind: "nfs", wantErr: "give fs, postgres or s3"},
		{name: "s3 without endpoint", kind: "s3", wantErr: "--registry-s3-endpoint"},
		{name: "s3 without credentials", kind: "s3", endpoint: "127.0.0.1:9", wantErr: "ZEITWORK_REGISTRY_S3_ACCESS_KEY"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := registryStorageFlags{kind: c.kind}
			f.s3.Endpoint = c.endpoint
			dir := t.TempDir()
			st, err := f.open(context.Background(), nil, dir)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, c.wantErr)
				}
				return
			}
			if err != nil || st == nil {
				t.Fatalf("open: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "registry")); (c.kind == "fs") != (err == nil) {
				t.Errorf("registry directory under the state dir: %v", err)
			}
		})
	}
}
