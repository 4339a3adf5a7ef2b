package scheduler

import (
	"reflect"
	"strings"
	"testing"
)

func nodes(spec ...string) []Node {
	// spec items are "region/id" for ready nodes, "region/id!" for down ones.
	var ns []Node
	for _, s := range spec {
		region, id, _ := strings.Cut(s, "/")
		ready := id[len(id)-1] != '!'
		if !ready {
			id = id[:len(id)-1]
		}
		ns = append(ns, Node{ID: id, Region: region, Ready: ready})
	}
	return ns
}

func running(id, dep, region, node string, healthy bool) Instance {
	return Instance{ID: id, DeploymentID: dep, Region: region, NodeID: node, Running: true, Healthy: healthy}
}

func TestSchedule(t *testing.T) {
	active := []Deployment{{ID: "d1", Active: true, MinPerRegion: 3}}
	tests := []struct {
		name  string
		state State
		want  Plan
	}{
		{
			name:  "one node gets all three",
			state: State{Nodes: nodes("local/n1"), Deployments: active},
			want: Plan{Place: []Placement{
				{"d1", "local", "n1"}, {"d1", "local", "n1"}, {"d1", "local", "n1"},
			}},
		},
		{
			name:  "spread over distinct nodes",
			state: State{Nodes: nodes("eu/n1", "eu/n2", "eu/n3"), Deployments: active},
			want: Plan{Place: []Placement{
				{"d1", "eu", "n1"}, {"d1", "eu", "n2"}, {"d1", "eu", "n3"},
			}},
		},
		{
			name: "spread prefers nodes without this deployment, then least loaded",
			state: State{
				Nodes:       nodes("eu/n1", "eu/n2", "eu/n3"),
				Deployments: []Deployment{{ID: "d0", Active: true, MinPerRegion: 1}, {ID: "d1", Active: true, MinPerRegion: 3}},
				Instances: []Instance{
					running("a", "d0", "eu", "n1", true),
					running("b", "d1", "eu", "n2", true),
				},
			},
			want: Plan{Place: []Placement{{"d1", "eu", "n3"}, {"d1", "eu", "n1"}}},
		},
		{
			name:  "three regions get three each",
			state: State{Nodes: nodes("a/n1", "b/n2", "c/n3"), Deployments: []Deployment{{ID: "d1", Active: true, MinPerRegion: 1}}},
			want:  Plan{Place: []Placement{{"d1", "a", "n1"}, {"d1", "b", "n2"}, {"d1", "c", "n3"}}},
		},
		{
			name: "satisfied deployment changes nothing",
			state: State{Nodes: nodes("local/n1"), Deployments: active, Instances: []Instance{
				running("a", "d1", "local", "n1", true), running("b", "d1", "local", "n1", false), running("c", "d1", "local", "n1", true),
			}},
			want: Plan{},
		},
		{
			name: "stopped instance is replaced",
			state: State{Nodes: nodes("local/n1"), Deployments: active, Instances: []Instance{
				running("a", "d1", "local", "n1", true), running("b", "d1", "local", "n1", true),
				{ID: "c", DeploymentID: "d1", Region: "local", NodeID: "n1", Running: false},
			}},
			want: Plan{Place: []Placement{{"d1", "local", "n1"}}},
		},
		{
			name: "dead node's instances move to the live node",
			state: State{Nodes: nodes("eu/n1", "eu/n2!"), Deployments: active, Instances: []Instance{
				running("a", "d1", "eu", "n1", true), running("b", "d1", "eu", "n2", true), running("c", "d1", "eu", "n2", true),
			}},
			want: Plan{
				Place: []Placement{{"d1", "eu", "n1"}, {"d1", "eu", "n1"}},
				Stop:  []Stop{{"b", "node n2 is down"}, {"c", "node n2 is down"}},
			},
		},
		{
			name:  "region without ready nodes gets no placement",
			state: State{Nodes: nodes("eu/n1!"), Deployments: active},
			want:  Plan{},
		},
		{
			name: "inactive deployment's instances stop",
			state: State{Nodes: nodes("local/n1"), Deployments: []Deployment{{ID: "d1", Active: false, MinPerRegion: 3}}, Instances: []Instance{
				running("a", "d1", "local", "n1", true),
			}},
			want: Plan{Stop: []Stop{{"a", "deployment is no longer active"}}},
		},
		{
			name: "draining deployment keeps its instances and gets no new ones",
			state: State{Nodes: nodes("local/n1"), Deployments: []Deployment{{ID: "d1", Draining: true, MinPerRegion: 3}}, Instances: []Instance{
				running("a", "d1", "local", "n1", true),
			}},
			want: Plan{},
		},
		{
			name: "surplus stops unhealthy first",
			state: State{Nodes: nodes("local/n1"), Deployments: []Deployment{{ID: "d1", Active: true, MinPerRegion: 1}}, Instances: []Instance{
				running("a", "d1", "local", "n1", false), running("b", "d1", "local", "n1", true),
			}},
			want: Plan{Stop: []Stop{{"a", "more instances than needed"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Schedule(tt.state)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Schedule() =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestReady(t *testing.T) {
	dep := []Deployment{{ID: "d1", Active: true, MinPerRegion: 2}}
	tests := []struct {
		name  string
		state State
		want  bool
	}{
		{"no instances", State{Nodes: nodes("a/n1"), Deployments: dep}, false},
		{"enough healthy", State{Nodes: nodes("a/n1"), Deployments: dep, Instances: []Instance{
			running("x", "d1", "a", "n1", true), running("y", "d1", "a", "n1", true)}}, true},
		{"one unhealthy", State{Nodes: nodes("a/n1"), Deployments: dep, Instances: []Instance{
			running("x", "d1", "a", "n1", true), running("y", "d1", "a", "n1", false)}}, false},
		{"second region missing", State{Nodes: nodes("a/n1", "b/n2"), Deployments: dep, Instances: []Instance{
			running("x", "d1", "a", "n1", true), running("y", "d1", "a", "n1", true)}}, false},
		{"healthy on a down node do not count", State{Nodes: nodes("a/n1!", "a/n2"), Deployments: dep, Instances: []Instance{
			running("x", "d1", "a", "n1", true), running("y", "d1", "a", "n2", true)}}, false},
		{"no ready region", State{Nodes: nodes("a/n1!"), Deployments: dep}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ready(tt.state, Schedule(tt.state), "d1"); got != tt.want {
				t.Errorf("Ready() = %v, want %v", got, tt.want)
			}
		})
	}
}

// A deployment scaled to zero gets no instances and has its running ones
// retired, then stopped after the drain; woken (Asleep false) it gets its
// minimum again.
func TestScheduleAsleep(t *testing.T) {
	asleep := State{
		Nodes:       nodes("eu/n1"),
		Deployments: []Deployment{{ID: "d1", Active: true, Asleep: true, MinPerRegion: 1}},
		Instances:   []Instance{running("a", "d1", "eu", "n1", true)},
	}
	if got, want := Schedule(asleep), (Plan{Retire: []string{"a"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("asleep: got %+v, want %+v", got, want)
	}
	asleep.Instances[0].Retiring = true
	if got := Schedule(asleep); !got.Empty() {
		t.Errorf("asleep, retiring: got %+v, want nothing until the drain passed", got)
	}
	asleep.Instances[0].Retired = true
	want := Plan{Stop: []Stop{{"a", "scaled to zero: no requests for the idle timeout"}}}
	if got := Schedule(asleep); !reflect.DeepEqual(got, want) {
		t.Errorf("asleep, retired: got %+v, want %+v", got, want)
	}
	asleep.Instances = nil
	if got := Schedule(asleep); !got.Empty() || len(got.Shortfalls) > 0 {
		t.Errorf("asleep without instances: got %+v, want nothing", got)
	}
	asleep.Deployments[0].Asleep = false
	if got := Schedule(asleep); len(got.Place) != 1 {
		t.Errorf("woken: got %+v, want one placement", got)
	}
}
