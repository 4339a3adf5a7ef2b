package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// An instance report is handled outside the reconciler's lock, so it only
// records: the deployment fails when the reconciler next runs, not in the
// handler.
func TestInstanceReportsLeaveDecisionsToTheReconciler(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	srv := httptest.NewServer(o.Handler())
	defer srv.Close()
	d, n := healthyDeployment(t, s, newProject(t, s))
	ins, err := s.ListInstancesByDeployment(ctx, d.ID)
	if err != nil || len(ins) != 1 {
		t.Fatalf("instances: %v %v", ins, err)
	}
	token, hash := NewToken()
	if _, err := s.CreateAPIToken(ctx, db.CreateAPITokenParams{ID: uuid.New(), Kind: kindNode,
		NodeID: uuid.NullUUID{UUID: n.ID, Valid: true}, Name: "node", TokenHash: hash}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(api.InstanceReport{State: api.InstanceFailed, Reason: "image has no /bin/sh", Permanent: true})
	req, _ := http.NewRequest("POST", srv.URL+"/v1/nodes/"+n.ID.String()+"/instances/"+ins[0].ID.String(), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("report: %d", resp.StatusCode)
	}
	d, _ = reload(t, s, d)
	if d.Status != api.StatusDeploying || d.Failures != 1 || !d.FailedPermanently {
		t.Fatalf("after the report: %s, %d failures, permanent %v", d.Status, d.Failures, d.FailedPermanently)
	}
	if err := o.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ = reload(t, s, d); d.Status != api.StatusFailed || d.StatusReason != "image has no /bin/sh" {
		t.Fatalf("after reconciling: %s %q", d.Status, d.StatusReason)
	}
}

// A dead node is marked down together with its instances or not at all:
// once down, no later pass would look for its instances again.
func TestDeadNodeAndItsInstancesInOneTransaction(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	d, n := healthyDeployment(t, s, newProject(t, s))
	if _, err := s.Pool.Exec(ctx, "UPDATE nodes SET last_heartbeat_at = now() - interval '1 hour'"); err != nil {
		t.Fatal(err)
	}
	// The second statement fails (say the connection drops).
	if _, err := s.Pool.Exec(ctx, `
		CREATE FUNCTION refuse_lost() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'connection lost'; END $$;
		CREATE TRIGGER refuse_lost BEFORE UPDATE ON instances FOR EACH ROW
			WHEN (NEW.state = 'lost') EXECUTE FUNCTION refuse_lost()`); err != nil {
		t.Fatal(err)
	}
	if err := o.markDeadNodes(ctx); err == nil {
		t.Fatal("no error from the failed statement")
	}
	if got, _ := s.GetNode(ctx, n.ID); got.State != "ready" {
		t.Fatalf("node %s while its instances are not lost", got.State)
	}
	if _, err := s.Pool.Exec(ctx, "DROP TRIGGER refuse_lost ON instances"); err != nil {
		t.Fatal(err)
	}
	if err := o.markDeadNodes(ctx); err != nil {
		t.Fatal(err)
	}
	ins, _ := s.ListInstancesByDeployment(ctx, d.ID)
	if got, _ := s.GetNode(ctx, n.ID); got.State != "down" || len(ins) != 1 || ins[0].State != "lost" {
		t.Fatalf("node %s, instances %+v", got.State, ins)
	}
}
