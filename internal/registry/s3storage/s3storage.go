// Package s3storage keeps the built-in registry's objects in an
// S3-compatible object store (AWS S3, MinIO, SeaweedFS, Garage...), the
// storage for several operator replicas at any size: every operator that
// uses the same bucket serves the same images.
//
// Keys map to object names under an optional prefix, so one bucket can
// hold other data too. Objects are written whole (PutObject, multipart for
// large ones), which makes a blob visible only once complete. Touch, which
// GC's grace period counts from, copies an object onto itself with new
// metadata: the store sets its modification time, and no byte passes
// through the operator.
package s3storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/zeitwork/zeitwork/internal/registry"
)

// Config says where the bucket is.
type Config struct {
	// Endpoint is host:port of the S3 API, without a scheme.
	Endpoint string
	// Bucket is created if it does not exist.
	Bucket string
	// Prefix, if set, is put before every object name ("registry/").
	Prefix    string
	AccessKey string
	SecretKey string
	Region    string
	// Insecure uses plain HTTP: only for a store on the same host or a
	// private network.
	Insecure bool
}

// Storage is a registry.Storage in an S3 bucket.
type Storage struct {
	c      *minio.Client
	bucket string
	prefix string
}

// partSize is the part size of multipart uploads: PutObject of a stream
// of unknown length buffers one part in memory.
const partSize = 16 << 20

// maxCopy is the largest object one CopyObject may copy; larger ones are
// copied part by part (ComposeObject).
const maxCopy = 5 << 30

// New connects to the bucket, creating it if needed.
func New(ctx context.Context, cfg Config) (*Storage, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3 storage: give the endpoint (host:port) and the bucket")
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: !cfg.Insecure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 storage %s: %w", cfg.Endpoint, err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: check bucket %s at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, fmt.Errorf("s3 storage: create bucket %s: %w", cfg.Bucket, err)
		}
	}
	return &Storage{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

func (s *Storage) name(key string) string { return s.prefix + key }

// notExist maps the store's "no such key" to fs.ErrNotExist.
func notExist(key string, err error) error {
	if err == nil {
		return nil
	}
	if code := minio.ToErrorResponse(err).Code; code == minio.NoSuchKey || code == "NotFound" {
		return fmt.Errorf("registry object %s: %w", key, fs.ErrNotExist)
	}
	return fmt.Errorf("registry object %s: %w", key, err)
}

func (s *Storage) Put(ctx context.Context, key string, r io.Reader) error {
	size := int64(-1)
	if l, ok := r.(interface{ Len() int }); ok {
		size = int64(l.Len())
	}
	_, err := s.c.PutObject(ctx, s.bucket, s.name(key), r, size, minio.PutObjectOptions{
		PartSize: partSize, ContentType: "application/octet-stream",
	})
	return notExist(key, err)
}

func (s *Storage) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	obj, err := s.c.GetObject(ctx, s.bucket, s.name(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, notExist(key, err)
	}
	if _, err := obj.Stat(); err != nil { // GetObject is lazy: find a missing key now
		obj.Close()
		return nil, notExist(key, err)
	}
	return obj, nil
}

func (s *Storage) Stat(ctx context.Context, key string) (registry.Info, error) {
	info, err := s.c.StatObject(ctx, s.bucket, s.name(key), minio.StatObjectOptions{})
	if err != nil {
		return registry.Info{}, notExist(key, err)
	}
	return registry.Info{Size: info.Size, ModTime: info.LastModified}, nil
}

// Touch copies the object onto itself with new metadata, which gives it a
// new modification time.
func (s *Storage) Touch(ctx context.Context, key string) error {
	return s.copy(ctx, key, key, map[string]string{"Zeitwork-Touched": time.Now().UTC().Format(time.RFC3339Nano)})
}

func (s *Storage) copy(ctx context.Context, from, to string, meta map[string]string) error {
	info, err := s.c.StatObject(ctx, s.bucket, s.name(from), minio.StatObjectOptions{})
	if err != nil {
		return notExist(from, err)
	}
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: s.name(to), ReplaceMetadata: meta != nil, UserMetadata: meta}
	src := minio.CopySrcOptions{Bucket: s.bucket, Object: s.name(from)}
	if info.Size > maxCopy {
		_, err = s.c.ComposeObject(ctx, dst, src)
	} else {
		_, err = s.c.CopyObject(ctx, dst, src)
	}
	return notExist(from, err)
}

func (s *Storage) Move(ctx context.Context, from, to string) error {
	if from == to {
		return nil
	}
	if err := s.copy(ctx, from, to, nil); err != nil {
		return err
	}
	return s.Delete(ctx, from)
}

func (s *Storage) Delete(ctx context.Context, key string) error {
	err := s.c.RemoveObject(ctx, s.bucket, s.name(key), minio.RemoveObjectOptions{})
	if err := notExist(key, err); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	objs := s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.name(prefix), Recursive: true})
	var listErr error
	toRemove := make(chan minio.ObjectInfo)
	go func() {
		defer close(toRemove)
		for o := range objs {
			if o.Err != nil {
				listErr = o.Err
				continue
			}
			toRemove <- o
		}
	}()
	var errs []error
	for e := range s.c.RemoveObjects(ctx, s.bucket, toRemove, minio.RemoveObjectsOptions{}) {
		errs = append(errs, fmt.Errorf("remove %s: %w", e.ObjectName, e.Err))
	}
	if listErr != nil {
		errs = append(errs, listErr)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete registry objects under %s: %w", prefix, err)
	}
	return nil
}

func (s *Storage) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.name(prefix), Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list registry objects under %s: %w", prefix, o.Err)
		}
		keys = append(keys, strings.TrimPrefix(o.Key, s.prefix))
	}
	sort.Strings(keys)
	return keys, nil
}

var _ registry.Storage = (*Storage)(nil)
