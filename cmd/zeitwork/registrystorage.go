package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/zeitwork/zeitwork/internal/registry"
	"github.com/zeitwork/zeitwork/internal/registry/pgstorage"
	"github.com/zeitwork/zeitwork/internal/registry/s3storage"
	"github.com/zeitwork/zeitwork/internal/store"
)

// registryStorageFlags choose where the built-in registry keeps images.
type registryStorageFlags struct {
	kind string
	s3   s3storage.Config
}

func (f *registryStorageFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.kind, "registry-storage", "fs", "where the registry keeps images: fs (under --state-dir; one operator), postgres (the operator's database; several operators, small installs) or s3 (a bucket; several operators)")
	fs.StringVar(&f.s3.Endpoint, "registry-s3-endpoint", "", "S3 API host:port for --registry-storage s3 (credentials in ZEITWORK_REGISTRY_S3_ACCESS_KEY and ZEITWORK_REGISTRY_S3_SECRET_KEY)")
	fs.StringVar(&f.s3.Bucket, "registry-s3-bucket", "zeitwork-registry", "bucket for --registry-storage s3, created if missing")
	fs.StringVar(&f.s3.Prefix, "registry-s3-prefix", "", "prefix of the registry's object names in the bucket, e.g. registry/")
	fs.StringVar(&f.s3.Region, "registry-s3-region", "", "bucket region, if the store needs one")
	fs.BoolVar(&f.s3.Insecure, "registry-s3-insecure", false, "reach the S3 API over plain HTTP (a store on this host or a private network only)")
}

// open returns the chosen storage; nil means the operator's default, a
// directory under stateDir.
func (f *registryStorageFlags) open(ctx context.Context, s *store.Store, stateDir string) (registry.Storage, error) {
	switch f.kind {
	case "", "fs":
		return registry.NewFS(filepath.Join(stateDir, "registry"))
	case "postgres":
		return pgstorage.New(s), nil
	case "s3":
		cfg := f.s3
		cfg.AccessKey = os.Getenv("ZEITWORK_REGISTRY_S3_ACCESS_KEY")
		cfg.SecretKey = os.Getenv("ZEITWORK_REGISTRY_S3_SECRET_KEY")
		if cfg.Endpoint == "" {
			return nil, fmt.Errorf("--registry-storage s3 needs --registry-s3-endpoint host:port")
		}
		if cfg.AccessKey == "" || cfg.SecretKey == "" {
			return nil, fmt.Errorf("--registry-storage s3 needs ZEITWORK_REGISTRY_S3_ACCESS_KEY and ZEITWORK_REGISTRY_S3_SECRET_KEY in the environment")
		}
		return s3storage.New(ctx, cfg)
	}
	return nil, fmt.Errorf("--registry-storage %q: give fs, postgres or s3", f.kind)
}
