package lb

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"region":"eu","regions":[{"name":"us","edges":["10.2.0.5"]},{"name":"eu","edges":["10.1.0.5","fd00::5"]}],
		"balance":"least-conn","health":{"interval":"5s","http_path":"/"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listeners) != 2 || c.Listeners[1] != (Listener{":443", 443}) || c.Health.Interval != Duration(5*time.Second) ||
		c.Health.Rise != 2 || c.Health.Fall != 3 || !*c.ProxyProtocol || c.MaxConns != 10000 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	order := regionOrder(c)
	if order[0].Name != "eu" || order[1].Name != "us" {
		t.Fatalf("region order %v, want own region first", order)
	}
	l, err := New(c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Backends()[1].Addr; got != "[fd00::5]:80" {
		t.Fatalf("IPv6 edge address %q", got)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"unknown field", `{"region":"eu","regions":[{"name":"eu"}],"balanse":"x"}`, "unknown field"},
		{"own region missing", `{"region":"eu","regions":[{"name":"us"}]}`, `region "eu" is not among regions`},
		{"edge with port", `{"region":"eu","regions":[{"name":"eu","edges":["10.0.0.1:80"]}]}`, "without port"},
		{"edge twice", `{"region":"eu","regions":[{"name":"eu","edges":["a"]},{"name":"us","edges":["a"]}]}`, "listed twice"},
		{"bad balance", `{"region":"eu","regions":[{"name":"eu"}],"balance":"random"}`, `balance "random"`},
		{"bad port", `{"region":"eu","regions":[{"name":"eu"}],"listeners":[{"listen":":80","edge_port":70000}]}`, "not a port"},
		{"bad duration", `{"region":"eu","regions":[{"name":"eu"}],"idle_timeout":"soon"}`, "invalid duration"},
		{"negative", `{"region":"eu","regions":[{"name":"eu"}],"idle_timeout":"-1s"}`, "idle_timeout must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// FuzzParseConfig: any input is refused with an error or gives a valid
// configuration that reads back the same from its JSON.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"region":"eu","regions":[{"name":"eu","edges":["10.1.0.5"]},{"name":"us","edges":["::1"]}]}`))
	f.Add([]byte(`{"region":"a","regions":[{"name":"a"}],"listeners":[{"listen":"[::]:80","edge_port":8080}],"health":{"rise":1,"fall":1,"interval":"1ms"}}`))
	f.Add([]byte(`{"region":"a","regions":[{"name":"a","edges":["[::1]"]}],"max_conns":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config invalid: %v", err)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("config %s does not read back: %v", out, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("config changed on reading back:\n%+v\n%+v", c, c2)
		}
		if _, err := New(c, nil, nil); err != nil {
			t.Fatalf("valid config refused by New: %v", err)
		}
	})
}
