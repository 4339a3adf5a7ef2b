package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/node"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/vmm/qemu"
)

// NodeConfig describes one more node agent run by this process, with a VM
// network of its own (tests use several to play a fleet).
type NodeConfig struct {
	Region       string
	StateDir     string // default <platform state>/nodes/<NetName>
	NetName      string
	Subnet       netip.Prefix
	Transit      netip.Prefix
	TunnelListen string // default 127.0.0.1:0
}

// Node is a node agent with its VM network, driver and image cache.
type Node struct {
	p          *Platform
	cfg        NodeConfig
	deps       *NodeDeps
	tunnelAddr string

	mu     sync.Mutex
	agent  *node.Agent
	cancel context.CancelFunc
	done   chan struct{}
}

// AddNode prepares a node and starts its agent.
func (p *Platform) AddNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(p.cfg.StateDir, "nodes", cfg.NetName)
	}
	if cfg.TunnelListen == "" {
		cfg.TunnelListen = "127.0.0.1:0"
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	n := &Node{p: p, cfg: cfg}
	// Recorded before anything can fail, so that Shutdown cleans up a node
	// that was half set up.
	p.Nodes = append(p.Nodes, n)
	deps, err := PrepareNode(ctx, NodeOptions{
		StateDir: cfg.StateDir, KernelCache: p.cfg.KernelCache, NetName: cfg.NetName,
		Subnet: cfg.Subnet, Transit: cfg.Transit, DNS: p.cfg.DNS, AllowVMs: p.cfg.AllowVMs, Accel: p.cfg.Accel, Log: p.log,
	})
	n.deps = deps
	if err != nil {
		return nil, err
	}
	// The agent listens on the same address across restarts, as a real
	// node would, so edges keep reaching it.
	ln, err := net.Listen("tcp", cfg.TunnelListen)
	if err != nil {
		return nil, fmt.Errorf("tunnel listener: %w", err)
	}
	n.tunnelAddr = ln.Addr().String()
	ln.Close()
	return n, n.Start()
}

// ID is the node's ID at the operator (empty until it registered).
func (n *Node) ID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.agent == nil {
		return ""
	}
	return n.agent.NodeID()
}

// Driver is the node's current VM driver.
func (n *Node) Driver() *qemu.Driver { return n.deps.Driver }

// StateDir is where the node keeps its VMs, disks and records.
func (n *Node) StateDir() string { return n.cfg.StateDir }

// Start starts the node's agent (again, after Stop).
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel != nil {
		return errors.New("node agent already running")
	}
	// A new driver value, as a restarted agent process would have: it must
	// find the running VMs through Recover, not through memory.
	drv, err := qemu.New(qemu.Config{StateDir: filepath.Join(n.cfg.StateDir, "vms"), Log: n.p.log.With("role", "vmm"), Accel: n.deps.Driver.Accel()})
	if err != nil {
		return err
	}
	n.deps.Driver = drv
	ln, err := net.Listen("tcp", n.tunnelAddr)
	if err != nil {
		return fmt.Errorf("tunnel listener: %w", err)
	}
	// A fresh join token each start: an enrolled node registers again
	// with its own token and leaves it unused until it expires.
	jt, err := n.p.Operator.CreateJoinToken(context.Background(), pki.RoleNode, time.Hour, "zeitwork up")
	if err != nil {
		ln.Close()
		return err
	}
	a, err := node.New(node.Config{
		OperatorURL: n.p.APIURL, JoinToken: jt.Token, Region: n.cfg.Region,
		StateDir: filepath.Join(n.cfg.StateDir, "node"), TunnelListener: ln,
		Driver: drv, Kernel: n.deps.Kernel.Vmlinux, Initrd: n.deps.Kernel.Initrd,
		Network: n.deps.Network, Images: n.deps.Images, StartTimeout: n.p.cfg.StartTimeout,
		HeartbeatInterval: n.p.cfg.Heartbeat, UsageInterval: n.p.cfg.UsageInterval, LogLimits: n.p.cfg.LogLimits, Log: n.p.log.With("role", "node", "net", n.cfg.NetName),
		Metrics: n.p.nodeRegisterer(n.cfg.NetName), Templates: n.p.cfg.Templates,
	})
	if err != nil {
		ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ln.Close()
		if err := a.Run(ctx); err != nil && ctx.Err() == nil {
			n.p.log.Error("node agent stopped", "err", err)
		}
	}()
	n.agent, n.cancel, n.done = a, cancel, done
	return nil
}

// Stop stops the node's agent; its VMs keep running.
func (n *Node) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	n.cancel = nil
}

// destroy removes every VM, disk and record of the node and its network.
func (n *Node) destroy(ctx context.Context) error {
	if n.deps == nil {
		return nil
	}
	var errs []error
	if n.deps.Driver != nil {
		vms, err := n.deps.Driver.Recover(ctx)
		errs = append(errs, err)
		for _, vm := range vms {
			errs = append(errs, n.deps.Driver.Destroy(ctx, vm.ID))
		}
	}
	os.RemoveAll(filepath.Join(n.cfg.StateDir, "node", "disks"))
	os.RemoveAll(filepath.Join(n.cfg.StateDir, "node", "instances"))
	if n.deps.Network != nil {
		errs = append(errs, n.deps.Network.Teardown())
	}
	return errors.Join(errs...)
}

// WaitTemplates waits for the node's start-up VM templates (see
// node.Agent.WaitTemplates).
func (n *Node) WaitTemplates(ctx context.Context) error {
	n.mu.Lock()
	a := n.agent
	n.mu.Unlock()
	if a == nil {
		return errors.New("platform: the node's agent is not running")
	}
	return a.WaitTemplates(ctx)
}

// WaitTemplates waits until every node's start-up VM templates are built.
func (p *Platform) WaitTemplates(ctx context.Context) error {
	for _, n := range p.Nodes {
		if err := n.WaitTemplates(ctx); err != nil {
			return err
		}
	}
	return nil
}
