package setup

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zeitwork/zeitwork/internal/geodns"
	"github.com/zeitwork/zeitwork/internal/lb"
	"github.com/zeitwork/zeitwork/internal/vmm/guestkernel"
)

// packages are the Debian packages each role needs beyond the base
// system; the operator's depend on its options (see operatorPackages).
var packages = map[string][]string{
	"node": {"qemu-system-x86", "nftables", "iproute2", "e2fsprogs", "kmod"},
}

// Plan returns the steps that set up o.Role on the host below o.Root. It
// reads the host but changes nothing.
func Plan(o Options) ([]Step, error) {
	if err := CheckRole(o.Role); err != nil {
		return nil, err
	}
	var steps []Step
	if pk := rolePackages(o); len(pk) > 0 {
		steps = append(steps, packageStep(pk))
	}
	bin, err := o.binarySteps()
	if err != nil {
		return nil, err
	}
	steps = append(steps, bin...)
	if o.Role == "node" {
		steps = append(steps, Step{Title: "fetch the guest kernel into " + KernelCache + " (Debian's cloud kernel, unpacked, not installed on the host)", Kernel: KernelCache})
	}
	cfg, err := o.configSteps()
	if err != nil {
		return nil, err
	}
	steps = append(steps, cfg...)
	unit := renderUnit(o.Role, BinDir)
	steps = append(steps, fileStep(UnitDir+"/"+unitName(o.Role), 0o644, unit, unit))
	steps = append(steps, o.startStep())
	return steps, nil
}

func rolePackages(o Options) []string {
	if o.Role != "operator" {
		return packages[o.Role]
	}
	var pk []string
	if o.builds() {
		pk = append(pk, "buildah", "runc")
	}
	if o.LocalPostgres {
		pk = append(pk, "postgresql")
	}
	return pk
}

// builds is Options.Builds, else the existing setting, else true.
func (o *Options) builds() bool {
	if o.Builds != nil {
		return *o.Builds
	}
	return readEnv(o.hostPath(envPath("operator")))["ZEITWORK_BUILDS"] != "false"
}

// packageStep installs pk with apt-get.
func packageStep(pk []string) Step {
	install := append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, pk...)
	return Step{
		Title:    "install packages: " + strings.Join(pk, " "),
		Run:      [][]string{{"apt-get", "update"}, install},
		ShownRun: []string{"apt-get update", "DEBIAN_FRONTEND=noninteractive " + strings.Join(install, " ")},
	}
}

func fileStep(path string, mode os.FileMode, content, shown string) Step {
	return Step{Title: fmt.Sprintf("write %s (mode %04o)", path, mode), Path: path, Mode: mode, Content: []byte(content), Shown: shown}
}

// binarySteps copy the running binary (and, for a node, the guest init
// beside it) to BinDir, unless the same file is already there.
func (o *Options) binarySteps() ([]Step, error) {
	if o.Binary == "" {
		return nil, fmt.Errorf("setup: no binary to install")
	}
	steps := []Step{o.copyStep(o.Binary, BinDir+"/zeitwork")}
	if o.Role == "node" {
		init := filepath.Join(filepath.Dir(o.Binary), guestkernel.InitName)
		if _, err := os.Stat(init); err != nil {
			return nil, &Error{Msg: fmt.Sprintf("the guest init %s is missing next to %s", guestkernel.InitName, o.Binary),
				Hint: "a node needs both binaries from the same build: `make build` writes bin/zeitwork and bin/zeitwork-init; run bin/zeitwork setup node"}
		}
		steps = append(steps, o.copyStep(init, BinDir+"/"+guestkernel.InitName))
	}
	return steps, nil
}

func (o *Options) copyStep(src, dst string) Step {
	s := Step{Title: fmt.Sprintf("install %s as %s (mode 0755)", src, dst), Path: dst, Mode: 0o755, CopyFrom: src}
	a, err1 := os.ReadFile(src)
	b, err2 := os.ReadFile(o.hostPath(dst))
	if err1 == nil && err2 == nil && bytes.Equal(a, b) {
		s.Skip = "the same file is already installed"
	}
	return s
}

// startStep reloads systemd and (re)starts the unit: a restart both
// starts a new service and upgrades a running one.
func (o *Options) startStep() Step {
	u := unitName(o.Role)
	cmds := [][]string{{"systemctl", "daemon-reload"}, {"systemctl", "enable", u}, {"systemctl", "restart", u}}
	s := Step{Title: "start " + u, Run: cmds}
	for _, c := range cmds {
		s.ShownRun = append(s.ShownRun, strings.Join(c, " "))
	}
	return s
}

// configSteps write the role's settings file and, for lb and dns, its
// JSON configuration.
func (o *Options) configSteps() ([]Step, error) {
	old := readEnv(o.hostPath(envPath(o.Role)))
	args := old["ZEITWORK_ARGS"]
	if o.Args != nil {
		args = *o.Args
	}
	argsVar := envVar{Key: "ZEITWORK_ARGS", Value: args, Comment: "further flags of `zeitwork " + o.Role + "` (zeitwork " + o.Role + " --help)"}
	var steps []Step
	var vars []envVar
	switch o.Role {
	case "operator":
		var pre []Step
		var err error
		if err := checkOperatorListen(args); err != nil {
			return nil, err
		}
		if vars, pre, err = o.operatorVars(old); err != nil {
			return nil, err
		}
		steps = append(steps, pre...)
	case "node", "edge":
		var err error
		if vars, err = o.hostVars(old); err != nil {
			return nil, err
		}
	case "lb", "dns":
		s, err := o.jsonConfigStep()
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	vars = append(vars, argsVar)
	head := fmt.Sprintf("# Settings of zeitwork-%s.service, written by `zeitwork setup %s`.\n# Edit, then: systemctl restart zeitwork-%s\n", o.Role, o.Role, o.Role)
	p := envPath(o.Role)
	return append(steps, fileStep(p, 0o600, renderEnv(head, vars, false), renderEnv(head, vars, true))), nil
}

// pick is the flag's value, else the existing setting's.
func pick(flag string, old map[string]string, key string) string {
	if flag != "" {
		return flag
	}
	return old[key]
}

// hostVars are a node's or an edge's settings. A join token is needed
// until the host has enrolled (its credential is in its state directory).
func (o *Options) hostVars(old map[string]string) ([]envVar, error) {
	op := strings.TrimSuffix(pick(o.Operator, old, "ZEITWORK_OPERATOR"), "/")
	if op == "" {
		return nil, &Error{Msg: "--operator is required: the URL nodes and edges reach the operator's API at",
			Hint: "e.g. zeitwork setup " + o.Role + " --operator https://ctl.example.com:7070 --join-token zwj_..."}
	}
	if err := checkOperatorURL(op); err != nil {
		return nil, err
	}
	tok := pick(o.JoinToken, old, "ZEITWORK_JOIN_TOKEN")
	if tok == "" && !o.enrolled() {
		role := ""
		if o.Role == "edge" {
			role = " --role edge"
		}
		return nil, &Error{Msg: fmt.Sprintf("a join token is required: this %s has not enrolled yet", o.Role),
			Hint: "make one where the CLI is logged in as an administrator: zeitwork nodes join-token" + role + "; then pass it with --join-token"}
	}
	vars := []envVar{
		{Key: "ZEITWORK_OPERATOR", Value: op, Comment: "the operator's API URL"},
		{Key: "ZEITWORK_JOIN_TOKEN", Value: tok, Secret: true, Comment: "single-use; spent at the first start, after which the credential in " + stateDir(o.Role) + " is used"},
	}
	if o.Role == "node" {
		region := pick(o.Region, old, "ZEITWORK_REGION")
		if region == "" {
			region = "local"
		}
		vars = append(vars, envVar{Key: "ZEITWORK_REGION", Value: region, Comment: "this node's region"})
	}
	return vars, nil
}

// enrolled reports whether the node or edge below root has its credential.
func (o *Options) enrolled() bool {
	cred := stateDir("edge") + "/edge.json"
	if o.Role == "node" {
		cred = stateDir("node") + "/node/node.json"
	}
	_, err := os.Stat(o.hostPath(cred))
	return err == nil
}

// operatorVars are the operator's settings: its database URL and its seal
// key, made once and kept on every later run (losing it loses every
// encrypted env var and the CA's key). With LocalPostgres the returned
// steps make the database.
func (o *Options) operatorVars(old map[string]string) ([]envVar, []Step, error) {
	var steps []Step
	db := pick(o.DatabaseURL, old, "DATABASE_URL")
	if db == "" && o.LocalPostgres {
		pw, err := randomHex(16)
		if err != nil {
			return nil, nil, err
		}
		db = "postgres://zeitwork:" + pw + "@127.0.0.1:5432/zeitwork?sslmode=disable"
		steps = append(steps, postgresStep(pw))
	}
	if db == "" {
		return nil, nil, &Error{Msg: "the operator needs a PostgreSQL database",
			Hint: "pass --database-url postgres://user:password@host/db, or --local-postgres to install PostgreSQL on this host"}
	}
	key := old["ZEITWORK_SEAL_KEY"]
	if key == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		key = base64.StdEncoding.EncodeToString(b)
	}
	return []envVar{
		{Key: "DATABASE_URL", Value: db, Secret: true, Comment: "the operator's PostgreSQL"},
		{Key: "ZEITWORK_SEAL_KEY", Value: key, Secret: true, Comment: "encrypts env vars and the cluster CA's key: back it up; every operator of the installation needs the same"},
		{Key: "ZEITWORK_BUILDS", Value: strconv.FormatBool(o.builds()), Comment: "build Dockerfiles with buildah on this host"},
	}, steps, nil
}

// postgresStep makes the role and database zeitwork, if missing.
func postgresStep(pw string) Step {
	role := "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'zeitwork') THEN CREATE ROLE zeitwork LOGIN PASSWORD '%s'; END IF; END$$"
	db := "runuser -u postgres -- psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'zeitwork'\" | grep -q 1 || runuser -u postgres -- createdb -O zeitwork zeitwork"
	return Step{
		Title: "make the PostgreSQL role and database zeitwork",
		Run: [][]string{
			{"systemctl", "enable", "--now", "postgresql"},
			{"runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-c", fmt.Sprintf(role, pw)},
			{"sh", "-c", db},
		},
		ShownRun: []string{
			"systemctl enable --now postgresql",
			"runuser -u postgres -- psql -v ON_ERROR_STOP=1 -c \"" + fmt.Sprintf(role, "<new random password>") + "\"",
			"sh -c '" + db + "'",
		},
	}
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// jsonConfigStep installs the lb's or dns's JSON configuration from
// o.Config, checked first, or keeps the one already installed.
func (o *Options) jsonConfigStep() (Step, error) {
	dst := ConfigDir + "/" + o.Role + ".json"
	if o.Config == "" {
		if _, err := os.Stat(o.hostPath(dst)); err == nil {
			return Step{Title: "keep " + dst, Skip: "already there and no --config given"}, nil
		}
		return Step{}, &Error{Msg: fmt.Sprintf("zeitwork %s needs its JSON configuration: --config FILE", o.Role),
			Hint: "write one as in docs/operations.md (" + map[string]string{"lb": "\"Load balancer\"", "dns": "\"GeoDNS\""}[o.Role] + ") and pass it with --config; it is installed as " + dst}
	}
	b, err := os.ReadFile(o.Config)
	if err != nil {
		return Step{}, &Error{Msg: fmt.Sprintf("read --config: %v", err), Hint: "give the path of the role's JSON configuration"}
	}
	if err := checkJSONConfig(o.Role, o.Config, b); err != nil {
		return Step{}, &Error{Msg: fmt.Sprintf("%s: %v", o.Config, err), Hint: fmt.Sprintf("fix the file; `zeitwork %s --check --config %s` checks it", o.Role, o.Config)}
	}
	return fileStep(dst, 0o644, string(b), string(b)), nil
}

func checkJSONConfig(role, path string, b []byte) error {
	if role == "lb" {
		_, err := lb.ParseConfig(b)
		return err
	}
	_, err := geodns.LoadConfig(path)
	return err
}
