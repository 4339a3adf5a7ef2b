package operator

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// registerEdge enrols an edge that presents an edge join token: it gets a
// token of its own for the operator's edge endpoints and a client
// certificate for nodes' tunnel listeners.
func (o *Operator) registerEdge(w http.ResponseWriter, r *http.Request) error {
	auditFrom(r.Context()).setActor(auditActor{kind: actorJoin})
	var req api.RegisterEdgeRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.CSR == "" {
		return invalid("upgrade the edge", "csr is required")
	}
	if err := checkEdgeRegion(req.Region); err != nil {
		return err
	}
	ca, err := o.CA(r.Context())
	if err != nil {
		return err
	}
	token, hash := NewToken()
	id := uuid.New()
	var cert []byte
	err = o.store.Tx(r.Context(), func(q *db.Queries, _ pgxTx) error {
		if err := spendJoinToken(r.Context(), q, bearer(r), pki.RoleEdge, id); err != nil {
			return err
		}
		var err error
		if cert, err = ca.Sign([]byte(req.CSR), pki.Request{Role: pki.RoleEdge, ID: id.String(), TTL: hostCertTTL}); err != nil {
			return invalid("upgrade the edge", "%v", err)
		}
		if _, err = q.CreateAPIToken(r.Context(), db.CreateAPITokenParams{ID: id, Kind: kindEdge, Name: "edge " + req.Hostname, TokenHash: hash}); err != nil {
			return err
		}
		return q.CreateEdge(r.Context(), db.CreateEdgeParams{ID: id, Hostname: req.Hostname, Region: req.Region})
	})
	if err != nil {
		return err
	}
	o.log.Info("edge enrolled", "edge", id, "hostname", req.Hostname, "region", req.Region)
	auditFrom(r.Context()).setObject("edge", id.String())
	writeJSON(w, http.StatusOK, api.RegisterEdgeResponse{
		EdgeID: id.String(), EdgeToken: token, Certificate: string(cert), CA: string(ca.PEM),
	})
	return nil
}

// idPrefix is what may name a node or an edge by the start of its id: no
// LIKE wildcards, at least a few characters.
var idPrefix = regexp.MustCompile(`^[0-9a-fA-F-]{4,36}$`)

// refPrefix is ref lower-cased when it can be an ID or a prefix of one,
// else "" (it is then only a host name).
func refPrefix(ref string) string {
	if idPrefix.MatchString(ref) {
		return strings.ToLower(ref)
	}
	return ""
}

// pickRef returns the one of rows that ref names: the row whose ID is ref
// in full, else the only row. None, or several, is an error that says
// how to list them (what is "node" or "edge", list the CLI command).
func pickRef[T any](rows []T, id func(T) uuid.UUID, prefix, ref, what, list string) (T, error) {
	var none T
	for _, row := range rows {
		if id(row).String() == prefix {
			return row, nil
		}
	}
	switch len(rows) {
	case 0:
		return none, notFound("list the "+what+"s with `"+list+"`", "no %s %q", what, ref)
	case 1:
		return rows[0], nil
	}
	return none, conflict("name the "+what+" by its ID (`"+list+"`)", "%q names %d %ss", ref, len(rows), what)
}

// removeNode is DELETE /v1/nodes/{node} ({node} is an id, a prefix of
// one, or a hostname): the node's tokens are deleted, so its next request
// is refused and its long-polls end, and its instances are rescheduled.
func (o *Operator) removeNode(w http.ResponseWriter, r *http.Request) error {
	found, err := o.findNode(r, r.PathValue("node"), true)
	if err != nil {
		return err
	}
	var out api.RemovedNode
	err = o.store.Tx(r.Context(), func(q *db.Queries, _ pgxTx) error {
		n, err := q.RemoveNode(r.Context(), found.ID)
		if err != nil {
			return err
		}
		nodeRef := uuid.NullUUID{UUID: n.ID, Valid: true}
		if _, err := q.DeleteNodeTokens(r.Context(), nodeRef); err != nil {
			return err
		}
		lost, err := q.MarkRemovedNodeInstancesLost(r.Context(), nodeRef)
		if err != nil {
			return err
		}
		out = api.RemovedNode{ID: n.ID.String(), Hostname: n.Hostname, Region: n.RegionID, Rescheduled: len(lost)}
		if n.RemovedAt != nil {
			out.RemovedAt = n.RemovedAt.UTC()
		} else {
			out.RemovedAt = time.Now().UTC()
		}
		return nil
	})
	if err != nil {
		return err
	}
	o.log.Warn("node removed; rescheduling its instances", "node", out.ID, "instances", out.Rescheduled)
	auditFrom(r.Context()).setObject("node", out.ID)
	o.hub.Bump()
	writeJSON(w, http.StatusOK, out)
	return nil
}
