package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestRecordsKeepNoEnv: decrypted env vars and registry logins never
// reach the node's disk, and a record written with them loads without them.
func TestRecordsKeepNoEnv(t *testing.T) {
	const secret = "s3cret-value-on-disk"
	r := records{dir: t.TempDir()}
	const password = "registry-password-on-disk"
	rec := record{Desired: api.DesiredInstance{ID: "i1", Image: "x", Env: []string{"TOKEN=" + secret},
		RegistryAuth: &api.RegistryAuth{Host: "registry.example.com", Username: "alice", Password: password}}, Address: "10.0.0.2"}
	if err := r.save(rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Desired.Env) != 1 {
		t.Fatal("save changed the caller's record")
	}
	b, err := os.ReadFile(r.path("i1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) || strings.Contains(string(b), password) {
		t.Fatalf("record on disk holds the env value or registry password: %s", b)
	}
	old := `{"desired":{"id":"i2","image":"x","env":["TOKEN=` + secret + `"],"registry_auth":{"password":"` + password + `"}},"address":"10.0.0.3"}`
	if err := os.WriteFile(filepath.Join(r.dir, "i2.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := r.load()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs["i2"].Desired.Env != nil || recs["i2"].Desired.RegistryAuth != nil || recs["i1"].Address != "10.0.0.2" {
		t.Fatalf("loaded %+v", recs)
	}
}

// TestAdoptedInstanceWaitsForEnv: an instance adopted from its record has
// no env until the operator delivers it; a boot waits for that.
func TestAdoptedInstanceWaitsForEnv(t *testing.T) {
	e := newInstanceEnv()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.wait(ctx); err == nil {
		t.Fatal("env known before delivery")
	}
	e.deliver([]string{"A=1"})
	e.deliver([]string{"A=2"}) // the first delivery configured the VM
	got, err := e.wait(context.Background())
	if err != nil || len(got) != 1 || got[0] != "A=1" {
		t.Fatalf("env %v %v", got, err)
	}
}
