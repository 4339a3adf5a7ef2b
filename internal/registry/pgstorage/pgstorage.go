// Package pgstorage keeps the built-in registry's objects in PostgreSQL
// (tables registry_objects and registry_chunks, migration 0022), for
// installs that run several operators but no object store. Every operator
// sharing the database serves the same images.
//
// An object is split into 1 MiB chunks, one row each, written outside any
// transaction under no key and named in one short transaction when
// complete, so a 10 GiB layer holds no long transaction and readers never
// see a part of it. Reads fetch one chunk at a time and can seek, which
// range requests need.
package pgstorage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/registry"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// ChunkSize is the size of one stored chunk.
const ChunkSize = 1 << 20

// Storage is a registry.Storage in PostgreSQL.
type Storage struct {
	s *store.Store
}

// New returns the registry storage in s's database.
func New(s *store.Store) *Storage { return &Storage{s: s} }

func notExist(key string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("registry object %s: %w", key, fs.ErrNotExist)
	}
	return err
}

// Put writes r's bytes as a pending object, then names it key.
func (p *Storage) Put(ctx context.Context, key string, r io.Reader) error {
	id, err := p.s.CreateRegistryObject(ctx, ChunkSize)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	size, err := p.writeChunks(ctx, id, r)
	if err == nil {
		err = p.s.Tx(ctx, func(q *db.Queries, _ pgx.Tx) error {
			if _, err := q.DeleteRegistryObject(ctx, key); err != nil {
				return err
			}
			return q.FinishRegistryObject(ctx, db.FinishRegistryObjectParams{ID: id, Key: key, Size: size})
		})
	}
	if err != nil {
		p.s.DeleteRegistryObjectByID(context.WithoutCancel(ctx), id)
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (p *Storage) writeChunks(ctx context.Context, id int64, r io.Reader) (int64, error) {
	buf := make([]byte, ChunkSize)
	var size int64
	for n := int32(0); ; n++ {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			if err := p.s.AddRegistryChunk(ctx, db.AddRegistryChunkParams{ObjectID: id, N: n, Data: buf[:k]}); err != nil {
				return 0, err
			}
			size += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return size, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func (p *Storage) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	o, err := p.s.GetRegistryObject(ctx, key)
	if err != nil {
		return nil, notExist(key, err)
	}
	return &reader{ctx: ctx, q: p.s.Queries, id: o.ID, size: o.Size, chunk: int64(o.ChunkSize)}, nil
}

func (p *Storage) Stat(ctx context.Context, key string) (registry.Info, error) {
	o, err := p.s.GetRegistryObject(ctx, key)
	if err != nil {
		return registry.Info{}, notExist(key, err)
	}
	return registry.Info{Size: o.Size, ModTime: o.ModTime}, nil
}

func (p *Storage) Touch(ctx context.Context, key string) error {
	n, err := p.s.TouchRegistryObject(ctx, key)
	if err == nil && n == 0 {
		err = pgx.ErrNoRows
	}
	return notExist(key, err)
}

func (p *Storage) Move(ctx context.Context, from, to string) error {
	return p.s.Tx(ctx, func(q *db.Queries, _ pgx.Tx) error {
		if from == to {
			return nil
		}
		if _, err := q.DeleteRegistryObject(ctx, to); err != nil {
			return err
		}
		n, err := q.RenameRegistryObject(ctx, db.RenameRegistryObjectParams{OldKey: from, NewKey: to})
		if err == nil && n == 0 {
			err = pgx.ErrNoRows
		}
		return notExist(from, err)
	})
}

func (p *Storage) Delete(ctx context.Context, key string) error {
	_, err := p.s.DeleteRegistryObject(ctx, key)
	return err
}

// likePrefix is a LIKE pattern matching the keys that start with prefix.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

func (p *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	return p.s.DeleteRegistryObjectsByPrefix(ctx, likePrefix(prefix))
}

func (p *Storage) List(ctx context.Context, prefix string) ([]string, error) {
	keys, err := p.s.ListRegistryKeys(ctx, likePrefix(prefix))
	sort.Strings(keys) // byte order, whatever the database's collation
	return keys, err
}

// CleanUp deletes pending objects older than age: writes that a crash
// or a lost connection ended. The registry's GC calls it.
func (p *Storage) CleanUp(ctx context.Context, age time.Duration) (int, error) {
	n, err := p.s.DeletePendingRegistryObjects(ctx, age.Seconds())
	return int(n), err
}

// reader reads an object chunk by chunk.
type reader struct {
	ctx   context.Context
	q     *db.Queries
	id    int64
	size  int64
	chunk int64
	off   int64
	buf   []byte // the chunk that holds off, once fetched
	bufN  int64  // its number
}

func (r *reader) Read(b []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := r.off / r.chunk
	if r.buf == nil || r.bufN != n {
		data, err := r.q.GetRegistryChunk(r.ctx, db.GetRegistryChunkParams{ObjectID: r.id, N: int32(n)})
		if err != nil {
			return 0, fmt.Errorf("read registry object chunk %d: %w", n, err)
		}
		r.buf, r.bufN = data, n
	}
	start := r.off - n*r.chunk
	if start >= int64(len(r.buf)) {
		return 0, io.ErrUnexpectedEOF
	}
	k := copy(b, r.buf[start:])
	r.off += int64(k)
	return k, nil
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("seek before the start")
	}
	r.off = offset
	return offset, nil
}

func (r *reader) Close() error { return nil }

var _ registry.Storage = (*Storage)(nil)
