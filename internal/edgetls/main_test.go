package edgetls

import (
	"context"
	"net/http"
	"testing"

	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// newOperator starts a real operator and returns it with an edge token.
func newOperator(t *testing.T) (*operatortest.Server, string) {
	t.Helper()
	srv := operatortest.Start(t)
	token, err := operator.CreateEdgeToken(context.Background(), srv.Store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	return srv, token
}

func newStorage(srv *operatortest.Server, token string) *Storage {
	return NewStorage(srv.URL, token, &http.Client{})
}
