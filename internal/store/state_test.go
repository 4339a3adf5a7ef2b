package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/store/db"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

func TestTransitionIsCompareAndSet(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	p, _ := fixture(t, s)
	d, err := s.CreateDeployment(ctx, db.CreateDeploymentParams{ID: uuid.New(), Slug: "abcdefgh", ProjectID: p.ID, ImageRef: "r/x:1"})
	if err != nil {
		t.Fatal(err)
	}
	// The caller believes it is ready: nothing is written.
	_, err = s.TransitionDeployment(ctx, db.TransitionDeploymentParams{ID: d.ID, FromStatus: "ready", ToStatus: "stopped", Reason: "x"})
	if !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("transition from a status it is not in: %v", err)
	}
	if got, _ := s.GetDeployment(ctx, d.ID); got.Status != "deploying" || got.StatusReason != "" {
		t.Fatalf("written anyway: %s %q", got.Status, got.StatusReason)
	}
	got, err := s.TransitionDeployment(ctx, db.TransitionDeploymentParams{ID: d.ID, FromStatus: "deploying", ToStatus: "ready"})
	if err != nil || got.Status != "ready" || got.ReadyAt == nil {
		t.Fatalf("promote: %+v %v", got, err)
	}
}

func TestGoLiveOnlyWhenReadyAndUnchanged(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	p, _ := fixture(t, s)
	var ds []db.Deployment
	for _, slug := range []string{"aaaaaaaa", "bbbbbbbb"} {
		d, err := s.CreateDeployment(ctx, db.CreateDeploymentParams{ID: uuid.New(), Slug: slug, ProjectID: p.ID, ImageRef: "r/x:1"})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	goLive := func(d db.Deployment, expected uuid.NullUUID) int64 {
		t.Helper()
		n, err := s.GoLive(ctx, db.GoLiveParams{ProjectID: p.ID, DeploymentID: d.ID, ExpectedLive: expected})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	none := uuid.NullUUID{}
	if goLive(ds[0], none) != 0 {
		t.Fatal("a deploying deployment went live")
	}
	for _, d := range ds {
		if _, err := s.TransitionDeployment(ctx, db.TransitionDeploymentParams{ID: d.ID, FromStatus: "deploying", ToStatus: "ready"}); err != nil {
			t.Fatal(err)
		}
	}
	if goLive(ds[0], none) != 1 {
		t.Fatal("a ready deployment did not go live")
	}
	if goLive(ds[1], none) != 0 {
		t.Fatal("went live over a live deployment the caller did not see")
	}
	if goLive(ds[1], uuid.NullUUID{UUID: ds[0].ID, Valid: true}) != 1 {
		t.Fatal("did not replace the live deployment the caller saw")
	}
	s.ClearLiveDeployment(ctx, db.ClearLiveDeploymentParams{ID: p.ID, DeploymentID: ds[0].ID})
	if got, _ := s.GetProject(ctx, p.ID); got.LiveDeploymentID.UUID != ds[1].ID {
		t.Fatalf("clearing another deployment took the URL down: %v", got.LiveDeploymentID)
	}
}

func TestStoppedDeploymentsTakeNoWrites(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	p, _ := fixture(t, s)
	d, _ := s.CreateDeployment(ctx, db.CreateDeploymentParams{ID: uuid.New(), Slug: "abcdefgh", ProjectID: p.ID, ImageRef: "r/x:1"})
	d, err := s.TransitionDeployment(ctx, db.TransitionDeploymentParams{ID: d.ID, FromStatus: "deploying", ToStatus: "stopped", Reason: "stopped by user"})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := s.UpsertImage(ctx, db.UpsertImageParams{ID: uuid.New(), Reference: "r/x:1", Digest: "sha256:1"})
	if n, err := s.SetDeploymentImage(ctx, db.SetDeploymentImageParams{ID: d.ID, ImageID: uuid.NullUUID{UUID: img.ID, Valid: true}}); n != 0 || err != nil {
		t.Fatalf("pinned the image of a stopped deployment: %d %v", n, err)
	}
	if _, err := s.AddDeploymentFailure(ctx, db.AddDeploymentFailureParams{ID: d.ID, Permanent: true, StatusReason: "boom"}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("counted a failure of a stopped deployment: %v", err)
	}
	got, _ := s.GetDeployment(ctx, d.ID)
	if got.ImageID.Valid || got.Failures != 0 || got.FailedPermanently || got.StatusReason != "stopped by user" || !got.UpdatedAt.Equal(d.UpdatedAt) {
		t.Fatalf("stopped deployment written: %+v", got)
	}
}

// The prunes run every minute against the two tables that grow fastest:
// they must find old rows through an index, not by reading every row.
func TestPrunesUseIndexes(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	p, n := fixture(t, s)
	d, _ := s.CreateDeployment(ctx, db.CreateDeploymentParams{ID: uuid.New(), Slug: "abcdefgh", ProjectID: p.ID, ImageRef: "r/x:1"})
	in, err := s.CreateInstance(ctx, db.CreateInstanceParams{ID: uuid.New(), DeploymentID: d.ID, RegionID: "local", NodeID: uuid.NullUUID{UUID: n.ID, Valid: true}})
	if err != nil {
		t.Fatal(err)
	}
	// Many recent rows and a few old ones, as in a running cluster.
	for _, q := range []string{
		`INSERT INTO log_lines (deployment_id, instance_id, stream, logged_at, line)
		 SELECT $1, $2, 'stdout', now() - (CASE WHEN i <= 10 THEN interval '30 days' ELSE interval '0' END), 'line'
		 FROM generate_series(1, 20000) i`,
		`INSERT INTO events (deployment_id, instance_id, kind, message, created_at)
		 SELECT $1, $2, 'k', 'm', now() - (CASE WHEN i <= 10 THEN interval '60 days' ELSE interval '0' END)
		 FROM generate_series(1, 20000) i`,
	} {
		if _, err := s.Pool.Exec(ctx, q, d.ID, in.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool.Exec(ctx, "ANALYZE log_lines; ANALYZE events"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ query, index string }{
		{"SELECT id FROM log_lines WHERE logged_at < now() - make_interval(secs => 604800) LIMIT 5000", "log_lines_logged_at_idx"},
		{"SELECT id FROM events WHERE created_at < now() - make_interval(secs => 2592000) LIMIT 5000", "events_created_at_idx"},
	} {
		var plan []string
		rows, err := s.Pool.Query(ctx, "EXPLAIN "+c.query)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			rows.Scan(&line)
			plan = append(plan, line)
		}
		if !strings.Contains(strings.Join(plan, "\n"), c.index) {
			t.Errorf("%s\nplan does not use %s:\n%s", c.query, c.index, strings.Join(plan, "\n"))
		}
	}
	// One batch deletes at most its size.
	got, err := s.PruneLogLines(ctx, db.PruneLogLinesParams{KeepSeconds: 7 * 86400, Batch: 4})
	if err != nil || got != 4 {
		t.Fatalf("batch of 4 deleted %d (%v)", got, err)
	}
}
