package operator

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// registerNode admits a new node agent that presents a node join token, or
// an enrolled node that presents its own token, and gives it a new token
// and a certificate for its tunnel listener.
func (o *Operator) registerNode(w http.ResponseWriter, r *http.Request) {
	var req api.RegisterNodeRequest
	if err := readJSON(r, &req); err != nil {
		o.writeError(w, r, err)
		return
	}
	if req.NodeID == "" {
		auditFrom(r.Context()).setActor(auditActor{kind: actorJoin})
	}
	ca, err := o.CA(r.Context())
	if err != nil {
		o.writeError(w, r, err)
		return
	}
	token, hash := NewToken()
	tokenID := uuid.New()
	var node db.Node
	var cert []byte
	err = o.store.Tx(r.Context(), func(q *db.Queries, _ pgxTx) error {
		// A new node's join token is checked first, so that strangers
		// learn nothing; a refusal below leaves the token unspent.
		if req.NodeID == "" {
			if err := spendJoinToken(r.Context(), q, bearer(r), pki.RoleNode, tokenID); err != nil {
				return err
			}
		}
		if req.Region == "" || req.TunnelAddr == "" || req.Driver == "" || req.CSR == "" {
			return invalid("upgrade the node agent", "region, tunnel_addr, driver and csr are required")
		}
		if err := checkCapacity(req); err != nil {
			return err
		}
		if _, err := q.UpsertRegion(r.Context(), db.UpsertRegionParams{ID: req.Region, Name: req.Region}); err != nil {
			return err
		}
		var err error
		if req.NodeID != "" {
			node, err = o.reregisterNode(r, q, req)
		} else {
			node, err = q.CreateNode(r.Context(), db.CreateNodeParams{
				ID: uuid.New(), RegionID: req.Region, Hostname: req.Hostname,
				TunnelAddr: req.TunnelAddr, Driver: req.Driver, Accel: req.Accel,
			})
		}
		if err == nil {
			err = setNodeCapacity(r.Context(), q, node.ID, req)
		}
		if err != nil {
			return err
		}
		if cert, err = ca.Sign([]byte(req.CSR), pki.Request{
			Role: pki.RoleNode, ID: node.ID.String(), Hosts: []string{hostOf(req.TunnelAddr)}, TTL: hostCertTTL,
		}); err != nil {
			return invalid("upgrade the node agent", "%v", err)
		}
		_, err = q.CreateAPIToken(r.Context(), db.CreateAPITokenParams{
			ID: tokenID, Kind: kindNode, NodeID: uuid.NullUUID{UUID: node.ID, Valid: true},
			Name: "node " + req.Hostname, TokenHash: hash,
		})
		return err
	})
	if err != nil {
		o.writeError(w, r, err)
		return
	}
	o.log.Info("node registered", "node", node.ID, "region", node.RegionID, "accel", node.Accel)
	auditFrom(r.Context()).setObject("node", node.ID.String())
	o.hub.Bump()
	writeJSON(w, http.StatusOK, api.RegisterNodeResponse{
		NodeID: node.ID.String(), NodeToken: token, Certificate: string(cert), CA: string(ca.PEM),
		Registry: o.cfg.RegistryHost, AllowedRegistries: o.cfg.AllowedRegistries,
	})
}

// reregisterNode updates an enrolled node that registers again (an agent
// restart) and revokes its tokens, once its current token is checked.
func (o *Operator) reregisterNode(r *http.Request, q *db.Queries, req api.RegisterNodeRequest) (db.Node, error) {
	id, err := uuid.Parse(req.NodeID)
	if err != nil {
		return db.Node{}, errNodeTakeover
	}
	// The update locks the node's row, so two registrations with one
	// token cannot both pass the check below.
	node, err := q.UpdateNodeRegistration(r.Context(), db.UpdateNodeRegistrationParams{
		ID: id, TunnelAddr: req.TunnelAddr, Driver: req.Driver, Accel: req.Accel,
	})
	if isNotFound(store.Classify(err)) {
		return db.Node{}, errNodeTakeover
	}
	if err != nil {
		return db.Node{}, err
	}
	if err := o.rotateNodeTokens(r, q, id, req.NodeToken); err != nil {
		return db.Node{}, err
	}
	// A removed node has no token left; this is a second lock, checked
	// after the token so that strangers do not learn a node was removed.
	if node.RemovedAt != nil {
		return db.Node{}, errNodeRemoved
	}
	return node, nil
}

var errNodeRemoved = &apiError{http.StatusUnauthorized, "this node was removed from the cluster",
	"enrol the host again as a new node: delete its state directory's node.json and start it with a new join token"}

// hostOf is the host part of a "host:port" address.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

var errNodeTakeover = &apiError{http.StatusForbidden, "this node id is registered: registering under it needs the node's current token",
	"a node that lost its state enrols as a new node, with a new join token"}

// rotateNodeTokens lets an existing node register again only with its
// current token (the join token alone would let anyone take over its
// identity and tunnel address), and revokes every token it had.
func (o *Operator) rotateNodeTokens(r *http.Request, q *db.Queries, id uuid.UUID, current string) error {
	if current == "" {
		return errNodeTakeover
	}
	t, err := q.GetAPITokenByHash(r.Context(), hashToken(current))
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return errNodeTakeover
		}
		return err
	}
	if t.Kind != kindNode || !t.NodeID.Valid || t.NodeID.UUID != id {
		return errNodeTakeover
	}
	_, err = q.DeleteNodeTokens(r.Context(), uuid.NullUUID{UUID: id, Valid: true})
	return err
}

// selfNode checks that the {node} of the path is the caller.
func (o *Operator) selfNode(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("node"))
	p := principalFrom(r.Context())
	if err != nil || (p.kind == kindNode && p.nodeID != id) {
		return id, &apiError{http.StatusForbidden, "a node may only act for itself", ""}
	}
	return id, nil
}

func (o *Operator) heartbeat(w http.ResponseWriter, r *http.Request) error {
	id, err := o.selfNode(r)
	if err != nil {
		return err
	}
	before, err := o.store.GetNode(r.Context(), id)
	if err != nil {
		return err
	}
	req, err := readHeartbeat(r)
	if err != nil {
		return err
	}
	if _, err := o.store.HeartbeatNode(r.Context(), id); err != nil {
		return err
	}
	if err := setNodeDiskFree(r.Context(), o.store.Queries, id, req); err != nil {
		return err
	}
	if before.State != "ready" {
		o.log.Info("node is back", "node", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// desiredState answers with every instance placed on the node. It long-polls
// when ?after= names the current version.
func (o *Operator) desiredState(w http.ResponseWriter, r *http.Request) error {
	id, err := o.selfNode(r)
	if err != nil {
		return err
	}
	o.waitForChange(r, 25*time.Second)
	version := o.currentVersion(r.Context())
	ins, err := o.store.ListNodeInstances(r.Context(), uuid.NullUUID{UUID: id, Valid: true})
	if err != nil {
		return err
	}
	out := api.DesiredState{Version: version, Instances: []api.DesiredInstance{}}
	if out.RevokedEdges, err = o.revokedEdges(r.Context()); err != nil {
		return err
	}
	if err := o.directEdges(r.Context(), &out); err != nil {
		return err
	}
	cache := map[uuid.UUID]api.DesiredInstance{}
	projects := map[uuid.UUID]uuid.UUID{} // deployment -> project
	envs := envCache{o: o, vars: map[uuid.UUID][]string{}}
	logins := registryAuthCache{o: o, creds: map[uuid.UUID]*image.Credentials{}}
	for _, in := range ins {
		base, ok := cache[in.DeploymentID]
		if !ok {
			if base, projects[in.DeploymentID], err = o.desiredBase(r, in.DeploymentID); err != nil {
				return err
			}
			cache[in.DeploymentID] = base
		}
		base.ID = in.ID.String()
		base.Desired = in.Desired
		if in.Desired == "running" {
			// Secrets go only where an instance must run: a node stops
			// the others without them.
			if base.Env, err = envs.get(r.Context(), projects[in.DeploymentID]); err != nil {
				return err
			}
			if base.RegistryAuth, err = logins.get(r.Context(), projects[in.DeploymentID], base.Image); err != nil {
				return err
			}
		}
		out.Instances = append(out.Instances, base)
	}
	// The node may have been removed while it waited or while the answer
	// was read: checked after the read, so that no answer reflects a
	// removal without being refused.
	if _, err := o.authenticate(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// envCache decrypts each project's env vars at most once per answer.
type envCache struct {
	o    *Operator
	vars map[uuid.UUID][]string
}

func (c *envCache) get(ctx context.Context, projectID uuid.UUID) ([]string, error) {
	if env, ok := c.vars[projectID]; ok {
		return env, nil
	}
	env, err := c.o.projectEnv(ctx, projectID)
	if err != nil {
		return nil, err
	}
	c.vars[projectID] = env
	return env, nil
}

// desiredBase is what all instances of a deployment share, env vars aside,
// and the deployment's project.
func (o *Operator) desiredBase(r *http.Request, deploymentID uuid.UUID) (api.DesiredInstance, uuid.UUID, error) {
	d, err := o.store.GetDeployment(r.Context(), deploymentID)
	if err != nil {
		return api.DesiredInstance{}, uuid.Nil, err
	}
	p, err := o.store.GetProject(r.Context(), d.ProjectID)
	if err != nil {
		return api.DesiredInstance{}, uuid.Nil, err
	}
	image, ok := o.pinnedRef(r.Context(), d)
	if !ok {
		image = d.ImageRef
	}
	return api.DesiredInstance{
		Deployment: d.Slug, Project: p.Name, Image: image, Port: int(p.Port), HealthPath: p.HealthPath,
		MemoryMiB: int(p.MemoryMib), VCPUs: int(p.Vcpus),
	}, p.ID, nil
}

// waitForChange blocks while the version is not past ?after=, at most max.
// Versions are the database's (hub.go), so a poll that names a version
// another replica gave out waits here as it would there; one newer than
// this replica has heard of (its notification is on its way) waits for
// the next one too. It never answers early for a version that did not move.
func (o *Operator) waitForChange(r *http.Request, max time.Duration) {
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil {
		return
	}
	timeout := time.NewTimer(max)
	defer timeout.Stop()
	for {
		version, changed := o.hub.Version()
		if version > after {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (o *Operator) reportInstance(w http.ResponseWriter, r *http.Request) error {
	nodeID, err := o.selfNode(r)
	if err != nil {
		return err
	}
	id, err := uuid.Parse(r.PathValue("instance"))
	if err != nil {
		return invalid("", "invalid instance id %q", r.PathValue("instance"))
	}
	var rep api.InstanceReport
	if err := readJSON(r, &rep); err != nil {
		return err
	}
	if rep.DiskMiB < 0 || rep.DiskMiB > 1<<30 {
		return invalid("report the root disk's size in MiB", "invalid disk_mib %d", rep.DiskMiB)
	}
	if err := checkDirectAddr(rep.DirectAddr); err != nil {
		return err
	}
	usageOnly := rep.State == "" && rep.Usage != nil
	switch rep.State {
	case api.InstanceStarting, api.InstanceHealthy, api.InstanceFailed, api.InstanceStopped:
	default:
		if !usageOnly {
			return invalid("", "invalid instance state %q", rep.State)
		}
	}
	before, err := o.store.GetInstance(r.Context(), id)
	if err != nil {
		return err
	}
	if !before.NodeID.Valid || before.NodeID.UUID != nodeID {
		// Another node's instance: answered as an unknown one.
		return notFound("", "no instance %s on this node", id)
	}
	if rep.Usage != nil {
		if err := o.store.UpsertInstanceUsage(r.Context(), usageParams(id, rep.Usage)); err != nil {
			return err
		}
	}
	if err := o.recordDiskSize(r.Context(), id, rep); err != nil {
		return err
	}
	if usageOnly || unchangedBy(before, nodeID, rep) {
		// Nothing to write and nobody to wake.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	timings, err := timingsJSON(rep.Timings)
	if err != nil {
		return err
	}
	in, err := o.store.ReportInstance(r.Context(), db.ReportInstanceParams{
		ID: id, NodeID: uuid.NullUUID{UUID: nodeID, Valid: true}, State: rep.State,
		Reason: rep.Reason, Address: rep.Address, Restarts: int32(rep.Restarts), Timings: timings,
	})
	if err != nil {
		return err
	}
	if err := o.recordDirectAddr(r.Context(), id, nodeID, rep.DirectAddr); err != nil {
		return err
	}
	if rep.State != before.State || rep.Restarts != int(before.Restarts) || rep.DirectAddr != before.DirectAddr {
		o.onInstanceChange(r.Context(), before, in, rep)
		// Only what reconcilers, nodes and edges act on wakes them; a new
		// reason or boot timings are read when someone asks.
		o.hub.Bump()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (o *Operator) shipLogs(w http.ResponseWriter, r *http.Request) error {
	nodeID, err := o.selfNode(r)
	if err != nil {
		return err
	}
	var batch api.LogBatch
	if err := readJSONLimit(r, &batch, 4<<20); err != nil {
		return err
	}
	rows := o.admitLogs(r.Context(), nodeID, batch.Lines)
	if len(rows) > 0 {
		if err := o.insertLogs(r.Context(), rows); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// unchangedBy reports whether rep, from nodeID, repeats what the instance
// already says.
func unchangedBy(in db.Instance, nodeID uuid.UUID, rep api.InstanceReport) bool {
	return in.NodeID.Valid && in.NodeID.UUID == nodeID && len(rep.Timings) == 0 &&
		in.State == rep.State && in.Reason == rep.Reason && in.Address == rep.Address && int(in.Restarts) == rep.Restarts &&
		in.DirectAddr == rep.DirectAddr
}

// timingsJSON stores boot stage durations as milliseconds.
func timingsJSON(t map[string]time.Duration) ([]byte, error) {
	ms := map[string]float64{}
	for k, v := range t {
		ms[k] = float64(v.Microseconds()) / 1000
	}
	return json.Marshal(ms)
}
